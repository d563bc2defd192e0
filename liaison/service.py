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
from directory.errors import SettingsError
from directory.snapshot import SnapshotHolder
from directory.startimage import ImageFile, image_path
from directory.store import Store
from directory.sync.schedule import SyncScheduler
from directory.web.app import make_app
from directory.web.context import HEALTH, WebContext
from liaison.database import open_for
from liaison.letters import store as letter_store
from liaison.mail.authcheck import Dns, SystemDns
from liaison.mail.inbound import Inbound, InboundServer
from liaison.mail.worker import OutboxWorker
from liaison.settings import Settings
from liaison.verify import store as verify_store

log = logging.getLogger(__name__)
Closer = Callable[[], Awaitable[None]]
Face = Callable[["Running"], Awaitable[tuple[str, str] | None]]


@dataclass
class Running:
    """A started service: its store, Snapshot holder, the URL of each face, and how to stop it."""

    settings: Settings
    store: Store
    holder: SnapshotHolder
    urls: dict[str, str] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # set by their faces on start; later faces (meetings) add jobs, hooks and local parts to them
    outbox: OutboxWorker | None = None
    inbound: Inbound | None = None
    sync: SyncScheduler | None = None  # set when a publish target or pull source has a schedule
    dns: Dns | None = None  # DNS of the sender checks (None: the host's, when [smtp] check_senders)
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
    store.replace_demo_contacts(list(demo.demo_contacts()))
    return result.created


async def start(
    settings: Settings, *, with_demo: bool = False, report: Callable[[str], None] = print, dns: Dns | None = None
) -> Running:
    """Open the store and start every enabled face; ``report`` gets one ``<face> listening on <url>`` line each.
    ``dns`` answers the inbound sender checks (tests pass a table; None: the host's resolver)."""
    if with_demo and settings.security.require_2fa:
        settings = settings.replace(security={"require_2fa": False})
        report("demo: two-factor login is off ([security] require_2fa = false); 演示模式未要求双因素认证，切勿用于生产")
    store = await asyncio.to_thread(open_for, settings)
    try:
        if with_demo:
            created = await asyncio.to_thread(load_demo, store)
            if created:
                report(f"demo data: {created} offices created (演示数据，非真实联系人)")
        holder = await asyncio.to_thread(SnapshotHolder, store, image=_image_file(settings))
        if holder.image is not None and holder.image_generation is not None:
            gen, now = holder.image_generation, holder.current.generation
            moved = f", brought to {now}" if now != gen else ""
            report(f"start-up image: generation {gen}{moved}, read from {holder.image.path} (启动快照，索引无需重建)")
        both = [a["username"] for a in await asyncio.to_thread(store.list_accounts) if a["role"] == "secadmin,sysadmin"]
    except BaseException:
        store.close()
        raise
    if both:
        names = ", ".join(both)
        log.warning("accounts %s hold both sysadmin and secadmin; split the duties (bohai user role)", names)
        report(f"warning: {names} 同时担任系统管理员和安全管理员，请按三员分立分给两个人（bohai user role）")
    running = Running(settings, store, holder, dns=dns)
    try:
        watcher = asyncio.create_task(holder.watch(settings.database.poll_interval, running.stop))
        running.on_close(lambda: _cancel(watcher))
        for face in FACES:
            result = await _start_face(face, running)
            if result is not None:
                name, url = result
                running.urls[name] = url
                report(f"{name} listening on {url}")
        await asyncio.to_thread(holder.settle_memory)  # after the faces registered their indexes
        running.on_close(lambda: asyncio.to_thread(holder.unsettle_memory))
        if holder.image is not None:
            keeper = asyncio.create_task(_keep_image(holder, running.stop))
            running.on_close(lambda: _cancel(keeper))
    except BaseException:
        await running.aclose()
        raise
    return running


def _image_file(settings: Settings) -> ImageFile | None:
    path = image_path(settings.database.image, settings.database.url)
    return ImageFile(path) if path is not None else None


async def _keep_image(holder: SnapshotHolder, stop: asyncio.Event) -> None:
    """Keep the start-up image near the data: saved once the service runs (if it was missing or behind), after
    changes at most every ``IMAGE_EVERY`` seconds, and when the service stops. A restart that finds it behind
    patches in only the offices written since, so an older image is slower to take, never wrong."""

    async def save() -> None:
        try:
            await asyncio.to_thread(holder.save_image)
        except (OSError, ValueError) as exc:
            log.warning("start-up image not saved: %s", exc)

    try:
        while not stop.is_set():
            await save()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IMAGE_EVERY)
    finally:
        await asyncio.shield(save())


IMAGE_EVERY = 300.0


async def _start_face(face: Face, running: Running) -> tuple[str, str] | None:
    """Start one face; a socket that cannot be bound is a settings error naming the face's host and port."""
    section = face.__name__.removeprefix("_start_")
    try:
        return await face(running)
    except OSError as exc:
        raise SettingsError(
            f"{section}.host/{section}.port: 无法在该地址和端口上监听（{exc.strerror or exc}）；"
            f"请换一个端口（0 表示自动选择）或停止占用该端口的程序"
        ) from exc


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def web_extensions(running: Running) -> list[Callable[[web.Application], None]]:
    """Pages that the liaison layer adds to the directory's web app."""
    from liaison.letters import web as letters_web

    def wake() -> None:
        if running.outbox is not None:
            running.outbox.wake()

    def outbox_health() -> dict[str, object]:
        return running.outbox.health() if running.outbox is not None else {"ok": True, "state": "not started"}

    def add_health(app: web.Application) -> None:
        app[HEALTH]["outbox"] = outbox_health

    extensions: list[Callable[[web.Application], None]] = [letters_web.extension(wake), add_health]
    from liaison.meetings import web as meetings_web

    extensions.append(meetings_web.extension(wake))
    from liaison import reportmail

    extensions.append(reportmail.extension(running.store, running.settings, wake))
    from liaison.verify import web as verify_web

    extensions.append(verify_web.extension(wake))
    return extensions


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
    sockets = getattr(server, "sockets", None)  # asyncio's or uvloop's server (uvloop's is not an asyncio.Server)
    assert sockets
    sockname = sockets[0].getsockname()
    host = sockname[0]
    return (f"[{host}]" if ":" in host else host), int(sockname[1])


async def _start_ldap(running: Running) -> tuple[str, str] | None:
    """The read-only LDAP face (and LDAPS when enabled); searches always read ``holder.current``."""
    from directory.ldap.service import start_ldap

    s = running.settings.ldap
    if not s.enabled:
        return None
    server, urls = await start_ldap(s, running.holder, running.store, login=running.settings.login)
    running.on_close(server.close)
    if "ldaps" in urls:
        running.urls["ldaps"] = urls["ldaps"]  # reported by _start_ldaps, next in FACES
    return "ldap", urls["ldap"]


async def _start_ldaps(running: Running) -> tuple[str, str] | None:
    url = running.urls.get("ldaps")
    return ("ldaps", url) if url else None


# --- inbound smtp face and outbox worker ---


async def _start_outbox(running: Running) -> tuple[str, str] | None:
    """The outbox worker (always on: letters queued by `bohai letter send` are sent by a running service)."""
    from liaison.letters import deadlines
    from liaison.verify import followup

    worker = OutboxWorker(running.store, running.settings)
    worker.add_job(deadlines.job(running.settings, lambda: running.holder.current))
    worker.add_job(followup.job(running.settings, lambda: running.holder.current))
    running.outbox = worker
    worker.start()
    running.on_close(worker.aclose)
    return None


async def _start_smtp(running: Running) -> tuple[str, str] | None:
    """Inbound SMTP on [smtp] host/port; it wakes the outbox worker when it queued a forward."""
    core = Inbound(
        running.store,
        running.settings,
        lambda: running.holder.current,
        on_bounce=[letter_store.mark_delivery_bounced, verify_store.mark_bounced],
        on_reply=[letter_store.mark_replied],
        dns=(running.dns or SystemDns()) if running.settings.smtp.check_senders else None,
    )
    if running.outbox is not None:
        core.on_queued = running.outbox.wake
    running.inbound = core
    if not running.settings.smtp.enabled:
        return None
    server = InboundServer(core)
    host, port = await server.start()
    running.on_close(server.aclose)
    shown = f"[{host}]" if ":" in host else host
    return "smtp", f"smtp://{shown}:{port}"


# --- meetings scheduler ---


async def _start_meetings_scheduler(running: Running) -> tuple[str, str] | None:
    """Register the iMIP reply hook with the inbound face; run the reminder scheduler until the service stops."""
    from liaison.meetings import service as meetings_service

    s = running.settings.meetings
    meetings_service.check_settings(running.settings)
    warning = running.settings.public_url_warning()
    if warning:
        log.warning("%s", warning)
    if running.inbound is not None:  # iMIP replies to the organiser address
        running.inbound.local_parts.update(meetings_service.organiser_local_parts(running.settings))
        running.inbound.hooks.extend(meetings_service.inbound_hooks(running.settings))
    if not s.scheduler_enabled:
        return None
    wake = running.outbox.wake if running.outbox is not None else (lambda: None)
    sched = meetings_service.build_scheduler(running.store, running.settings, on_queued=wake)
    task = asyncio.create_task(sched.loop(s.scheduler_interval, running.stop))
    running.on_close(lambda: _cancel(task))
    return None


# --- directory sync ---


async def _start_sync(running: Running) -> tuple[str, str] | None:
    """Publish targets and pull sources with a ``schedule``: run until the service stops; a run in progress may
    finish (bounded) before the store closes."""
    sched = SyncScheduler(running.store, running.settings, lambda: running.holder.current)
    if not sched.active:
        return None
    running.sync = sched
    task = asyncio.create_task(sched.loop(running.stop))

    async def finish() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), SYNC_FINISH_SECONDS)
        await _cancel(task)

    running.on_close(finish)
    return None


SYNC_FINISH_SECONDS = 60.0

# Started in this order, closed in reverse: the outbox worker before inbound SMTP (which wakes it after queueing a
# forward), and both before the meetings scheduler (which adds its hooks to the inbound core and wakes the worker).
FACES: list[Face] = [
    _start_http,
    _start_ldap,
    _start_ldaps,
    _start_outbox,
    _start_smtp,
    _start_meetings_scheduler,
    _start_sync,
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
