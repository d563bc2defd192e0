"""LDAP under abuse: thousands of connections, slowloris clients and clients that never read their results.

The limits must hold (connections over ``max_connections`` are turned away with a Notice of Disconnection, a client
that does not read stops being read, so its results cannot pile up), and a well-behaved client is still served.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import AsyncIterator

import ldap3
import pytest

from directory.ldap import client as lc
from directory.ldap import filtertree as ft
from directory.ldap import messages as m
from liaison import service
from liaison.service import Running
from tests.support.settings import service_settings

MAX_CONNECTIONS = 300
CROWD = 2000
BASE = "dc=bohai,dc=example"


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


@contextlib.asynccontextmanager
async def ldap_only(url: str) -> AsyncIterator[Running]:
    settings = service_settings(
        url,
        http={"enabled": False},
        smtp={"enabled": False},
        ldap={"max_connections": MAX_CONNECTIONS, "idle_timeout": 600},
        meetings={"scheduler_enabled": False},
    )
    running = await service.start(settings, report=lambda _line: None)
    try:
        yield running
    finally:
        await running.aclose()


def _search_everything(msgid: int) -> bytes:
    req = m.SearchRequest(BASE, 2, 0, 1000, 0, False, ft.Present("objectClass"), ("*",))
    return lc.encode_message(msgid, lc.encode_search(req))


def _served_by_ldap3(port: int) -> list[str]:
    conn = ldap3.Connection(ldap3.Server("127.0.0.1", port, get_info=ldap3.NONE), auto_bind=True)
    try:
        conn.search(BASE, "(uid=130102000000)", attributes=["cn", "mail"])
        return [str(e.cn) for e in conn.entries]
    finally:
        conn.unbind()


@pytest.mark.slow
async def test_crowds_slowloris_and_non_readers_do_not_stop_service(sqlite_demo_url: str) -> None:
    _raise_fd_limit(3 * CROWD + 500)
    async with ldap_only(sqlite_demo_url) as running:
        port = int(running.urls["ldap"].rsplit(":", 1)[1])
        writers: list[asyncio.StreamWriter] = []
        readers: list[asyncio.StreamReader] = []
        for _ in range(CROWD):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            readers.append(reader)
            writers.append(writer)
        # Everyone over the limit gets a Notice of Disconnection and EOF; the first MAX_CONNECTIONS stay open.
        turned_away = 0
        for reader in readers[MAX_CONNECTIONS:]:
            data = await asyncio.wait_for(reader.read(), 30)
            assert m.decode_message(data).msgid == 0  # the unsolicited notice (RFC 4511 §4.4.1)
            turned_away += 1
        assert turned_away == CROWD - MAX_CONNECTIONS

        held = writers[:MAX_CONNECTIONS]
        # 100 slowloris clients: the first bytes of a PDU that never completes.
        for w in held[:100]:
            w.write(b"\x30\x84\x00\x00\x10")
        # 20 clients pipeline 200 "everything" searches each and never read a byte.
        for w in held[100:120]:
            w.write(b"".join(_search_everything(i) for i in range(1, 201)))
        for w in held[:120]:
            await w.drain()
        # Make room for one well-behaved client by closing 50 idle connections, as a crowd thins out.
        for w in held[200:250]:
            w.close()
            await w.wait_closed()
        for _ in range(200):  # let the server see the closes (bounded)
            await asyncio.sleep(0)
            if len(_server_connections(running)) < MAX_CONNECTIONS:
                break
        names = await asyncio.to_thread(_served_by_ldap3, port)
        assert names == ["长安区流动人口服务管理中心"]
        # The non-readers were stopped being read: their queued results are bounded, not 200 × 1000 entries.
        stuck = [c for c in _server_connections(running) if c.write_paused]
        assert len(stuck) >= 1
        for conn in stuck:
            assert conn.transport is not None
            assert conn.transport.get_write_buffer_size() < 16 * 1024 * 1024
        for w in writers:
            w.close()


def _server_connections(running: Running) -> set[object]:
    from directory.ldap.server import LdapServer

    for closer in running._closers:
        owner = getattr(closer, "__self__", None)
        if isinstance(owner, LdapServer):
            return owner.connections  # type: ignore[return-value]
    raise AssertionError("no LDAP server in the running service")
