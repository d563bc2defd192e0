#!/usr/bin/env python3
"""LDAP benchmark: our server (``bohai serve``) against OpenLDAP slapd, same data, same requests, same run.

One command: ``.venv/bin/python bench/ldap.py`` (options: ``--seconds`` per window, ``--rounds`` of A B,
``--concurrency``). It creates a demo directory (15,404 offices) in a temporary SQLite file, starts ``bohai serve``
on a free port, writes our DIT (``directory.dit.entries``) as LDIF, loads it into slapd (Debian package) with
``slapadd`` (mdb, eq/sub indexes on the attributes used), starts slapd on 127.0.0.1, and then runs each query kind
on its own, alternating ours/slapd (A B A B), with ``--concurrency`` anonymous persistent connections in a closed
loop. Requests are BER-encoded before the timed windows; responses are only framed and counted (the approach of
``shared/bench/ldapbench.py``). It first checks that both servers return the same number of entries and result
codes for the first requests of every kind. Prints ONE JSON line: searches/s, p50/p99 per server and kind, ratios.

Each kind also gets a third, measured in the same rounds: ``replay``, a server that does no work at all. It answers
every request with the bytes our server sent for it, recorded before the windows, from a dict in another process. It
is the ceiling of any Python server on this machine with this load generator (they share the two cores), so it says
whether "1.5x slapd" can be shown here at all: ``goal_within_ceiling`` is false where 1.5 x slapd exceeds it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import pickle
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from directory import dit
from directory.ldap import client as lc
from directory.ldap import messages as m
from directory.ldap.filterstr import parse_filter
from directory.snapshot import Snapshot, build
from directory.store import open_store
from liaison.service import load_demo

BASE = "dc=bohai,dc=example"
MAX_SECONDS = 60.0
KINDS = ("prefix", "contains", "contains2", "contains3", "mail", "base", "onelevel")
SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
sizelimit 1000
threads 8
database mdb
maxsize 1073741824
suffix "{base}"
rootdn "cn=admin,{base}"
directory {dir}/db
index objectClass eq
index cn,sn,givenName,mail eq,sub
index uid eq
"""


# -- data and requests -----------------------------------------------------------------------------------------


def ldif_value(name: str, value: str) -> str:
    unsafe = not value.isascii() or value[:1] in (" ", ":", "<") or value.endswith(" ") or "\n" in value
    if unsafe:
        return f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
    return f"{name}: {value}"


def write_ldif(snap: Snapshot, path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for entry in dit.entries(snap, BASE):
            lines = [ldif_value("dn", entry.dn)]
            lines += [ldif_value(name, v) for name, values in entry.attrs.items() for v in values]
            f.write("\n".join(lines) + "\n\n")
            count += 1
    return count


@dataclass
class Request:
    kind: str
    base: str
    scope: int
    filter: str
    attrs: tuple[str, ...]
    size: int

    def encode(self) -> bytes:
        req = m.SearchRequest(self.base, self.scope, 0, self.size, 0, False, parse_filter(self.filter), self.attrs)
        return lc.encode_search(req)


def escape(v: str) -> str:
    return "".join(f"\\{ord(c):02x}" if c in "*()\\\0" else c for c in v)


def requests(snap: Snapshot, kind: str, n: int, seed: int) -> list[Request]:
    rng = random.Random(f"{seed}/{kind}")
    offices = sorted(snap.offices.values(), key=lambda o: o.region_code)
    dns = {e.attrs["uid"][0]: e.dn for o in offices for e in [dit.office_entry(snap, o, BASE)]}
    out = []
    for _ in range(n):
        o = rng.choice(offices)
        if kind == "prefix":  # Outlook's default filter (KDE's prefix filters look the same to an index)
            p = escape(rng.choice((o.contact_name[:1], o.contact_name[:2], o.unit_name[:2])))
            flt = f"(&(mail=*)(|(mail={p}*)(|(cn={p}*)(|(sn={p}*)(givenName={p}*)))))"
            out.append(Request(kind, BASE, 2, flt, ("cn", "mail", "telephoneNumber", "title"), 100))
        elif kind.startswith("contains"):  # Thunderbird's and Apple's autocomplete: 1, 2 or 3 Chinese characters
            width = int(kind[-1]) if kind[-1].isdigit() else 1
            name = o.contact_name if len(o.contact_name) >= width else o.unit_name
            at = rng.randrange(len(name) - width + 1)
            v = escape(name[at : at + width])
            flt = f"(|(cn=*{v}*)(mail=*{v}*)(givenName=*{v}*)(sn=*{v}*))"
            out.append(Request(kind, BASE, 2, flt, ("cn", "mail", "givenName", "sn", "street"), 100))
        elif kind == "onelevel":  # an address book browsing one region's children
            parent = dns[o.region_code].split(",", 1)[1]
            out.append(Request(kind, parent, 1, "(objectClass=*)", ("cn", "ou", "mail", "telephoneNumber"), 0))
        elif kind == "mail":  # Postfix
            out.append(Request(kind, BASE, 2, f"(mail={escape(o.email)})", ("mail",), 0))
        else:  # base read of one card
            out.append(Request(kind, dns[o.region_code], 0, "(objectClass=*)", (), 0))
    return out


# -- servers -----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ours(db_url: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "BOHAI_DATABASE_URL": db_url, "BOHAI_HTTP_ENABLED": "false", "BOHAI_SMTP_ENABLED": "false"}
    env |= {"BOHAI_LDAP_PORT": "0", "PYTHONUNBUFFERED": "1"}
    # The scraping limit ([ldap] entries_per_minute) would answer adminLimitExceeded once one client address read
    # its minute's budget; slapd has none, so it is off for a like-for-like comparison.
    env |= {"BOHAI_LDAP_ENTRIES_PER_MINUTE": "0"}
    cmd = [sys.executable, "-m", "liaison.cli", "serve"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = 0
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("bohai serve exited before ready")
        if line.startswith("ldap listening on"):
            port = int(line.strip().rsplit(":", 1)[1])
        if line.startswith("ready"):
            return proc, port
    proc.kill()
    raise SystemExit("bohai serve did not get ready")


def start_slapd(tmp: Path, ldif: Path) -> tuple[subprocess.Popen[bytes], int]:
    slapd, slapadd = shutil.which("slapd") or "/usr/sbin/slapd", shutil.which("slapadd") or "/usr/sbin/slapadd"
    (tmp / "db").mkdir()
    conf = tmp / "slapd.conf"
    conf.write_text(SLAPD_CONF.format(dir=tmp, base=BASE))
    subprocess.run([slapadd, "-q", "-f", str(conf), "-l", str(ldif)], check=True, capture_output=True, timeout=600)
    port = free_port()
    proc = subprocess.Popen(
        [slapd, "-d", "0", "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # bounded wait for the listener (slapd has no readiness signal)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("slapd exited at start") from None
            time.sleep(0.05)
    raise SystemExit("slapd did not start")


# -- load generator --------------------------------------------------------------------------------------------


def _frames(buf: bytearray) -> tuple[list[tuple[int, int]], int]:
    """(op tag, result code or -1) of each complete message, and the bytes consumed."""
    out, pos, n = [], 0, len(buf)
    while n - pos >= 2:
        first = buf[pos + 1]
        if first < 0x80:
            hdr, length = 2, first
        else:
            k = first & 0x7F
            if n - pos < 2 + k:
                break
            hdr, length = 2 + k, int.from_bytes(buf[pos + 2 : pos + 2 + k], "big")
        end = pos + hdr + length
        if end > n:
            break
        q = pos + hdr + 2 + buf[pos + hdr + 1]  # skip the messageID
        code = -1
        if buf[q] == m.SEARCH_DONE:
            ql = buf[q + 1]
            r = q + 2 if ql < 0x80 else q + 2 + (ql & 0x7F)
            code = buf[r + 2]
        out.append((buf[q], code))
        pos = end
    return out, pos


async def one_search(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pdu: bytes) -> tuple[int, int]:
    writer.write(pdu)
    buf = bytearray()
    entries = 0
    while True:
        data = await reader.read(262144)
        if not data:
            raise ConnectionError("server closed the connection")
        buf += data
        frames, used = _frames(buf)
        del buf[:used]
        for tag, code in frames:
            if tag == m.SEARCH_ENTRY:
                entries += 1
            elif tag == m.SEARCH_DONE:
                return entries, code


async def record(port: int, pdus: list[bytes]) -> dict[bytes, bytes]:
    """The raw bytes our server sends for each request, up to and including its SearchResultDone."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers: dict[bytes, bytes] = {}
    for pdu in pdus:
        writer.write(pdu)
        raw, buf, done = bytearray(), bytearray(), False
        while not done:
            data = await reader.read(262144)
            if not data:
                raise ConnectionError("server closed the connection")
            raw += data
            buf += data
            frames, used = _frames(buf)
            del buf[:used]
            done = any(tag == m.SEARCH_DONE for tag, _ in frames)
        answers[pdu] = bytes(raw)
    writer.close()
    return answers


class Replay(asyncio.Protocol):
    """Answers a bind with success and each search with its recorded bytes: a server doing no work."""

    BIND_OK = m.message(1, m.result(m.BIND_RESP, 0))

    def __init__(self, answers: dict[bytes, bytes]) -> None:
        self.answers, self.buf, self.transport = answers, bytearray(), None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 2:
            first = self.buf[1]
            if first < 0x80:
                end = 2 + first
            else:
                k = first & 0x7F
                end = 2 + k + int.from_bytes(self.buf[2 : 2 + k], "big")
            if end > len(self.buf):
                return
            pdu = bytes(self.buf[:end])
            del self.buf[:end]
            hdr = 2 if first < 0x80 else 2 + (first & 0x7F)
            tag = pdu[hdr + 2 + pdu[hdr + 1]]  # the operation follows the messageID
            if tag == m.BIND_REQ:
                self.transport.write(self.BIND_OK)  # type: ignore[attr-defined]
            elif tag == m.UNBIND_REQ:
                self.transport.close()  # type: ignore[attr-defined]
                return
            else:
                self.transport.write(self.answers[pdu])  # type: ignore[attr-defined]


def serve_replay(path: str) -> None:
    """``--serve-replay FILE``: serve the recorded answers on a free port, print it, run until terminated."""
    with open(path, "rb") as f:
        answers = pickle.load(f)

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: Replay(answers), "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(run())


def start_replay(answers: dict[bytes, bytes], tmp: Path) -> tuple[subprocess.Popen[str], int]:
    path = tmp / "replay.pickle"
    path.write_bytes(pickle.dumps(answers))
    cmd = [sys.executable, __file__, "--serve-replay", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        raise SystemExit("the replay server did not start")
    return proc, int(line)


async def client(
    port: int, reqs: list[bytes], start: int, until: float, lat: list[float], codes: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(lc.encode_message(1, lc.encode_bind()))
    await reader.read(1024)
    i = start
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        _, code = await one_search(reader, writer, reqs[i % len(reqs)])
        lat.append(time.perf_counter() - t0)
        codes[code] = codes.get(code, 0) + 1
        i += 1
    writer.write(lc.encode_message(2, bytes((m.UNBIND_REQ, 0))))
    writer.close()


async def window(port: int, ops: list[bytes], seconds: float, concurrency: int) -> tuple[list[float], dict[int, int]]:
    reqs = [lc.encode_message(7, op) for op in ops]
    lat: list[float] = []
    codes: dict[int, int] = {}
    until = time.perf_counter() + min(seconds, MAX_SECONDS)
    step = len(reqs) // concurrency
    await asyncio.gather(*(client(port, reqs, n * step, until, lat, codes) for n in range(concurrency)))
    return lat, codes


async def agree(ours: int, slapd: int, reqs: list[Request], n: int) -> float:
    same = 0
    for req in reqs[:n]:
        pdu = lc.encode_message(7, req.encode())
        results = []
        for port in (ours, slapd):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            results.append(await one_search(reader, writer, pdu))
            writer.close()
        same += results[0] == results[1]
    return same / n


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2) if s else 0.0


# -- main ------------------------------------------------------------------------------------------------------


async def measure_kind(
    args: argparse.Namespace, kind: str, snap: Snapshot, ports: dict[str, int], tmp: Path
) -> dict[str, object]:
    reqs = requests(snap, kind, args.pool, args.seed)
    ops = [r.encode() for r in reqs]
    agreement = await agree(ports["ours"], ports["slapd"], reqs, 20)
    replay_proc, ports["replay"] = start_replay(
        await record(ports["ours"], [lc.encode_message(7, op) for op in ops]), tmp
    )
    try:
        for port in ports.values():  # unmeasured warm-up of caches on every side
            await window(port, ops, args.warmup, args.concurrency)
        lat: dict[str, list[float]] = {name: [] for name in ports}
        codes: dict[str, dict[int, int]] = {name: {} for name in ports}
        for _ in range(args.rounds):  # A B C A B C
            for name, port in ports.items():
                got, c = await window(port, ops, args.seconds, args.concurrency)
                lat[name] += got
                for k, v in c.items():
                    codes[name][k] = codes[name].get(k, 0) + v
    finally:
        replay_proc.terminate()
        replay_proc.wait(30)
    seconds = args.seconds * args.rounds
    out: dict[str, dict[str, object]] = {
        name: {
            "searches_per_s": round(len(lat[name]) / seconds, 1),
            "p50_ms": pct(lat[name], 0.5),
            "p99_ms": pct(lat[name], 0.99),
            "result_codes": codes[name],
        }
        for name in ports
    }
    rate = {name: float(out[name]["searches_per_s"]) for name in ports}  # type: ignore[arg-type]
    return {
        **out,
        "ratio_ours_to_slapd": round(rate["ours"] / max(rate["slapd"], 0.1), 2),
        "ratio_replay_to_slapd": round(rate["replay"] / max(rate["slapd"], 0.1), 2),
        "goal_within_ceiling": rate["replay"] >= 1.5 * rate["slapd"],
        "same_answers_first_20": agreement,
    }


async def measure(args: argparse.Namespace, snap: Snapshot, ours: int, slapd: int, tmp: Path) -> dict[str, object]:
    result: dict[str, object] = {}
    for kind in args.kinds.split(","):
        result[kind] = await measure_kind(args, kind, snap, {"ours": ours, "slapd": slapd}, tmp)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one measured window")
    ap.add_argument("--rounds", type=int, default=2, help="A B rounds per query kind")
    ap.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per server and kind first")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--pool", type=int, default=2000, help="distinct requests per kind")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    ap.add_argument("--serve-replay", metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_replay:
        serve_replay(args.serve_replay)
        return 0
    with tempfile.TemporaryDirectory(prefix="bohai-ldapbench-") as tmpdir:
        tmp = Path(tmpdir)
        db_url = f"sqlite:///{tmp / 'bohai.sqlite3'}"
        store = open_store(db_url)
        load_demo(store)
        snap = build(*store.load_all())
        store.close()
        entries = write_ldif(snap, tmp / "dit.ldif")
        ours_proc, ours = start_ours(db_url)
        slapd_proc, slapd = start_slapd(tmp, tmp / "dit.ldif")
        try:
            kinds = asyncio.run(measure(args, snap, ours, slapd, tmp))
        finally:
            for proc in (ours_proc, slapd_proc):
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    line = {
        "bench": "ldap",
        "reference": "OpenLDAP slapd (mdb, eq/sub indexes) with the same LDIF, same requests, same run",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_implementation()} "
        + platform.python_version(),
        "entries": entries,
        "concurrency": args.concurrency,
        "seconds_per_window": args.seconds,
        "rounds": args.rounds,
        "warmup_seconds": args.warmup,
        "kinds": kinds,
    }
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
