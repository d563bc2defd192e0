#!/usr/bin/env python3
"""Publish benchmark: ``directory.sync.publish`` into a real slapd against ``ldapadd`` of the same LDIF, same run.

One command: ``.venv/bin/python bench/publish.py``. It creates the demo directory (15,404 offices, the ten regions)
in a temporary SQLite file, starts slapd (Debian package; mdb, root DN with a password) on 127.0.0.1, and then:

1. full publish of every office into an empty ``ou=published<i>`` (the code ``bohai publish --full`` runs, the
   paged read of the empty target included) — entries/s;
2. ``ldapadd`` (OpenLDAP's C client) of the same entries, as LDIF written beforehand, into an empty
   ``ou=ldapadd<i>`` — entries/s; 1 and 2 alternate for ``ROUNDS`` rounds; the goal is ours ≥ 0.5× ldapadd;
3. 10 offices edited, the Snapshot patched, and an incremental publish (change log → read of the 10 entries →
   10 modifies) — seconds; the goal is under 2 s.

Prints ONE JSON line.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from directory.snapshot import Snapshot, SnapshotHolder
from directory.store import open_store
from directory.sync import publish, shapes
from directory.sync.targets import PublishTarget
from directory.validate import OfficeData
from liaison.service import load_demo

SUFFIX = "dc=bench,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
PASSWORD = "bench-secret"
SOURCE_BASE = "dc=bohai,dc=example"
ROUNDS = 2  # ours and ldapadd alternate (A B A B), each into an empty OU of its own
CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 1073741824
dbnosync
suffix "{suffix}"
rootdn "{root}"
rootpw {password}
directory {dir}/db
index objectClass,uid eq
"""
SEED = f"""\
dn: {SUFFIX}
objectClass: top
objectClass: dcObject
objectClass: organization
o: bench
dc: bench

""" + "".join(
    f"\ndn: ou={name}{i},{SUFFIX}\nobjectClass: organizationalUnit\nou: {name}{i}\n"
    for i in range(ROUNDS)
    for name in ("published", "ldapadd")
)


def ldif_value(name: str, value: str) -> str:
    if not value.isascii() or value[:1] in (" ", ":", "<") or value.endswith(" ") or "\n" in value:
        return f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
    return f"{name}: {value}"


def start_slapd(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    slapd, slapadd = shutil.which("slapd") or "/usr/sbin/slapd", shutil.which("slapadd") or "/usr/sbin/slapadd"
    (tmp / "db").mkdir()
    conf = tmp / "slapd.conf"
    conf.write_text(CONF.format(dir=tmp, suffix=SUFFIX, root=ROOT_DN, password=PASSWORD))
    (tmp / "seed.ldif").write_text(SEED)
    subprocess.run([slapadd, "-q", "-f", str(conf), "-l", str(tmp / "seed.ldif")], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"ldap://127.0.0.1:{port}"
    proc = subprocess.Popen([slapd, "-d", "32768", "-f", str(conf), "-h", f"{url}/"], stderr=subprocess.PIPE)
    ready, started, log = threading.Event(), threading.Event(), []

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if b"slapd starting" in line:
                started.set()
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(60) or not started.is_set():
        proc.kill()
        raise SystemExit("slapd did not start: " + b"".join(log[-5:]).decode(errors="replace"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # "slapd starting" comes just before listen(): wait for the listener
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.01)
    raise SystemExit("slapd did not listen")


def job_for(url: str, password_file: Path, i: int) -> publish.Job:
    base = f"ou=published{i},{SUFFIX}"
    target = PublishTarget(url=url, bind_dn=ROOT_DN, password_file=str(password_file), base_dn=base)
    return publish.Job(f"bench{i}", target, SOURCE_BASE)


def run_ldapadd(snap: Snapshot, url: str, tmp: Path, i: int) -> float:
    """Seconds ``ldapadd`` takes to add the same entries (written as LDIF beforehand) into ``ou=ldapadd<i>``."""
    lines = []
    for office in snap.offices.values():
        e = shapes.openldap_entry(snap, office, f"ou=ldapadd{i},{SUFFIX}")
        values = (ldif_value(k, v) for k, vs in e.attrs.items() for v in vs)
        lines.append("\n".join([ldif_value("dn", e.dn), *values]))
    (tmp / "add.ldif").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    ldapadd = shutil.which("ldapadd") or "/usr/bin/ldapadd"
    t0 = time.perf_counter()
    args = [ldapadd, "-x", "-H", url, "-D", ROOT_DN, "-w", PASSWORD, "-f", str(tmp / "add.ldif")]
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bohai-publishbench-") as tmpdir:
        tmp = Path(tmpdir)
        store = open_store(f"sqlite:///{tmp / 'bohai.sqlite3'}")
        load_demo(store)
        holder = SnapshotHolder(store)
        snap = holder.current
        proc, url = start_slapd(tmp)
        try:
            (tmp / "pw").write_text(PASSWORD)
            ours_s: list[float] = []
            ldapadd_s: list[float] = []
            for i in range(ROUNDS):
                job = job_for(url, tmp / "pw", i)
                t0 = time.perf_counter()
                plan = publish.run(store, snap, job, publish.Options(full=True))
                ours_s.append(time.perf_counter() - t0)
                entries = len(plan.adds)
                ldapadd_s.append(run_ldapadd(snap, url, tmp, i))
            codes = sorted(snap.offices)[:: len(snap.offices) // 10][:10]
            items = [OfficeData(c, snap.offices[c].unit_name, contact_name=f"测试{i}") for i, c in enumerate(codes)]
            store.upsert_offices(items, "bench")
            t0 = time.perf_counter()
            holder.refresh_sync()
            patch_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            inc = publish.run(store, holder.current, job, publish.Options())
            inc_s = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(30)
            store.close()
    ours_rate, ldapadd_rate = entries * ROUNDS / sum(ours_s), entries * ROUNDS / sum(ldapadd_s)
    line = {
        "bench": "publish",
        "reference": "ldapadd (OpenLDAP C client) of the same entries as LDIF into the same slapd, same run",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_implementation()} "
        + platform.python_version(),
        "entries": entries,
        "full_publish_entries_per_s": round(ours_rate, 1),
        "ldapadd_entries_per_s": round(ldapadd_rate, 1),
        "ratio_to_ldapadd": round(ours_rate / ldapadd_rate, 3),
        "rounds_s": {"ours": [round(x, 2) for x in ours_s], "ldapadd": [round(x, 2) for x in ldapadd_s]},
        "goal_ratio": 0.5,
        "incremental_10_edits_s": round(inc_s, 3),
        "incremental_modifies": len(inc.modifies),
        "snapshot_patch_s": round(patch_s, 3),
        "goal_incremental_s": 2.0,
    }
    print(json.dumps(line, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
