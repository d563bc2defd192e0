#!/usr/bin/env python3
"""Hostile input against the running service: how long ``/healthz`` takes while each attack runs.

Run: ``.venv/bin/python bench/abuse.py`` (options: ``--window`` seconds per attack, ``--baseline`` seconds). It
starts ``bohai serve --demo`` as a subprocess on a new SQLite database in a temporary folder, every face on
127.0.0.1 port 0, with the default settings except ``[liaison] transport = null`` (forwards of role mail go nowhere
instead of to a relay on port 25). Then it adds one admin account and gives one office a street of 300 ``a`` (what
a backtracking substring matcher chokes on), and runs a baseline without attack followed by each attack for
``--window`` seconds, all traffic to 127.0.0.1:

- ``ldap_huge_or_filter``: OR filters of substring terms just within the term and byte limits (and some just over
  them), from several ldap3 connections;
- ``ldap_backtracking_substring``: ``(street=*a*a*…*a*b)`` with as many pieces as the term limit allows;
- ``ldap_parallel_wrong_binds``: hundreds of connections from one client address binding with wrong passwords;
- ``web_parallel_wrong_logins``: parallel ``POST /login`` with wrong passwords (argon2) from a few addresses;
- ``ldap_paged_state``: paged searches (sorted and in DIT order) from many connections, each opening more result
  sets than it may keep; the server's RSS before, with the sets open, and after (this one runs 1.5 windows);
- ``smtp_idle_sessions_and_role_mail``: idle SMTP sessions beyond the session limits, then mail to role addresses
  with more recipients than allowed, from many senders (forward quotas);
- ``xlsx_blank_rows_upload``: uploads of a workbook without ``<dimension>`` that describes 2,000,000 blank rows.

Meanwhile a separate process (so that the attacker in this one cannot starve it) asks ``GET /healthz`` on a new
connection every 10 ms and records each latency. Prints ONE JSON line: per attack what was sent, how the server
answered (LDAP result codes, HTTP statuses, SMTP replies), the probes' p50/p99/max and count, and whether p99 met the
goal of 100 ms. Everything it started (the service, the prober, connections, the temporary folder) is stopped and
removed at the end. ldap3 is the client for searches; the binds go over asyncio with ``directory.ldap.client``'s
encoders, because ldap3 would need one thread per parallel connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import itertools
import json
import math
import os
import platform
import random
import re
import resource
import select
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import aiosmtplib
import ldap3
from ldap3.core.exceptions import LDAPException

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directory import accounts  # noqa: E402
from directory.ldap import client as lc  # noqa: E402
from directory.ldap import filtertree as ft  # noqa: E402
from directory.ldap import messages as m  # noqa: E402
from directory.ldap.ber import children, dec_int, frame_size, read_tlv  # noqa: E402
from directory.ldap.controlvalues import SortKey  # noqa: E402
from directory.ldap.filterstr import parse_filter  # noqa: E402
from directory.validate import OfficeData  # noqa: E402
from liaison.database import open_store  # noqa: E402
from liaison.settings import LiaisonSettings  # noqa: E402

T = TypeVar("T")
BASE = "dc=bohai,dc=example"
GOAL_P99_MS = 100.0
WINDOW_S = 10.0  # seconds each attack runs
BASELINE_S = 5.0
GRACE_S = 2.0  # a request still unanswered this long after the window gives up (the client hangs up)
SETTLE_S = 1.0  # pause between two attacks
READY_TIMEOUT_S = 150.0
PROBE_PAUSE_S = 0.010
PROBE_TIMEOUT_S = 10.0
MAX_PROBES = 3000  # per window
ADMIN, ADMIN_PASSWORD = "bench-admin", "bench-admin-password"
ADMIN_SOURCE = "127.0.0.200"
LONG_STREET_CODE = "130102000000"
LONG_STREET = "a" * 300  # the longest address an office may have
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')
CODE_NAMES = {
    0: "success",
    3: "timeLimitExceeded",
    4: "sizeLimitExceeded",
    11: "adminLimitExceeded",
    49: "invalidCredentials",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}


def code_name(code: int) -> str:
    return f"{code} {CODE_NAMES.get(code, '')}".strip()


def counts(tally: Counter[str]) -> dict[str, int]:
    return dict(sorted(tally.items()))


# -- the prober (a process of its own) -----------------------------------------------------------------------------


def probe_main(url: str) -> int:
    """Probe loop of the prober process: on ``go`` ask /healthz every PROBE_PAUSE_S until ``stop``, then print the
    latencies as one JSON line; ``quit`` (or EOF) ends it."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    while True:
        command = sys.stdin.readline().strip()
        if command != "go":
            return 0
        times: list[float] = []
        statuses: Counter[str] = Counter()
        while True:
            ready, _, _ = select.select([sys.stdin], [], [], PROBE_PAUSE_S)
            if ready:
                sys.stdin.readline()  # "stop"
                break
            if len(times) >= MAX_PROBES:
                continue
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT_S)
                conn.request("GET", "/healthz", headers={"Connection": "close"})
                response = conn.getresponse()
                response.read()
                statuses[str(response.status)] += 1
                conn.close()
            except (OSError, http.client.HTTPException) as exc:
                statuses[type(exc).__name__] += 1
            times.append(time.perf_counter() - started)
        print(json.dumps({"times": times, "statuses": statuses}), flush=True)


class Prober:
    """The prober process, told over its stdin when a window starts and ends."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--probe", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _say(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def start(self) -> None:
        self._say("go")

    def stop(self) -> dict[str, Any]:
        self._say("stop")
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the prober exited")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._say("quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def summary(probes: dict[str, Any]) -> dict[str, Any]:
    ms = sorted(t * 1000 for t in probes["times"])
    if not ms:
        return {"probes": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "statuses": probes["statuses"]}
    return {
        "probes": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2),
        "statuses": dict(sorted(probes["statuses"].items())),
    }


# -- the service ---------------------------------------------------------------------------------------------------


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    log: Path
    db_url: str
    urls: dict[str, str] = field(default_factory=dict)
    ready_s: float = 0.0

    def port(self, face: str) -> int:
        return int(self.urls[face].rsplit(":", 1)[1])

    def status_mb(self, key: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_service(tmp: Path) -> Service:
    """``bohai serve --demo`` on a new database; its output goes to a file (a pipe nobody reads would fill up with
    the log lines of thousands of refused logins and stall the server)."""
    db_url = f"sqlite:///{tmp / 'bohai.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOHAI_")}
    env |= {
        "BOHAI_DATABASE_URL": db_url,
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_LDAP_PORT": "0",
        "BOHAI_SMTP_PORT": "0",
        "BOHAI_LIAISON_TRANSPORT": "null",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp / "serve.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "liaison.cli", "serve", "--demo"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    service = Service(proc, log, db_url)
    try:
        while time.perf_counter() - started < READY_TIMEOUT_S:
            text = log.read_text("utf-8", "replace")
            if any(line.startswith("ready") for line in text.splitlines()):
                for found in re.finditer(r"^(\w+) listening on (\S+)$", text, re.M):
                    service.urls[found[1]] = found[2]
                service.ready_s = round(time.perf_counter() - started, 1)
                return service
            if proc.poll() is not None:
                raise SystemExit(f"bohai serve exited before ready:\n{text[-3000:]}")
            time.sleep(0.1)
        raise SystemExit(f"bohai serve not ready after {READY_TIMEOUT_S:.0f} s")
    except BaseException:
        service.stop()
        raise


@dataclass
class Setup:
    roles: list[str]  # role addresses of offices with e-mail
    generation: int


def prepare(service: Service) -> Setup:
    """What the attacks need in the database: an admin account, a long street, the role addresses."""
    store = open_store(service.db_url)
    try:
        accounts.add_user(store, ADMIN, ADMIN_PASSWORD, "admin", None, "bench")
        office = store.get_office(LONG_STREET_CODE)
        assert office is not None, LONG_STREET_CODE
        values = {f.name: office[f.name] for f in dataclasses.fields(OfficeData) if f.name in office}
        store.save_office(OfficeData(**{**values, "address": LONG_STREET}), "bench", expected_version=office["version"])
        _, offices, _, _ = store.load_all()
        domain = LiaisonSettings().domain
        roles = [f"{o['region_code']}@{domain}" for o in offices if o["email"]][:200]
        return Setup(roles, store.generation())
    finally:
        store.close()


def wait_for_generation(url: str, generation: int) -> None:
    """Until the service serves the edits of ``prepare`` (its Snapshot polls the database)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            parts = urllib.parse.urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=5)
            conn.request("GET", "/healthz")
            if json.loads(conn.getresponse().read())["generation"] >= generation:
                return
        time.sleep(0.2)
    raise SystemExit("the service did not pick up the prepared data")


# -- measurement ---------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """What an attack sent and how the server answered (free-form, per attack)."""

    sent: dict[str, Any]
    answers: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Window:
    """The probed stretch of one attack: ``async with window.open() as deadline`` around the attack itself, so that
    preparing and cleaning up are not measured."""

    prober: Prober
    service: Service
    seconds: float
    probes: dict[str, Any] | None = None
    started_utc: str = ""
    took: float = 0.0
    rss_mb: dict[str, float] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[float]:
        self.rss_mb["before"] = self.service.status_mb("VmRSS")
        self.prober.start()
        self.started_utc = time.strftime("%H:%M:%S", time.gmtime())
        started = time.perf_counter()
        try:
            yield time.monotonic() + self.seconds
        finally:
            self.took = time.perf_counter() - started
            self.probes = await asyncio.to_thread(self.prober.stop)
            self.rss_mb["after"] = self.service.status_mb("VmRSS")


@dataclass
class Context:
    service: Service
    setup: Setup
    rng: random.Random


Attack = Callable[[Context, Window], Awaitable[Figures]]


async def measure(name: str, attack: Attack, ctx: Context, prober: Prober, seconds: float) -> dict[str, Any]:
    window = Window(prober, ctx.service, seconds)
    error = None
    try:
        figures = await attack(ctx, window)
    except Exception as exc:  # reported in the figures; the other attacks still run
        figures = Figures({}, {})
        error = f"{type(exc).__name__}: {exc}"
    health = summary(window.probes) if window.probes is not None else None
    p99 = health["p99_ms"] if health else None
    out: dict[str, Any] = {"attack": name, "started_utc": window.started_utc, "seconds": round(window.took, 1)}
    out["sent"] = figures.sent
    out["answers"] = figures.answers
    out |= figures.extra
    out |= {"healthz": health, "goal_p99_ms": GOAL_P99_MS, "met": p99 is not None and p99 < GOAL_P99_MS}
    out["server_rss_mb"] = window.rss_mb
    if error:
        out["error"] = error
    return out


async def in_threads(n: int, fn: Callable[[int], T]) -> list[T]:
    """``fn(0)`` … ``fn(n - 1)``, each in a thread of its own (blocking clients such as ldap3)."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="attacker") as pool:
        return list(await asyncio.gather(*(loop.run_in_executor(pool, fn, i) for i in range(n))))


def left(deadline: float) -> float:
    """Seconds a request started now may wait for its answer."""
    return max(0.2, deadline + GRACE_S - time.monotonic())


# -- attacks -------------------------------------------------------------------------------------------------------


async def baseline(ctx: Context, window: Window) -> Figures:
    async with window.open() as deadline:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    return Figures({"nothing": True}, {})


def _ldap3(port: int) -> Any:
    """An anonymous ldap3 connection; each request sets its socket's timeout to what is left of the window (ldap3
    takes only whole seconds for its own receive_timeout)."""
    server = ldap3.Server("127.0.0.1", port, get_info=ldap3.NONE)
    return ldap3.Connection(server, auto_bind=True, receive_timeout=30)


def _terms(f: ft.Filter) -> int:
    """The filter's elements as the server's decoder counts them: each and/or/not and assertion, and each piece of
    a substring assertion (its first piece being the assertion itself)."""
    if isinstance(f, ft.And | ft.Or):
        return 1 + sum(_terms(i) for i in f.items)
    if isinstance(f, ft.Not):
        return 1 + _terms(f.item)
    if isinstance(f, ft.Substrings):
        return max(1, (f.initial is not None) + len(f.any) + (f.final is not None))
    return 1


def _encoded_filter(text: str) -> dict[str, int]:
    """Bytes of the filter's BER encoding and its elements as the server counts them."""
    f = parse_filter(text)
    return {"bytes": len(lc.encode_filter(f)), "terms": _terms(f)}


def _search_worker(
    port: int, plan: list[tuple[str, str]], deadline: float, offset: int
) -> tuple[Counter[str], dict[str, list[float]]]:
    """One ldap3 connection sending the filters of ``plan`` in turn until the deadline; answers per kind."""
    tally: Counter[str] = Counter()
    took: dict[str, list[float]] = {}
    conn = _ldap3(port)
    try:
        for i in itertools.count(offset):
            if time.monotonic() >= deadline:
                break
            kind, text = plan[i % len(plan)]
            conn.socket.settimeout(left(deadline))
            started = time.perf_counter()
            try:
                conn.search(BASE, text, attributes=ldap3.NO_ATTRIBUTES)
            except LDAPException as exc:  # no answer by the end of the window: hang up, as an impatient client does
                tally[f"{kind}: unanswered at the end (client hung up): {type(exc).__name__}"] += 1
                return tally, took
            took.setdefault(kind, []).append(time.perf_counter() - started)
            tally[f"{kind}: {code_name(int(conn.result['result']))}"] += 1
    finally:
        with contextlib.suppress(LDAPException, OSError):
            conn.unbind()
    return tally, took


async def _search_attack(
    ctx: Context, window: Window, plan: list[tuple[str, str]], connections: int
) -> tuple[Counter[str], dict[str, list[float]]]:
    port = ctx.service.port("ldap")
    async with window.open() as deadline:
        results = await in_threads(connections, lambda n: _search_worker(port, plan, deadline, n))
    tally: Counter[str] = Counter()
    took: dict[str, list[float]] = {}
    for t, d in results:
        tally += t
        for kind, values in d.items():
            took.setdefault(kind, []).extend(values)
    return tally, took


def _slowest(took: dict[str, list[float]]) -> dict[str, float]:
    return {kind: round(max(values), 2) for kind, values in sorted(took.items())}


OR_ATTRS = ("cn", "street", "description", "o", "title", "givenName", "mail", "sn", "l", "postalAddress")


def _or_of_substrings(rng: random.Random, terms: int, piece: int) -> str:
    letters = string.ascii_lowercase
    parts = (f"({OR_ATTRS[i % len(OR_ATTRS)]}=*{''.join(rng.choices(letters, k=piece))}*)" for i in range(terms))
    return "(|" + "".join(parts) + ")"


async def ldap_huge_or_filter(ctx: Context, window: Window) -> Figures:
    """Four connections send OR filters of 255 substring terms (256 elements, the limit) of ~62 KB (the limit is
    64 KiB), none of which matches, and now and then one just over the term or the byte limit."""
    rng = ctx.rng
    kinds = {
        "or_255_terms_within_limits": [_or_of_substrings(rng, 255, 230) for _ in range(4)],
        "or_300_terms_over_term_limit": [_or_of_substrings(rng, 300, 8)],
        "or_250_terms_over_byte_limit": [_or_of_substrings(rng, 250, 275)],
    }
    within = kinds["or_255_terms_within_limits"]
    plan = [("or_255_terms_within_limits", f) for f in within]
    plan.insert(2, ("or_300_terms_over_term_limit", kinds["or_300_terms_over_term_limit"][0]))
    plan.append(("or_250_terms_over_byte_limit", kinds["or_250_terms_over_byte_limit"][0]))
    shape = {kind: _encoded_filter(f[0]) for kind, f in kinds.items()}
    tally, took = await _search_attack(ctx, window, plan, 4)
    sent = {"ldap3_connections": 4, "filters": shape, "searches": sum(tally.values())}
    return Figures(sent, counts(tally), {"slowest_answer_s": _slowest(took)})


async def ldap_backtracking_substring(ctx: Context, window: Window) -> Figures:
    """``(street=*a*a*…*a*b)`` with 254 ``a`` (255 pieces, within the term limit) against a street of 300 ``a``,
    and the 10-piece form, from four connections."""
    long_filter = "(street=" + "*a" * 254 + "*b)"
    short_filter = "(street=" + "*a" * 10 + "*b)"
    plan = [("street_254_pieces", long_filter), ("street_254_pieces", long_filter), ("street_10_pieces", short_filter)]
    tally, took = await _search_attack(ctx, window, plan, 4)
    filters = {"street_254_pieces": _encoded_filter(long_filter), "street_10_pieces": _encoded_filter(short_filter)}
    sent = {"ldap3_connections": 4, "filters": filters, "searches": sum(tally.values())}
    return Figures(sent, counts(tally), {"slowest_answer_s": _slowest(took)})


def _result_code(pdu: bytes) -> int:
    """The resultCode of an LDAPResult response (bind, search done, extended)."""
    _, s, e = read_tlv(pdu, 0, len(pdu))
    _, os_, oe = children(pdu, s, e)[1]
    _, cs, ce = read_tlv(pdu, os_, oe)
    return dec_int(pdu, cs, ce)


async def _read_pdu(reader: asyncio.StreamReader, buf: bytearray, timeout: float) -> bytes:
    while True:
        size = frame_size(buf, 1 << 20)
        if size is not None:
            pdu = bytes(buf[:size])
            del buf[:size]
            return pdu
        data = await asyncio.wait_for(reader.read(65536), timeout)
        if not data:
            raise ConnectionError("closed by the server")
        buf += data


BIND_CONNECTIONS = 200
BIND_SOURCE = "127.0.0.2"


async def ldap_parallel_wrong_binds(ctx: Context, window: Window) -> Figures:
    """200 connections from one address (127.0.0.2), each binding again and again as a new account name
    (``uid=guess-N,ou=accounts,…``: password spraying) with a wrong password."""
    port = ctx.service.port("ldap")
    names = itertools.count()
    tally: Counter[str] = Counter()
    slowest: dict[str, float] = {}
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float) -> None:
        buf = bytearray()
        for msgid in itertools.count(1):
            if time.monotonic() >= deadline:
                return
            dn = f"uid=guess-{next(names)},ou=accounts,{BASE}"
            writer.write(lc.encode_message(msgid, lc.encode_bind(dn, "wrong-password")))
            started = time.perf_counter()
            try:
                code = _result_code(await _read_pdu(reader, buf, left(deadline)))
            except (TimeoutError, ConnectionError) as exc:
                tally[f"unanswered at the end (client hung up): {type(exc).__name__}"] += 1
                return
            name = code_name(code)
            tally[name] += 1
            slowest[name] = max(slowest.get(name, 0.0), time.perf_counter() - started)

    try:
        for _ in range(BIND_CONNECTIONS):
            conns.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(BIND_SOURCE, 0)))
        async with window.open() as deadline:
            await asyncio.gather(*(worker(r, w, deadline) for r, w in conns))
    finally:
        for _, writer in conns:
            writer.close()
    sent = {"connections": BIND_CONNECTIONS, "client_address": BIND_SOURCE, "binds": sum(tally.values())}
    extra = {"slowest_answer_s": {k: round(v, 2) for k, v in sorted(slowest.items())}}
    return Figures(sent, counts(tally), extra)


LOGIN_WORKERS = 32
LOGIN_SOURCES = [f"127.0.0.{10 + i}" for i in range(16)]


async def _session(source: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), limit=4)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _csrf(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as page:
        found = CSRF_RE.search(await page.text())
    if not found:
        raise RuntimeError(f"no CSRF field on {url}")
    return found[1]


async def web_parallel_wrong_logins(ctx: Context, window: Window) -> Figures:
    """32 browser sessions over 16 client addresses post wrong passwords for fresh account names as fast as they
    are answered; each wrong name costs an argon2 check (against a dummy hash) unless throttled or refused busy."""
    url = ctx.service.urls["http"]
    sessions = [await _session(LOGIN_SOURCES[i % len(LOGIN_SOURCES)]) for i in range(LOGIN_WORKERS)]
    names = itertools.count()
    tally: Counter[str] = Counter()
    slowest: dict[str, float] = {}

    async def worker(session: aiohttp.ClientSession, token: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            form = {"username": f"nobody-{next(names)}", "password": "wrong-password", "csrf": token}
            started = time.perf_counter()
            try:
                timeout = aiohttp.ClientTimeout(total=left(deadline))
                async with session.post(url + "/login", data=form, allow_redirects=False, timeout=timeout) as r:
                    await r.read()
                    status = str(r.status)
            except (TimeoutError, aiohttp.ClientError) as exc:
                tally[f"unanswered at the end (client hung up): {type(exc).__name__}"] += 1
                return
            tally[status] += 1
            slowest[status] = max(slowest.get(status, 0.0), time.perf_counter() - started)

    try:
        tokens = [await _csrf(s, url + "/login") for s in sessions]
        async with window.open() as deadline:
            await asyncio.gather(*(worker(s, t, deadline) for s, t in zip(sessions, tokens, strict=True)))
    finally:
        for s in sessions:
            await s.close()
    sent = {"sessions": LOGIN_WORKERS, "client_addresses": len(LOGIN_SOURCES), "logins": sum(tally.values())}
    extra = {"slowest_answer_s": {k: round(v, 2) for k, v in sorted(slowest.items())}}
    return Figures(sent, {"http_status": counts(tally)}, extra)


PAGED_CONNECTIONS = 24
PAGED_SORTED = 7  # of the sets a connection opens, the first 7 are sorted (their ids are kept)
SETS_PER_CONNECTION = 10  # two more than a connection may keep
OID_PAGED = m.OID_PAGED
SORT_BY_CN = (m.OID_SORT_REQ, False, lc.sort_request(SortKey("cn", None, False)).value)


def _paged(conn: Any, cookie: bytes | None, sort: bool) -> tuple[int, bytes]:
    conn.search(
        BASE,
        "(objectClass=*)",
        attributes=ldap3.NO_ATTRIBUTES,
        paged_size=1,
        paged_cookie=cookie,
        controls=[SORT_BY_CN] if sort else None,
    )
    control = (conn.result.get("controls") or {}).get(OID_PAGED) or {}
    return int(conn.result["result"]), bytes((control.get("value") or {}).get("cookie") or b"")


async def ldap_paged_state(ctx: Context, window: Window) -> Figures:
    """24 ldap3 connections each open 10 paged result sets of the whole directory (page size 1; the first 7 sorted by
    cn, which keeps their sorted ids: ~128 KB a set), then ask each set for its next page. The server keeps at most
    ``paged_sets_per_connection`` sets per connection and ``paged_budget_bytes`` in all; the others are answered
    unwillingToPerform. Runs 1.5 windows: a sorted first page of the whole directory is the slowest request here."""
    port = ctx.service.port("ldap")
    conns: list[Any] = [None] * PAGED_CONNECTIONS
    cookies: list[list[tuple[bool, bytes]]] = [[] for _ in range(PAGED_CONNECTIONS)]

    def kind(sort: bool, code: int) -> str:
        return f"{'sorted' if sort else 'dit_order'}: {code_name(code)}"

    def open_sets(n: int, deadline: float) -> Counter[str]:
        tally: Counter[str] = Counter()
        conn = conns[n] = _ldap3(port)
        for k in range(SETS_PER_CONNECTION):
            if time.monotonic() >= deadline:
                break
            sort = k < PAGED_SORTED
            conn.socket.settimeout(left(deadline))
            try:
                code, cookie = _paged(conn, None, sort)
            except LDAPException:  # no answer by the end of the window: hang up
                tally["unanswered at the end (client hung up)"] += 1
                conns[n] = None
                break
            tally[kind(sort, code)] += 1
            if cookie:
                cookies[n].append((sort, cookie))
        return tally

    def resume(n: int) -> Counter[str]:
        tally: Counter[str] = Counter()
        conn = conns[n]
        if conn is None:
            return tally
        conn.socket.settimeout(30)
        for sort, cookie in cookies[n]:
            try:
                code, _ = _paged(conn, cookie, sort)
            except LDAPException as exc:
                tally[f"failed: {type(exc).__name__}"] += 1
                break
            tally[kind(sort, code)] += 1
        with contextlib.suppress(LDAPException, OSError):
            conn.unbind()
        return tally

    async with window.open() as deadline:
        opened = sum(await in_threads(PAGED_CONNECTIONS, lambda n: open_sets(n, deadline)), Counter[str]())
        rss_open = ctx.service.status_mb("VmRSS")
        resumed = sum(await in_threads(PAGED_CONNECTIONS, resume), Counter[str]())
    sent = {
        "ldap3_connections": PAGED_CONNECTIONS,
        "sets_asked_per_connection": SETS_PER_CONNECTION,
        "first_pages": sum(opened.values()),
        "next_pages": sum(resumed.values()),
    }
    answers = {"first_page": counts(opened), "next_page_of_each_set": counts(resumed)}
    extra = {"server_rss_mb_with_sets_open": rss_open, "server_peak_rss_mb": ctx.service.status_mb("VmHWM")}
    return Figures(sent, answers, extra)


IDLE_SOURCES = [f"127.0.0.{100 + i}" for i in range(8)]
IDLE_PER_SOURCE = 25
MAIL_SOURCE = "127.0.0.120"
MAIL_SENDERS = 11  # two messages each reach the sender quota, 20 messages the client quota
MAIL_RECIPIENTS = 60  # the server takes 50 per message
MAX_MESSAGES = 40


async def _greeting(port: int, source: str) -> tuple[str, asyncio.StreamWriter | None]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    line = (await asyncio.wait_for(reader.readline(), 10)).decode("ascii", "replace").strip()
    if line.startswith("220"):
        return "220", writer
    writer.close()
    return ("421 per client" if "your address" in line else line[:3] + " total") if line else "closed", None


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    """An SMTP refusal as counted: its code, and which forward quota it names."""
    for quota in ("max_forwards_per_sender", "max_forwards_per_client"):
        if quota in exc.message:
            return f"{exc.code} {quota}"
    return str(exc.code)


async def smtp_idle_sessions_and_role_mail(ctx: Context, window: Window) -> Figures:
    """200 SMTP connections from 8 addresses that say nothing after the greeting; ten of the accepted ones then
    hang up, and two clients from another address send messages to 60 role addresses each, from 11 senders in turn,
    while the idle sessions stay open."""
    port = ctx.service.port("smtp")
    roles = ctx.setup.roles[:MAIL_RECIPIENTS]
    greetings: Counter[str] = Counter()
    mail: dict[str, Counter[str]] = {"MAIL": Counter(), "RCPT": Counter(), "DATA": Counter()}
    idle: list[asyncio.StreamWriter] = []
    messages = itertools.count()

    async def send_one(n: int, timeout: float) -> None:
        sender = f"sender{n % MAIL_SENDERS}@attacker.example"
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, roles[0], f"offer {n}"
        msg.set_content("buy now\n")
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, source_address=(MAIL_SOURCE, 0), timeout=timeout)
        async with smtp:
            try:
                await smtp.mail(sender)
            except aiosmtplib.SMTPResponseException as exc:
                mail["MAIL"][_reply(exc)] += 1
                return
            mail["MAIL"]["250"] += 1
            accepted = 0
            for rcpt in roles:
                try:
                    await smtp.rcpt(rcpt)
                    mail["RCPT"]["250"] += 1
                    accepted += 1
                except aiosmtplib.SMTPResponseException as exc:
                    mail["RCPT"][_reply(exc)] += 1
            if not accepted:
                return
            try:
                await smtp.data(msg.as_bytes())
                mail["DATA"]["250"] += 1
            except aiosmtplib.SMTPResponseException as exc:
                mail["DATA"][_reply(exc)] += 1

    async def mailer(deadline: float) -> None:
        while time.monotonic() < deadline:
            n = next(messages)
            if n >= MAX_MESSAGES:
                return
            try:
                await send_one(n, left(deadline))
            except (aiosmtplib.SMTPException, OSError) as exc:
                mail["MAIL"][f"failed: {type(exc).__name__}"] += 1

    try:
        async with window.open() as deadline:
            for source in IDLE_SOURCES:
                for _ in range(IDLE_PER_SOURCE):
                    answer, writer = await _greeting(port, source)
                    greetings[answer] += 1
                    if writer is not None:
                        idle.append(writer)
            for writer in idle[-10:]:
                writer.close()
            del idle[-10:]
            await asyncio.sleep(0.2)  # the server sees the ten hang-ups
            await asyncio.gather(mailer(deadline), mailer(deadline))
    finally:
        for writer in idle:
            writer.close()
    sent = {
        "idle_connections_tried": len(IDLE_SOURCES) * IDLE_PER_SOURCE,
        "idle_client_addresses": len(IDLE_SOURCES),
        "idle_sessions_held_during_mail": len(idle),
        "messages_tried": min(next(messages), MAX_MESSAGES),
        "recipients_per_message": len(roles),
        "senders": MAIL_SENDERS,
    }
    answers = {"greeting": counts(greetings), **{k: counts(v) for k, v in mail.items()}}
    return Figures(sent, answers)


BLANK_ROWS = 2_000_000
UPLOADERS = 2
MAX_UPLOADS = 40


def blank_row_workbook(rows: int) -> bytes:
    """The export template with one office, its ``<dimension>`` removed and ``rows`` empty ``<row/>`` appended to
    the sheet data, deflated: small on the wire however many rows it describes (the tests' own builder)."""
    from tests.support.spreadsheets import deflated, workbook

    return deflated(workbook([b"<row/>" * 100_000] * (rows // 100_000)))


async def xlsx_blank_rows_upload(ctx: Context, window: Window) -> Figures:
    """An admin session uploads, from two tabs at once, a ~30 KB workbook describing 2,000,000 blank rows."""
    url = ctx.service.urls["http"]
    data = await asyncio.to_thread(blank_row_workbook, BLANK_ROWS)
    session = await _session(ADMIN_SOURCE)
    statuses: Counter[str] = Counter()
    took: list[float] = []
    uploads = itertools.count()
    named_limit = 0
    try:
        token = await _csrf(session, url + "/login")
        form = {"username": ADMIN, "password": ADMIN_PASSWORD, "csrf": token}
        async with session.post(url + "/login", data=form, allow_redirects=False) as r:
            if r.status != 303:
                raise RuntimeError(f"admin login answered {r.status}")
        token = await _csrf(session, url + "/import")

        async def uploader(deadline: float) -> None:
            nonlocal named_limit
            while time.monotonic() < deadline and next(uploads) < MAX_UPLOADS:
                body = aiohttp.FormData({"csrf": token})
                body.add_field("file", data, filename="blank.xlsx", content_type="application/octet-stream")
                started = time.perf_counter()
                try:
                    timeout = aiohttp.ClientTimeout(total=left(deadline))
                    async with session.post(url + "/import", data=body, timeout=timeout) as r:
                        text = await r.text()
                        statuses[str(r.status)] += 1
                except (TimeoutError, aiohttp.ClientError) as exc:
                    statuses[f"unanswered at the end (client hung up): {type(exc).__name__}"] += 1
                    return
                took.append(time.perf_counter() - started)
                named_limit += "MAX_SCANNED_ROWS" in text

        async with window.open() as deadline:
            await asyncio.gather(*(uploader(deadline) for _ in range(UPLOADERS)))
    finally:
        await session.close()
    sent = {"uploads": sum(statuses.values()), "parallel": UPLOADERS, "file_bytes": len(data), "blank_rows": BLANK_ROWS}
    answers = {"http_status": counts(statuses), "answers_naming_MAX_SCANNED_ROWS": named_limit}
    extra = {"slowest_answer_s": round(max(took), 2) if took else None}
    return Figures(sent, answers, extra)


ATTACKS: list[tuple[str, Attack]] = [
    ("ldap_huge_or_filter", ldap_huge_or_filter),
    ("ldap_backtracking_substring", ldap_backtracking_substring),
    ("ldap_parallel_wrong_binds", ldap_parallel_wrong_binds),
    ("web_parallel_wrong_logins", web_parallel_wrong_logins),
    ("ldap_paged_state", ldap_paged_state),  # 1.5 windows, see there
    ("smtp_idle_sessions_and_role_mail", smtp_idle_sessions_and_role_mail),
    ("xlsx_blank_rows_upload", xlsx_blank_rows_upload),
]


async def run_attacks(
    ctx: Context, prober: Prober, args: argparse.Namespace
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    base = await measure("baseline", baseline, ctx, prober, args.baseline)
    results = []
    for name, attack in ATTACKS:
        if args.only and name not in args.only:
            continue
        await asyncio.sleep(SETTLE_S)
        seconds = args.window * (1.5 if attack is ldap_paged_state else 1)
        results.append(await measure(name, attack, ctx, prober, seconds))
    return base, results


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=WINDOW_S, help="seconds each attack runs")
    ap.add_argument("--baseline", type=float, default=BASELINE_S, help="seconds probed without attack")
    ap.add_argument("--only", nargs="*", default=[], help="attack names to run (default: all)")
    ap.add_argument("--keep-log", metavar="FILE", help="copy the service's output there at the end")
    ap.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)  # the prober process
    args = ap.parse_args()
    if args.probe:
        return probe_main(args.probe)
    _raise_fd_limit(4096)  # the service inherits it: hundreds of attacking connections at once
    started = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bohai-abuse-") as tmp:
        service = start_service(Path(tmp))
        prober: Prober | None = None
        try:
            setup = prepare(service)
            wait_for_generation(service.urls["http"], setup.generation)
            prober = Prober(service.urls["http"])
            ctx = Context(service, setup, random.Random(20261206))
            base, results = asyncio.run(run_attacks(ctx, prober, args))
            if service.proc.poll() is not None:
                raise SystemExit("bohai serve died during the attacks:\n" + service.log.read_text()[-3000:])
        finally:
            if prober is not None:
                prober.close()
            service.stop()
            if args.keep_log:
                shutil.copyfile(service.log, args.keep_log)
    line = {
        "bench": "abuse",
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "server": "bohai serve --demo (subprocess, SQLite, defaults; [liaison] transport = null), 127.0.0.1 port 0",
        "probe": "GET /healthz on a new connection every 10 ms, from a separate process",
        "window_s": args.window,
        "service_ready_s": service.ready_s,
        "goal_p99_ms": GOAL_P99_MS,
        "baseline": base["healthz"],
        "attacks": results,
        "all_met": all(r["met"] for r in results),
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return 1 if any("error" in r for r in [base, *results]) else 0


if __name__ == "__main__":
    sys.exit(main())
