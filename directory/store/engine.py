"""The directory database itself: engine, transactions, schema, change counter, audit trail.

Owns: the engine (SQLite by default, PostgreSQL by URL — one implementation), the sync-to-async bridge
(``await store.run(fn, ...)`` on a small executor: one thread on SQLite, so that writes are serialised there),
write and read transactions that turn storage faults into the directory's errors, schema migration under an
advisory lock with the bundled regions loaded after it, the small ``meta`` key/value table, the change counter
(``meta.generation``) with its PostgreSQL NOTIFY and :class:`ChangeListener`, the durable change log of offices
(``office_change``, written with the counter) and the audit rows (``change``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from directory import clock
from directory import regions as bundled
from directory.auditmac import AuditKey
from directory.errors import Conflict, StorageError
from directory.migrations import DIRECTORY as DIRECTORY_SCHEMA
from directory.migrations import Schema
from directory.models import Account, ApiToken, Change, Contact, Meta, Office, OfficeChange, Region
from directory.store import auditlog

log = logging.getLogger(__name__)
Row = RowMapping  # a read-only mapping of column name → value
P = ParamSpec("P")
T = TypeVar("T")

ADVISORY_LOCK_ID = 0x0B0A1  # pg_advisory_xact_lock key for migrations and region loading
NOTIFY_CHANNEL = "bohai_directory"

region_t = Region.__table__  # type: ignore[attr-defined]
office_t = Office.__table__  # type: ignore[attr-defined]
contact_t = Contact.__table__  # type: ignore[attr-defined]
account_t = Account.__table__  # type: ignore[attr-defined]
api_token_t = ApiToken.__table__  # type: ignore[attr-defined]
change_t = Change.__table__  # type: ignore[attr-defined]
meta_t = Meta.__table__  # type: ignore[attr-defined]
office_change_t = OfficeChange.__table__  # type: ignore[attr-defined]
CHANGE_CHUNK = 1000
_PENDING = "bohai_audit_pending"  # conn.info: the transaction's audit rows, sealed into the chain at commit


def engine_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """The connection machinery every part of :class:`directory.store.Store` builds on."""

    def __init__(
        self, url: str, *, pool_size: int = 5, audit_key: AuditKey | None = None, audit_chain: str = "main"
    ) -> None:
        self.url = engine_url(url)
        # None: the key kept in the database itself (no [audit] key_file configured), on chain ``audit_chain``
        self.audit_key = audit_key
        self.audit_chain = audit_key.chain if audit_key is not None else audit_chain
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self._check_sqlite_path()
            self.engine: Engine = sa.create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(self.url, pool_size=pool_size, pool_pre_ping=True, max_overflow=pool_size)
        self._executor = ThreadPoolExecutor(max_workers=1 if self.is_sqlite else pool_size, thread_name_prefix="store")
        self._write_lock = threading.Lock()

    def _check_sqlite_path(self) -> None:
        url = sa.make_url(self.url)
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            parent = Path(url.database).expanduser().resolve().parent
            if not parent.is_dir():
                raise StorageError(f"database.url: the folder {parent} does not exist")

    # -- lifecycle -------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store call off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction; SQLite writers take the process lock too, and storage faults become StorageError."""
        lock = self._write_lock if self.is_sqlite else contextlib.nullcontext()
        try:
            with lock, self.engine.begin() as conn:
                conn.info[_PENDING] = []
                try:
                    yield conn
                    # Sealed last, so the chain's head is locked only for the commit that follows.
                    pending = conn.info[_PENDING]
                    if pending:
                        key = self.audit_key_in_force(conn)
                        auditlog.seal(conn, key, pending)
                finally:
                    conn.info.pop(_PENDING, None)
        except OperationalError as exc:
            raise StorageError(f"数据库写入失败：{_short(exc)}") from exc
        except IntegrityError as exc:  # e.g. two instances creating the same office at once
            raise Conflict(f"数据已被他人同时修改，请重试：{_short(exc)}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StorageError(f"数据库读取失败：{_short(exc)}") from exc

    def migrate(self, schemas: Sequence[Schema] = ()) -> None:
        """Create or upgrade the directory's schema and then each of ``schemas`` (other packages' tables, e.g. the
        liaison service's), under one lock; then load the bundled regions if any are missing."""
        with self.begin() as conn:
            if not self.is_sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_ID})
            for schema in (DIRECTORY_SCHEMA, *schemas):
                schema.upgrade(conn)
            self._ensure_regions(conn)
            conn.execute(sa.select(meta_t.c.key).where(meta_t.c.key == "generation")).first() or conn.execute(
                sa.insert(meta_t).values(key="generation", value="1")
            )

    def _ensure_regions(self, conn: Connection) -> int:
        have = conn.execute(sa.select(sa.func.count()).select_from(region_t)).scalar_one()
        if have >= bundled.division_count():  # without loading the table: a running service seldom needs it
            return 0
        if have and conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "regions_edition")).first():
            return 0  # a newer edition was applied (``store.regions``): never load retired regions back
        divisions = bundled.divisions()
        existing = {r[0] for r in conn.execute(sa.select(region_t.c.code))}
        rows = [dataclasses.asdict(d) for d in divisions if d.code not in existing]
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(region_t), rows[start : start + 5000])
        return len(rows)

    # -- change counter and meta -----------------------------------------------------------------------------

    def generation(self) -> int:
        with self.read() as conn:
            value = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "generation")).scalar_one_or_none()
        return int(value or 0)

    def bump_generation(self, conn: Connection, codes: Iterable[str] = (), removed: Iterable[str] = ()) -> int:
        """Move the change counter, stamp the changed offices with it (so holders reload only those) and log each
        changed or ``removed`` office under it in ``office_change``.

        The counter row is locked by the UPDATE until commit, so generations are handed out in commit order.
        """
        gen = int(
            conn.execute(
                sa.update(meta_t)
                .where(meta_t.c.key == "generation")
                .values(value=sa.cast(sa.cast(meta_t.c.value, sa.Integer) + 1, sa.Text))
                .returning(meta_t.c.value)
            ).scalar_one()
        )
        stamp = sorted(set(codes))
        gone = sorted(set(removed))
        for start in range(0, len(stamp), CHANGE_CHUNK):
            chunk = stamp[start : start + CHANGE_CHUNK]
            conn.execute(sa.update(office_t).where(office_t.c.region_code.in_(chunk)).values(gen=gen))
        now = clock.now()
        log_rows = [{"gen": gen, "region_code": c, "removed": False, "at": now} for c in stamp]
        log_rows += [{"gen": gen, "region_code": c, "removed": True, "at": now} for c in gone]
        for start in range(0, len(log_rows), CHANGE_CHUNK * 5):
            conn.execute(sa.insert(office_change_t), log_rows[start : start + CHANGE_CHUNK * 5])
        if not self.is_sqlite:
            conn.execute(sa.text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"))
        return gen

    def office_changes(self, since: int) -> tuple[dict[str, bool], int]:
        """Offices changed after generation ``since``: region code → removed (the latest entry of each), and the
        generation they bring the reader to. Generations are never reused, so ``since`` may be any earlier one."""
        with self.read() as conn, conn.begin():
            gen = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "generation")).scalar_one_or_none()
            query = (
                sa.select(office_change_t.c.region_code, office_change_t.c.removed)
                .where(office_change_t.c.gen > since, office_change_t.c.gen <= int(gen or 0))
                .order_by(office_change_t.c.id)
            )
            latest = {code: bool(removed) for code, removed in conn.execute(query)}
        return latest, int(gen or 0)

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            value: str | None = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key)).scalar_one_or_none()
            return value

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any value there (small state such as a publish target's)."""
        with self.begin() as conn:
            put_meta(conn, key, value)

    def take_lease(self, key: str, owner: str, seconds: float) -> bool:
        """Hold ``key`` (a meta row ``"<owner> <until>"``) for ``owner`` for ``seconds``, unless another owner holds
        it unexpired; True if taken. Instances sharing a database so run each periodic sync job once at a time."""
        now = clock.now().timestamp()
        value = f"{owner} {now + seconds:.3f}"
        with self.begin() as conn:
            query = sa.select(meta_t.c.value).where(meta_t.c.key == key)
            current = conn.execute(query if self.is_sqlite else query.with_for_update()).scalar_one_or_none()
            if current is None:
                conn.execute(sa.insert(meta_t).values(key=key, value=value))
                return True
            holder, _, until = str(current).rpartition(" ")
            if holder != owner and float(until or 0) > now:
                return False
            conn.execute(sa.update(meta_t).where(meta_t.c.key == key).values(value=value))
            return True

    def release_lease(self, key: str, owner: str) -> None:
        """Give up ``key`` if ``owner`` holds it."""
        with self.begin() as conn:
            conn.execute(sa.delete(meta_t).where(meta_t.c.key == key, meta_t.c.value.startswith(owner + " ")))

    def meta_with_prefix(self, prefix: str) -> dict[str, str]:
        """Every meta value whose key starts with ``prefix``, by key."""
        with self.read() as conn:
            rows = conn.execute(sa.select(meta_t.c.key, meta_t.c.value).where(meta_t.c.key.startswith(prefix)))
            return {key: value for key, value in rows}

    def set_meta_default(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the stored one."""
        with self.begin() as conn:
            current = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key)).scalar_one_or_none()
            if current is not None:
                return str(current)
            conn.execute(sa.insert(meta_t).values(key=key, value=value))
            return value

    # -- audit trail -----------------------------------------------------------------------------------------

    def audit(
        self,
        conn: Connection,
        actor: str,
        entity: str,
        key: str,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        """Record one change of ``entity`` ``key`` in the writing transaction (chained and MACed at its commit)."""
        self.audit_rows(
            conn,
            [
                {
                    "at": clock.now(),
                    "actor": actor,
                    "entity": entity,
                    "entity_key": key,
                    "action": action,
                    "before": _json(before),
                    "after": _json(after),
                }
            ],
        )

    def audit_rows(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Record prepared audit rows (``at``, ``actor``, ``entity``, ``entity_key``, ``action``, ``before`` and
        ``after`` as JSON text) in the writing transaction; the one way into the audit trail."""
        pending = conn.info.get(_PENDING)
        if pending is None:
            raise RuntimeError("audit rows are written only inside Database.begin()")
        pending.extend(rows)

    def audit_key_in_force(self, conn: Connection) -> AuditKey:
        """The key this store seals audit rows with (the database's own when no key file is configured)."""
        return self.audit_key or auditlog.database_key(conn, self.audit_chain)

    def history(self, entity: str, key: str, limit: int = 200) -> list[dict[str, Any]]:
        """Audit rows of one entity, newest first, with ``before``/``after`` decoded."""
        with self.read() as conn:
            rows = conn.execute(
                sa.select(change_t)
                .where(change_t.c.entity == entity, change_t.c.entity_key == key)
                .order_by(change_t.c.id.desc())
                .limit(limit)
            ).mappings()
            out = []
            for r in rows:
                d = dict(r)
                d["before"] = json.loads(d["before"]) if d["before"] else None
                d["after"] = json.loads(d["after"]) if d["after"] else None
                out.append(d)
            return out

    def count_changes(self) -> int:
        with self.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(change_t)).scalar_one())


class ChangeListener:
    """Wakes Snapshot holders at once when another instance changes the directory (PostgreSQL LISTEN/NOTIFY).

    ``store.bump_generation`` NOTIFYs ``bohai_directory`` in the writing transaction. On SQLite, or while the
    listening connection is down, nothing wakes early and the holder's poll of the change counter does the work.
    """

    CHANNEL = NOTIFY_CHANNEL

    def __init__(self, store: Database) -> None:
        self.store = store
        self.event = asyncio.Event()
        self.connected = asyncio.Event()  # set while LISTEN is in force
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if not self.store.is_sqlite and self._task is None:
            self._task = asyncio.create_task(self._listen())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        import psycopg

        dsn = sa.make_url(self.store.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.CHANNEL}")
                    self.connected.set()
                    self.event.set()  # (re)connected: changes may have been missed, check once
                    async for _ in conn.notifies():
                        self.event.set()
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN %s lost (%s); polling until it is back", self.CHANNEL, exc)
            self.connected.clear()
            await asyncio.sleep(1.0)  # back off before reconnecting; the poll covers the gap

    async def wait(self, timeout: float) -> bool:
        """True if a change was announced within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True


def put_meta(conn: Connection, key: str, value: str) -> None:
    """Store ``value`` under ``key`` in the transaction of ``conn``, replacing any value there."""
    if conn.execute(sa.update(meta_t).where(meta_t.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(sa.insert(meta_t).values(key=key, value=value))


def _json(value: Mapping[str, Any] | None) -> str | None:
    return json.dumps(value, ensure_ascii=False, default=str) if value is not None else None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _short(exc: SQLAlchemyError) -> str:
    return str(exc.orig if hasattr(exc, "orig") and exc.orig is not None else exc).splitlines()[0][:300]
