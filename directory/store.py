"""The only code of the directory that talks SQL.

Owns: the engine (SQLite by default, PostgreSQL by URL — one implementation), schema migration under an advisory
lock, loading the bundled regions, the directory's reads and writes with their audit rows, and the change counter
(``meta.generation``) that tells every Snapshot holder, in this process or another, that the directory changed.

The API is synchronous and thread-safe; async faces call ``await store.run(fn, ...)``, which uses a small executor
(one thread on SQLite, so that writes are serialised there).
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

from directory import regions as bundled
from directory.errors import Conflict, FieldError, NotFound, StorageError, ValidationFailed
from directory.migrations import DIRECTORY as DIRECTORY_SCHEMA
from directory.migrations import Schema
from directory.models import OFFICE_FIELDS, Account, Change, Contact, Meta, Office, Region, utcnow
from directory.validate import OfficeData

log = logging.getLogger(__name__)
Row = RowMapping  # a read-only mapping of column name → value
P = ParamSpec("P")
T = TypeVar("T")

ADVISORY_LOCK_ID = 0x0B0A1  # pg_advisory_xact_lock key for migrations and region loading
TRACKED = (*[name for name, _ in OFFICE_FIELDS], "liaison")

region_t = Region.__table__  # type: ignore[attr-defined]
office_t = Office.__table__  # type: ignore[attr-defined]
contact_t = Contact.__table__  # type: ignore[attr-defined]
account_t = Account.__table__  # type: ignore[attr-defined]
change_t = Change.__table__  # type: ignore[attr-defined]
meta_t = Meta.__table__  # type: ignore[attr-defined]


def engine_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclasses.dataclass(frozen=True)
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_codes: tuple[str, ...] = ()


def _office_values(data: OfficeData) -> dict[str, Any]:
    return {name: getattr(data, name) for name, _ in OFFICE_FIELDS}


def _audit_view(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in TRACKED}
    out["version"] = row.get("version")
    return out


def _audit_row(
    actor: str, key: str, action: str, before: Mapping[str, Any] | None, after: Mapping[str, Any], at: Any
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "entity": "office",
        "entity_key": key,
        "action": action,
        "before": json.dumps(_audit_view(before), ensure_ascii=False, default=str) if before is not None else None,
        "after": json.dumps(_audit_view(after), ensure_ascii=False, default=str),
    }


class Store:
    """A directory database. Create with :func:`open_store`, close with :meth:`close`."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = engine_url(url)
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
                yield conn
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
        divisions = bundled.divisions()
        existing = {r[0] for r in conn.execute(sa.select(region_t.c.code))}
        rows = [dataclasses.asdict(d) for d in divisions if d.code not in existing]
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(region_t), rows[start : start + 5000])
        return len(rows)

    # -- change counter --------------------------------------------------------------------------------------

    def generation(self) -> int:
        with self.read() as conn:
            value = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "generation")).scalar_one_or_none()
        return int(value or 0)

    def bump_generation(self, conn: Connection, codes: Iterable[str] = ()) -> int:
        """Move the change counter and stamp the changed offices with it (so holders reload only those).

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
        for start in range(0, len(stamp), 1000):
            chunk = stamp[start : start + 1000]
            conn.execute(sa.update(office_t).where(office_t.c.region_code.in_(chunk)).values(gen=gen))
        if not self.is_sqlite:
            conn.execute(sa.text("SELECT pg_notify('bohai_directory', '')"))
        return gen

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            value: str | None = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key)).scalar_one_or_none()
            return value

    def set_meta_default(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the stored one."""
        with self.begin() as conn:
            current = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key)).scalar_one_or_none()
            if current is not None:
                return str(current)
            conn.execute(sa.insert(meta_t).values(key=key, value=value))
            return value

    # -- reads ------------------------------------------------------------------------------------------------

    def load_all(self) -> tuple[list[Row], list[Row], list[Row], int]:
        """Everything a Snapshot needs, read in one transaction: regions, offices, contacts, generation.

        Rows stay SQLAlchemy row mappings (tuples with shared keys), not dicts: ~15 MB less while a Snapshot
        of the whole directory is built."""
        with self.read() as conn, conn.begin():
            gen = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "generation")).scalar_one_or_none()
            regions = list(conn.execute(sa.select(region_t).order_by(region_t.c.code)).mappings())
            offices = list(conn.execute(sa.select(office_t).order_by(office_t.c.region_code)).mappings())
            contacts = list(conn.execute(sa.select(contact_t).order_by(contact_t.c.id)).mappings())
        return regions, offices, contacts, int(gen or 0)

    def load_changes(self, since: int) -> tuple[list[Row], list[Row], int]:
        """Offices written after generation ``since`` with their contacts, and the generation now.

        The generation is read first: a write committing in between is read now and again next time (harmless).
        """
        with self.read() as conn, conn.begin():
            gen = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "generation")).scalar_one_or_none()
            offices = list(conn.execute(sa.select(office_t).where(office_t.c.gen > since)).mappings())
            ids = [o["id"] for o in offices]
            contacts: list[Row] = []
            for start in range(0, len(ids), 1000):
                query = sa.select(contact_t).where(contact_t.c.office_id.in_(ids[start : start + 1000]))
                contacts += conn.execute(query.order_by(contact_t.c.id)).mappings()
        return offices, contacts, int(gen or 0)

    def region_codes(self) -> set[str]:
        with self.read() as conn:
            return {r[0] for r in conn.execute(sa.select(region_t.c.code))}

    def get_office(self, region_code: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(sa.select(office_t).where(office_t.c.region_code == region_code)).mappings().first()
            return dict(row) if row else None

    def count_offices(self) -> int:
        with self.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(office_t)).scalar_one())

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

    # -- writes -----------------------------------------------------------------------------------------------

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
        conn.execute(
            sa.insert(change_t).values(
                at=utcnow(),
                actor=actor,
                entity=entity,
                entity_key=key,
                action=action,
                before=json.dumps(before, ensure_ascii=False, default=str) if before is not None else None,
                after=json.dumps(after, ensure_ascii=False, default=str) if after is not None else None,
            )
        )

    def upsert_offices(
        self, items: Sequence[OfficeData], actor: str, *, demo: bool = False, expected_version: int | None = None
    ) -> UpsertResult:
        """Create or update offices by region code in one transaction; unchanged rows write nothing.

        Every UPDATE is guarded by the version read in the same transaction, so a concurrent writer (another
        instance, another import) makes this one fail with Conflict instead of being silently overwritten.
        ``expected_version`` (forms, one office) must also match the version the editor saw.
        """
        with self.begin() as conn:
            return self._upsert(conn, items, actor, demo, expected_version)

    def _upsert(
        self, conn: Connection, items: Sequence[OfficeData], actor: str, demo: bool, expected_version: int | None
    ) -> UpsertResult:
        created = updated = unchanged = 0
        changed: list[str] = []
        known = {r[0] for r in conn.execute(sa.select(region_t.c.code))}
        missing = sorted({d.region_code for d in items} - known)
        if missing:
            raise ValidationFailed([FieldError("region_code", "区划代码不存在", value=c) for c in missing[:50]])
        query = sa.select(office_t)
        if len(items) <= 500:
            query = query.where(office_t.c.region_code.in_([d.region_code for d in items]))
        existing = {r["region_code"]: dict(r) for r in conn.execute(query).mappings()}
        if expected_version is not None:
            _check_expected(items, existing, expected_version)
        now = utcnow()
        inserts: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        for data in items:
            values = _office_values(data)
            old = existing.get(data.region_code)
            if old is None:
                values.update(
                    region_code=data.region_code,
                    liaison=bool(data.liaison),
                    demo=demo,
                    version=1,
                    updated_at=now,
                    updated_by=actor,
                    verified_at=now,
                )
                inserts.append(values)
                audits.append(_audit_row(actor, data.region_code, "create", None, values, now))
                existing[data.region_code] = values
                created += 1
                changed.append(data.region_code)
                continue
            if data.liaison is not None:
                values["liaison"] = data.liaison
            diff = {k: v for k, v in values.items() if old.get(k) != v}
            if not diff:
                unchanged += 1
                continue
            diff.update(version=old["version"] + 1, updated_at=now, updated_by=actor)
            guarded = sa.update(office_t).where(office_t.c.id == old["id"], office_t.c.version == old["version"])
            if conn.execute(guarded.values(**diff)).rowcount != 1:
                raise Conflict(f"{data.region_code} 已被他人同时修改，本次未写入任何数据，请重试")
            new = {**old, **diff}
            audits.append(_audit_row(actor, data.region_code, "update", old, new, now))
            existing[data.region_code] = new
            updated += 1
            changed.append(data.region_code)
        for start in range(0, len(inserts), 2000):
            conn.execute(sa.insert(office_t), inserts[start : start + 2000])
        for start in range(0, len(audits), 2000):
            conn.execute(sa.insert(change_t), audits[start : start + 2000])
        cleared = self._single_liaison(conn, [d for d in items if d.liaison], actor)
        updated += len(cleared)
        changed += cleared
        if changed:
            self.bump_generation(conn, changed)
        return UpsertResult(created, updated, unchanged, tuple(changed))

    def preview_upsert(self, items: Sequence[OfficeData]) -> UpsertResult:
        """What :meth:`upsert_offices` would do with ``items``, computed read-only (import ``--dry-run``)."""
        created = updated = unchanged = 0
        changed: list[str] = []
        with self.read() as conn:
            existing = {r["region_code"]: dict(r) for r in conn.execute(sa.select(office_t)).mappings()}
        for data in items:
            old = existing.get(data.region_code)
            values = _office_values(data)
            if data.liaison is not None:
                values["liaison"] = data.liaison
            if old is None:
                created += 1
            elif any(old.get(k) != v for k, v in values.items()):
                updated += 1
            else:
                unchanged += 1
                continue
            changed.append(data.region_code)
        in_items = {d.region_code for d in items}
        liaison_now = {c for c, row in existing.items() if row.get("liaison") and c not in in_items}
        for data in items:
            if data.liaison:
                cleared = {c for c in liaison_now if c[:2] == data.region_code[:2] and c != data.region_code}
                updated += len(cleared)
                changed += sorted(cleared)
        return UpsertResult(created, updated, unchanged, tuple(changed))

    def _single_liaison(self, conn: Connection, marked: Iterable[OfficeData], actor: str) -> list[str]:
        """One liaison officer per province: marking one clears the flag on the province's other offices."""
        cleared: list[str] = []
        for data in marked:
            others = (
                conn.execute(
                    sa.select(office_t.c.region_code).where(
                        office_t.c.liaison == sa.true(),
                        office_t.c.region_code.startswith(data.region_code[:2]),
                        office_t.c.region_code != data.region_code,
                    )
                )
                .scalars()
                .all()
            )
            for code in others:
                conn.execute(
                    sa.update(office_t)
                    .where(office_t.c.region_code == code)
                    .values(liaison=False, version=office_t.c.version + 1, updated_at=utcnow(), updated_by=actor)
                )
                self.audit(conn, actor, "office", code, "update", {"liaison": True}, {"liaison": False})
                cleared.append(code)
        return cleared

    def save_office(self, data: OfficeData, actor: str, *, expected_version: int | None) -> dict[str, Any]:
        """Save one office from a form; ``expected_version`` (the version the editor saw) guards against someone
        else's save in between: check and write happen in one transaction, the row locked on PostgreSQL."""
        with self.begin() as conn:
            conn.execute(
                sa.select(office_t.c.id).where(office_t.c.region_code == data.region_code).with_for_update()
            ).first()
            result = self._upsert(conn, [data], actor, False, expected_version)
            row = conn.execute(sa.select(office_t).where(office_t.c.region_code == data.region_code)).mappings().one()
        office = dict(row)
        office["_changed"] = bool(result.changed_codes)
        return office

    def verify_office(self, region_code: str, actor: str) -> None:
        """Stamp "still valid" (确认有效) on an office."""
        with self.begin() as conn:
            row = conn.execute(sa.select(office_t).where(office_t.c.region_code == region_code)).mappings().first()
            if row is None:
                raise NotFound(f"区划 {region_code} 没有单位记录")
            now = utcnow()
            conn.execute(sa.update(office_t).where(office_t.c.id == row["id"]).values(verified_at=now))
            self.audit(
                conn, actor, "office", region_code, "verify", {"verified_at": row["verified_at"]}, {"verified_at": now}
            )
            self.bump_generation(conn, [region_code])

    def set_email_status(self, region_code: str, status: str, note: str, actor: str) -> None:
        """Flag an office's e-mail (``bouncing`` with the bounce text, or back to ``ok``)."""
        with self.begin() as conn:
            row = conn.execute(sa.select(office_t).where(office_t.c.region_code == region_code)).mappings().first()
            if row is None:
                raise NotFound(f"区划 {region_code} 没有单位记录")
            if row["email_status"] == status and row["email_status_note"] == note:
                return
            conn.execute(
                sa.update(office_t)
                .where(office_t.c.id == row["id"])
                .values(email_status=status, email_status_note=note)
            )
            self.audit(
                conn,
                actor,
                "office",
                region_code,
                "email_status",
                {"email_status": row["email_status"]},
                {"email_status": status, "note": note},
            )
            self.bump_generation(conn, [region_code])

    def add_contact(self, region_code: str, name: str, actor: str, **fields: Any) -> int:
        with self.begin() as conn:
            office_id = conn.execute(
                sa.select(office_t.c.id).where(office_t.c.region_code == region_code)
            ).scalar_one_or_none()
            if office_id is None:
                raise NotFound(f"区划 {region_code} 没有单位记录")
            cid = conn.execute(
                sa.insert(contact_t).values(office_id=office_id, name=name, **fields).returning(contact_t.c.id)
            ).scalar_one()
            self.audit(conn, actor, "contact", str(cid), "create", None, {"name": name, **fields})
            self.bump_generation(conn, [region_code])
            return int(cid)

    def replace_demo_contacts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Demo data only: replace all demo contacts (rows carry ``region_code``)."""
        with self.begin() as conn:
            query = sa.select(office_t.c.id, office_t.c.region_code)
            ids = {r["region_code"]: r["id"] for r in conn.execute(query).mappings()}
            conn.execute(sa.delete(contact_t).where(contact_t.c.demo == sa.true()))
            values = [
                {**{k: v for k, v in r.items() if k != "region_code"}, "office_id": ids[r["region_code"]], "demo": True}
                for r in rows
                if r["region_code"] in ids
            ]
            if values:
                conn.execute(sa.insert(contact_t), values)
            self.bump_generation(conn, ids)

    # -- accounts ---------------------------------------------------------------------------------------------

    def get_account(self, username: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(sa.select(account_t).where(account_t.c.username == username)).mappings().first()
            return dict(row) if row else None

    def list_accounts(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r) for r in conn.execute(sa.select(account_t).order_by(account_t.c.username)).mappings()]

    def create_account(
        self, username: str, password_hash: str, role: str, province_code: str | None, actor: str
    ) -> None:
        with self.begin() as conn:
            if conn.execute(sa.select(account_t.c.id).where(account_t.c.username == username)).first():
                raise Conflict(f"用户 {username} 已存在")
            conn.execute(
                sa.insert(account_t).values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    province_code=province_code,
                    created_at=utcnow(),
                )
            )
            self.audit(conn, actor, "account", username, "create", None, {"role": role, "province_code": province_code})

    def update_account(self, username: str, actor: str, *, audit: bool = True, **changes: Any) -> None:
        with self.begin() as conn:
            row = conn.execute(sa.select(account_t).where(account_t.c.username == username)).mappings().first()
            if row is None:
                raise NotFound(f"用户 {username} 不存在")
            conn.execute(sa.update(account_t).where(account_t.c.id == row["id"]).values(**changes))
            if audit:
                shown = {k: ("***" if "hash" in k else v) for k, v in changes.items()}
                self.audit(conn, actor, "account", username, "update", None, shown)


class ChangeListener:
    """Wakes Snapshot holders at once when another instance changes the directory (PostgreSQL LISTEN/NOTIFY).

    ``store.bump_generation`` NOTIFYs ``bohai_directory`` in the writing transaction. On SQLite, or while the
    listening connection is down, nothing wakes early and the holder's poll of the change counter does the work.
    """

    CHANNEL = "bohai_directory"

    def __init__(self, store: Store) -> None:
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


def _check_expected(items: Sequence[OfficeData], existing: Mapping[str, Mapping[str, Any]], expected: int) -> None:
    for data in items:
        old = existing.get(data.region_code)
        if old is None and expected:
            raise Conflict("该单位已被他人删除", current={})
        if old is not None and old["version"] != expected:
            raise Conflict("该单位已被他人修改，请核对后再保存", current=dict(old))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _short(exc: SQLAlchemyError) -> str:
    return str(exc.orig if hasattr(exc, "orig") and exc.orig is not None else exc).splitlines()[0][:300]


def open_store(url: str, *, pool_size: int = 5, schemas: Sequence[Schema] = ()) -> Store:
    """Open the database at ``url``, creating or migrating the schema (the directory's, then ``schemas``) and
    loading regions as needed."""
    store = Store(url, pool_size=pool_size)
    try:
        store.migrate(schemas)
    except BaseException:
        store.close()
        raise
    return store
