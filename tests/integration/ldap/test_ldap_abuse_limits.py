"""LDAP searches built to stall the service or fill its memory, against the real ``bohai serve``.

One service for the module: the demo directory (15,404 offices) with one office whose street is thirty ``a`` (what
a backtracking substring filter chokes on), and a paged results budget of 4 KiB. While an attack runs, a probe asks
``/healthz`` and reads one card over a second LDAP connection again and again; neither may take a second (a bound
generous enough for two busy cores; ``bench/abuse.py`` measures the real p99).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import ldap3
import pytest
import pytest_asyncio

from directory.ldap import client as lc
from directory.ldap import controlvalues as cv
from directory.ldap import filtertree as ft
from directory.ldap import messages as m
from directory.ldap.filterstr import parse_filter
from directory.store import open_store
from directory.validate import OfficeData
from tests.support.ldap import BASE, Response, split_responses
from tests.support.servers import ServeProcess, serve_process

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

CODE = "130102000000"
CA_DN = f"uid={CODE},ou={CODE},ou=130100000000,ou=130000000000,{BASE}"
STREET = "a" * 30
PROBE_BOUND = 1.0  # seconds any one probe may take while an attack runs
BUDGET = 4096  # bytes of paged state for the whole server: sixteen sets in directory order


def _give_one_office_a_long_street(url: str) -> None:
    store = open_store(url)
    try:
        office = store.get_office(CODE)
        assert office is not None
        fields = {f.name: office[f.name] for f in dataclasses.fields(OfficeData) if f.name in office}
        store.save_office(OfficeData(**{**fields, "address": STREET}), "test", expected_version=office["version"])
    finally:
        store.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(templates: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServeProcess]:
    url, _ = templates.copy("sqlite", True, tmp_path_factory.mktemp("ldap-abuse"))
    _give_one_office_a_long_street(url)
    env = {
        "BOHAI_DATABASE_URL": url,
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_LDAP_PORT": "0",
        "BOHAI_SMTP_ENABLED": "false",
        "BOHAI_MEETINGS_SCHEDULER_ENABLED": "false",
        "BOHAI_LDAP_PAGED_BUDGET_BYTES": str(BUDGET),
        "BOHAI_LDAP_ENTRIES_PER_MINUTE": "0",  # these tests page the whole directory on purpose (read limits: web/)
    }
    async with serve_process(env, ready_timeout=280) as sp:
        yield sp


# -- a small LDAP client over asyncio ------------------------------------------------------------------------------


class Ldap:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.msgid = reader, writer, 0

    @classmethod
    async def open(cls, service: ServeProcess) -> Ldap:
        port = int(service.urls["ldap"].rsplit(":", 1)[1])
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, op: bytes, *controls: m.Control) -> list[Response]:
        """Send one request; its responses up to the one that ends it."""
        self.msgid += 1
        self.writer.write(lc.encode_message(self.msgid, op, tuple(controls)))
        buf = b""
        got: list[Response] = []
        while not got or got[-1].tag == m.SEARCH_ENTRY:
            data = await asyncio.wait_for(self.reader.read(1 << 20), 120)
            assert data, "the server closed the connection"
            more, buf = split_responses(buf + data)
            got += more
        return got

    async def search(
        self, filt: ft.Filter, *controls: m.Control, base: str = BASE, scope: int = 2, time_limit: int = 0
    ) -> tuple[list[Response], Response]:
        req = m.SearchRequest(base, scope, 0, 0, time_limit, False, filt, ("1.1",))
        got = await self.request(lc.encode_search(req), *controls)
        return got[:-1], got[-1]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Probe:
    """Asks ``/healthz`` and reads one card over its own LDAP connection, over and over, until the block ends."""

    def __init__(self, service: ServeProcess) -> None:
        self.service = service
        self.worst = {"healthz": 0.0, "ldap": 0.0}
        self.count = {"healthz": 0, "ldap": 0}
        self._stop = asyncio.Event()

    async def __aenter__(self) -> Probe:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        await self._task

    async def _run(self) -> None:
        ldap = await Ldap.open(self.service)
        async with aiohttp.ClientSession() as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                async with http.get(self.service.urls["http"] + "/healthz") as r:
                    assert r.status == 200, await r.text()
                self._note("healthz", started)
                started = time.perf_counter()
                found, done = await ldap.search(ft.Present("objectClass"), base=CA_DN, scope=0)
                assert done.code == 0 and [e.dn for e in found] == [CA_DN]
                self._note("ldap", started)
        await ldap.close()

    def _note(self, kind: str, started: float) -> None:
        self.worst[kind] = max(self.worst[kind], time.perf_counter() - started)
        self.count[kind] += 1

    def check(self) -> None:
        assert min(self.count.values()) >= 1, self.count
        assert max(self.worst.values()) < PROBE_BOUND, f"a probe waited while the attack ran: {self.worst}"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# -- filters -------------------------------------------------------------------------------------------------------


def _or_of_substrings(n: int) -> ft.Or:
    return ft.Or(tuple(ft.Substrings("cn", None, (f"x{i}",), None) for i in range(n)))


async def test_huge_or_filter_is_refused_at_once_while_web_and_ldap_answer(service: ServeProcess) -> None:
    huge = _or_of_substrings(50_000)  # ~800 KB: over the byte limit
    many = _or_of_substrings(3_000)  # ~50 KB: within the byte limit, over the term limit
    requests = [  # encoded before the clock starts
        (lc.encode_search(m.SearchRequest(base, scope, 0, 0, 1, False, filt, ("1.1",))), limit)
        for base, scope in ((CA_DN, 0), (BASE, 2))  # base scope too: decoding and compiling took seconds
        for filt, limit in ((huge, "65536"), (many, "256 terms"))
    ]
    attacker = await Ldap.open(service)
    async with Probe(service) as probe:
        for op, limit in requests * 2:
            started = time.perf_counter()
            (done,) = await attacker.request(op)
            took = time.perf_counter() - started
            assert took < PROBE_BOUND
            assert done.code == m.ADMIN_LIMIT_EXCEEDED, (done.code, done.text)
            assert limit in done.text, done.text
    probe.check()
    _, done = await attacker.search(ft.Or((ft.Present("mail"), ft.Present("cn"))), base=CA_DN, scope=0)
    assert done.code == 0  # the refusal closed nothing: the same connection goes on
    await attacker.close()


async def test_backtracking_substring_filter_ends_within_its_time_limit(service: ServeProcess) -> None:
    attacker = await Ldap.open(service)
    no_match = ft.Substrings("street", None, ("a",) * 10, "b")  # (street=*a*a*…*a*b): seconds of backtracking
    async with Probe(service) as probe:
        started = time.perf_counter()
        found, done = await attacker.search(no_match, time_limit=1)
        took = time.perf_counter() - started
    probe.check()
    assert took < 1 + PROBE_BOUND
    assert done.code in (m.SUCCESS, m.TIME_LIMIT) and found == []
    found, done = await attacker.search(ft.Substrings("street", None, ("a",) * 10, "a"), time_limit=1)
    assert done.code == 0 and CA_DN in [e.dn for e in found]  # the crafted street is there and matches
    assert all(e.dn.endswith(CA_DN.split(",", 1)[1]) for e in found)  # the office's card and its contacts' cards
    await attacker.close()


async def test_heavy_allowed_filter_runs_in_slices_and_stops_at_its_time_limit(service: ServeProcess) -> None:
    attrs = ("cn", "description", "street", "o", "title", "givenName", "mail", "l", "st", "postalAddress")
    terms = "".join(f"({attrs[i % 10]}=*{chr(0x4E00 + i)}*{chr(0x4E80 + i)}*{chr(0x4F00 + i)}*)" for i in range(60))
    # Every entry tests every term before the last one makes the Or true, so nothing matches and no index helps.
    heavy = parse_filter(f"(!(|{terms}(objectClass=*)))")
    attacker = await Ldap.open(service)
    async with Probe(service) as probe:
        started = time.perf_counter()
        _, done = await attacker.search(heavy, time_limit=3)
        took = time.perf_counter() - started
    probe.check()
    assert done.code in (m.SUCCESS, m.TIME_LIMIT), done.text
    assert took < 3 + 2 * PROBE_BOUND
    assert probe.count["healthz"] >= 2
    await attacker.close()


# -- paged results -------------------------------------------------------------------------------------------------


def _cookie(done: Response) -> bytes:
    return cv.decode_paged(done.controls[m.OID_PAGED])[1]


async def test_paged_sets_of_many_connections_stay_within_the_budget(service: ServeProcess) -> None:
    everything = ft.Present("objectClass")
    before = _rss_mb(service.proc.pid)
    clients = [await Ldap.open(service) for _ in range(20)]
    cookies: list[tuple[Ldap, bytes]] = []
    for client in clients:
        for _ in range(8):  # each connection opens as many sets as it may keep
            found, done = await client.search(everything, lc.paged_request(1))
            assert done.code == 0 and len(found) == 1
            cookies.append((client, _cookie(done)))
    grown = _rss_mb(service.proc.pid) - before
    assert grown < 64, f"160 open paged sets of the whole directory grew the server by {grown:.0f} MB"
    # The least recently used sets were dropped and are answered as RFC 2696 asks; the newest go on.
    client, cookie = cookies[0]
    found, done = await client.search(everything, lc.paged_request(1, cookie))
    assert done.code == m.UNWILLING_TO_PERFORM and found == [] and _cookie(done) == b""
    assert "start the search again" in done.text
    client, cookie = cookies[-1]
    found, done = await client.search(everything, lc.paged_request(1, cookie))
    assert done.code == 0 and len(found) == 1 and _cookie(done)
    for client in clients:
        await client.close()


def _page_through_while_others_open_sets(port: int) -> tuple[int, int, set[str]]:
    server = ldap3.Server("127.0.0.1", port, get_info=ldap3.NONE)
    reader = ldap3.Connection(server, auto_bind=True, receive_timeout=120)
    others = [ldap3.Connection(server, auto_bind=True, receive_timeout=120) for _ in range(3)]
    seen: set[str] = set()
    opened = 0
    pages = reader.extend.standard.paged_search(
        BASE, "(objectClass=*)", attributes=ldap3.NO_ATTRIBUTES, paged_size=2000, generator=True
    )
    for n, entry in enumerate(pages):
        seen.add(entry["dn"])
        if n % 2000 == 1999:  # between two pages, other clients open three sets each
            for other in others:
                for _ in range(3):
                    other.search(BASE, "(objectClass=*)", attributes=ldap3.NO_ATTRIBUTES, paged_size=1)
                    assert other.result["result"] == 0
                    opened += 1
    code = reader.result["result"]
    for c in (reader, *others):
        c.unbind()
    return code, opened, seen


async def test_offline_page_through_of_the_whole_directory_survives_a_full_budget(service: ServeProcess) -> None:
    """Evolution and Outlook page through everything for offline use: the budget must never cut them off."""
    port = int(service.urls["ldap"].rsplit(":", 1)[1])
    client = await Ldap.open(service)
    _, done = await client.search(ft.Present("objectClass"), lc.paged_request(1))
    total = cv.decode_paged(done.controls[m.OID_PAGED])[0]
    await client.close()
    code, opened, seen = await asyncio.to_thread(_page_through_while_others_open_sets, port)
    assert code == 0
    assert opened >= 9 * 15 > BUDGET // 256  # far more sets were opened meanwhile than the budget keeps
    assert len(seen) == total > 30_000
