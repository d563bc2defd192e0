"""Binds over real sockets go through the one login policy: in-flight binds count, and storage faults answer 52."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import sqlalchemy as sa

from directory import accounts
from directory.ldap import client as lc
from directory.ldap import messages as m
from directory.ldap.server import LdapServer
from directory.ldap.service import start_ldap
from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import Store, open_store
from tests.support.ldap import split_responses
from tests.support.need import PG_URL

BASE = "dc=bohai,dc=example"
DN = f"uid=postfix,ou=accounts,{BASE}"
PASSWORD = "s3cret-口令-2024"


@contextlib.asynccontextmanager
async def ldap_over(url: str) -> AsyncIterator[tuple[LdapServer, int, Store]]:
    store = open_store(url)
    accounts.add_user(store, "postfix", PASSWORD, "reader", None, "test")
    holder = await asyncio.to_thread(SnapshotHolder, store)
    settings = Settings().replace(ldap={"port": 0})
    server, urls = await start_ldap(settings.ldap, holder, store)
    try:
        yield server, int(urls["ldap"].rsplit(":", 1)[1]), store
    finally:
        await server.close()
        store.close()


async def bind(port: int, dn: str, password: str, source: str = "127.0.0.1") -> tuple[int | None, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(lc.encode_message(1, lc.encode_bind(dn, password)))
        data = b""
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 120)
            assert chunk, "connection closed without an answer"
            data += chunk
            responses, _ = split_responses(data)
            if responses:
                return responses[0].code, responses[0].text
    finally:
        writer.close()


async def test_parallel_binds_from_one_address_count_while_in_flight(db_url: str) -> None:
    async with ldap_over(db_url) as (_, port, _store):
        answers = await asyncio.gather(*(bind(port, DN, f"guess-{i}") for i in range(60)))
        codes = [code for code, _ in answers]
        assert set(codes) <= {m.INVALID_CREDENTIALS, m.BUSY}
        assert codes.count(m.INVALID_CREDENTIALS) <= 3, codes
        # the owner, from another address, is not held up by the guesser
        assert (await bind(port, DN, PASSWORD, source="127.0.0.2"))[0] == m.SUCCESS


async def test_a_refused_bind_is_answered_after_a_pause_that_holds_its_connection(db_url: str) -> None:
    """A flood of binds from many connections must not keep the loop busy answering "busy": each bind refused
    without a password check holds its connection for ``REFUSED_BIND_HOLD``, later requests waiting behind it."""
    from directory.ldap.server import REFUSED_BIND_HOLD

    async with ldap_over(db_url) as (_, port, _store):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.5", 0))
        loop = asyncio.get_running_loop()
        seen = []
        try:
            for i in range(30):  # wrong passwords until the guard refuses one without judging it
                started = loop.time()
                refused, anonymous = lc.encode_bind(DN, f"guess-{i}"), lc.encode_bind("", "")
                writer.write(lc.encode_message(2 * i + 1, refused) + lc.encode_message(2 * i + 2, anonymous))
                data, answered = b"", []
                while len(answered) < 2:
                    chunk = await asyncio.wait_for(reader.read(65536), 120)
                    assert chunk, "connection closed without an answer"
                    data += chunk
                    responses, data = split_responses(data)
                    answered += [(r.code, loop.time() - started) for r in responses]
                seen.append(answered[0][0])
                if answered[0][0] == m.BUSY:
                    break
        finally:
            writer.close()
        assert seen[-1] == m.BUSY and set(seen) <= {m.INVALID_CREDENTIALS, m.BUSY}, seen
        (_, refused_at), (anonymous_code, anonymous_at) = answered
        assert refused_at >= REFUSED_BIND_HOLD
        assert anonymous_code == m.SUCCESS and anonymous_at >= REFUSED_BIND_HOLD  # it waited behind the refusal


def _break_database(store: Store, url: str) -> None:
    """Make the database unreachable under a running store: the SQLite file is gone, the PostgreSQL database
    dropped."""
    store.engine.dispose()
    if url.startswith("sqlite"):
        path = Path(sa.make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{path}{suffix}")
        path.mkdir()  # nothing can open a database there any more
        return
    import psycopg

    name = sa.make_url(url).database
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


async def test_bind_while_storage_is_unavailable_answers_52(db_url: str) -> None:
    async with ldap_over(db_url) as (_, port, store):
        assert (await bind(port, DN, PASSWORD))[0] == m.SUCCESS
        await asyncio.to_thread(_break_database, store, db_url)
        code, text = await bind(port, DN, PASSWORD, source="127.0.0.3")
        assert code == m.UNAVAILABLE, text
        # anonymous binds and searches need no database and keep working
        assert (await bind(port, "", ""))[0] == m.SUCCESS


def test_domain_errors_map_to_ldap_result_codes_in_one_table() -> None:
    from directory.errors import AuthenticationFailed, Busy, Forbidden, StorageError, Throttled
    from directory.ldap.results import result_of

    assert result_of(AuthenticationFailed("x"))[0] == m.INVALID_CREDENTIALS
    code, text = result_of(Throttled(41.2))
    assert code == m.BUSY and "42 秒后再试" in text
    assert result_of(Busy("x"))[0] == m.BUSY
    assert result_of(StorageError("disk gone"))[0] == m.UNAVAILABLE
    assert result_of(Forbidden("x"))[0] == m.INSUFFICIENT_ACCESS
    assert result_of(RuntimeError("a bug")) == (m.OTHER, "服务器内部错误 (internal error)")
