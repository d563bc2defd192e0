"""PostgreSQL unreachable while serving: requests fail cleanly, then everything recovers without a restart.

The service reaches PostgreSQL through a small TCP relay on 127.0.0.1 that the test cuts (listener closed, every
relayed connection aborted) and restores on the same port — the fault a network or database restart causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest

from directory import accounts, demo, regions, tokens
from directory.errors import StorageError
from liaison import service
from tests.support.settings import service_settings

CHANGAN = "130102000000"


class Relay:
    """Forwards 127.0.0.1:<port> to PostgreSQL; ``cut()`` drops everything, ``restore()`` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    async def restore(self) -> None:
        await self.start()


@contextlib.asynccontextmanager
async def relayed(url: str) -> AsyncIterator[tuple[Relay, str]]:
    rest = url.split("@", 1)[1]  # host:port/dbname
    hostport, _, dbname = rest.partition("/")
    host, _, port = hostport.partition(":")
    relay = Relay((host, int(port or 5432)))
    await relay.start()
    try:
        yield relay, f"postgresql://postgres@127.0.0.1:{relay.port}/{dbname}"
    finally:
        await relay.cut()


@pytest.mark.postgres
@pytest.mark.slow
async def test_requests_fail_cleanly_during_an_outage_and_recover(pg_demo_url: str) -> None:
    async with relayed(pg_demo_url) as (relay, url):
        settings = service_settings(
            url,
            database={"poll_interval": 0.2},
            ldap={"enabled": False},
            smtp={"enabled": False},
            meetings={"scheduler_enabled": False},
        )
        running = await service.start(settings, report=lambda _line: None)
        try:
            store = running.store
            await store.run(accounts.add_user, store, "admin1", "correct horse 9", "admin", None, "test")
            _, token = await store.run(tokens.issue, store, "admin1", "脚本", "test")
            auth = {"Authorization": f"Bearer {token}"}
            base = running.urls["http"]
            data = demo.office_for(regions.by_code()[CHANGAN])
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "/api/v1/me", headers=auth) as resp:
                    assert resp.status == 200

                await relay.cut()
                # Reads are served from memory; anything that needs the database answers 503 in the JSON shape.
                async with http.get(base + "/api/v1/search?q=长安区") as resp:
                    assert resp.status == 200
                    assert (await resp.json())["hits"][0]["region_code"] == CHANGAN
                async with http.get(base + "/api/v1/me", headers=auth) as resp:
                    body = await resp.json()
                    assert resp.status == 503, body
                    assert body["ok"] is False and body["status"] == 503 and body["error"]
                with pytest.raises(StorageError):
                    await store.run(
                        store.save_office, dataclasses.replace(data, contact_name="断线时"), "t", expected_version=None
                    )

                await relay.restore()
                async with http.get(base + "/api/v1/me", headers=auth) as resp:
                    assert resp.status == 200
                office = await store.run(store.get_office, CHANGAN)
                assert office is not None and office["contact_name"] != "断线时"  # nothing half-written
                waiter = running.holder.changed
                await store.run(
                    store.save_office,
                    dataclasses.replace(data, contact_name="恢复后"),
                    "t",
                    expected_version=office["version"],
                )
                await asyncio.wait_for(waiter.wait(), 10)
                async with http.get(base + "/api/v1/search?q=恢复后") as resp:
                    assert [h["region_code"] for h in (await resp.json())["hits"]] == [CHANGAN]
        finally:
            await running.aclose()
