"""Composition root: starts every face of the service and owns their lifecycle.

Owns: ``start(settings) -> Running`` (open the store, build the Snapshot, start the faces in order, report each bound
address), ``Running.aclose()`` (close the faces in reverse order), and ``serve()`` which runs until SIGINT/SIGTERM.
Each face is one small ``_start_<face>`` function that returns its URL and a closer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from directory import demo
from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import Store, open_store
from directory.web.app import WebContext, make_app

log = logging.getLogger(__name__)
Closer = Callable[[], Awaitable[None]]


@dataclass
class Running:
    """A started service: its store, Snapshot holder, the URL of each face, and how to stop it."""

    settings: Settings
    store: Store
    holder: SnapshotHolder
    urls: dict[str, str] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _closers: list[Closer] = field(default_factory=list)

    def on_close(self, closer: Closer) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        """Stop every face in reverse order of start, then close the store."""
        self.stop.set()
        while self._closers:
            closer = self._closers.pop()
            try:
                await closer()
            except Exception:
                log.exception("error while closing a face")
        self.store.close()


def load_demo(store: Store) -> int:
    """Fill the directory with demo offices unless it has offices already; returns how many were created."""
    if store.count_offices():
        return 0
    result = store.upsert_offices(list(demo.demo_offices()), "demo", demo=True)
    return result.created


async def start(settings: Settings, *, with_demo: bool = False, report: Callable[[str], None] = print) -> Running:
    """Open the store and start every enabled face; ``report`` gets one ``<face> listening on <url>`` line each."""
    store = await asyncio.to_thread(open_store, settings.database.url, pool_size=settings.database.pool_size)
    try:
        if with_demo:
            created = await asyncio.to_thread(load_demo, store)
            if created:
                report(f"demo data: {created} offices created (演示数据，非真实联系人)")
        holder = await asyncio.to_thread(SnapshotHolder, store)
    except BaseException:
        store.close()
        raise
    running = Running(settings, store, holder)
    try:
        watcher = asyncio.create_task(holder.watch(settings.database.poll_interval, running.stop))
        running.on_close(lambda: _cancel(watcher))
        for face in FACES:
            result = await face(running)
            if result is not None:
                name, url = result
                running.urls[name] = url
                report(f"{name} listening on {url}")
    except BaseException:
        await running.aclose()
        raise
    return running


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def web_extensions(running: Running) -> list[Callable[[web.Application], None]]:
    """Pages that the liaison layer adds to the directory's web app."""
    return []


async def _start_http(running: Running) -> tuple[str, str] | None:
    s = running.settings.http
    if not s.enabled:
        return None
    app = make_app(WebContext(running.settings, running.store, running.holder), web_extensions(running))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, s.host, s.port)
    await site.start()
    running.on_close(runner.cleanup)
    host, port = _bound(site)
    return "http", f"http://{host}:{port}"


def _bound(site: web.TCPSite) -> tuple[str, int]:
    server = site._server
    assert server is not None and isinstance(server, asyncio.Server)
    sockname = server.sockets[0].getsockname()
    host = sockname[0]
    return (f"[{host}]" if ":" in host else host), int(sockname[1])


async def _start_ldap(running: Running) -> tuple[str, str] | None:
    """The read-only LDAP face (and LDAPS when enabled); searches always read ``holder.current``."""
    from directory.ldap.service import start_ldap

    s = running.settings.ldap
    if not s.enabled:
        return None
    server, urls = await start_ldap(s, running.holder, running.store)
    running.on_close(server.close)
    if "ldaps" in urls:
        running.urls["ldaps"] = urls["ldaps"]  # reported by _start_ldaps, next in FACES
    return "ldap", urls["ldap"]


async def _start_ldaps(running: Running) -> tuple[str, str] | None:
    url = running.urls.get("ldaps")
    return ("ldaps", url) if url else None


FACES: list[Callable[[Running], Awaitable[tuple[str, str] | None]]] = [
    _start_http,
    # --- ldap face (issue 7) ---
    _start_ldap,
    _start_ldaps,
    # --- inbound smtp face and outbox worker (issue 4) ---
    # --- meetings scheduler (issue 5) ---
]


async def serve(settings: Settings, *, with_demo: bool = False) -> None:
    """Run until SIGINT or SIGTERM, then close every face in reverse order."""
    running = await start(settings, with_demo=with_demo, report=lambda line: print(line, flush=True))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, running.stop.set)
    print("ready (Ctrl+C 停止)", flush=True)
    try:
        await running.stop.wait()
    finally:
        await running.aclose()
