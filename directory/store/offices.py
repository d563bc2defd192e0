"""Offices and their contacts: the reads a Snapshot is built from, and every write with its audit rows.

Owns: loading the whole directory or what changed since a generation, single-office reads, the upsert of offices
(classified by :mod:`directory.store.upsert`, then either reported as a dry run or written with version guards),
saving one office from a form, "still valid" stamps, e-mail status flags, and contacts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory import clock
from directory.errors import Conflict, FieldError, NotFound, ValidationFailed
from directory.models import OFFICE_FIELDS
from directory.store.engine import Database, Row, contact_t, meta_t, office_change_t, office_t, region_t
from directory.store.upsert import UpsertPlan, UpsertResult, check_expected, plan_upsert
from directory.validate import OfficeData

TRACKED = (*[name for name, _ in OFFICE_FIELDS], "liaison", "phone_public")  # the fields an office's audit rows show
SMALL_BATCH = 500  # up to this many offices, an upsert reads only the rows it needs
CHUNK = 2000  # rows per INSERT statement


class Offices(Database):
    """Reads and writes of offices and contacts."""

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

    def load_changes(self, since: int) -> tuple[list[Row], list[Row], list[str], int]:
        """Offices written after generation ``since`` with their contacts, the codes of offices removed since, and
        the generation now.

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
            removed = conn.execute(
                sa.select(office_change_t.c.region_code)
                .where(office_change_t.c.gen > since, office_change_t.c.removed == sa.true())
                .distinct()
            )
            present = {o["region_code"] for o in offices}
            gone = sorted(code for (code,) in removed if code not in present)
        return offices, contacts, gone, int(gen or 0)

    def office_codes_under(self, prefix: str) -> list[str]:
        """Region codes of the offices whose code starts with ``prefix`` (e.g. a province's two digits)."""
        with self.read() as conn:
            query = sa.select(office_t.c.region_code).where(office_t.c.region_code.startswith(prefix))
            return sorted(r[0] for r in conn.execute(query))

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

    # -- upsert -----------------------------------------------------------------------------------------------

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

    def preview_upsert(self, items: Sequence[OfficeData]) -> UpsertResult:
        """What :meth:`upsert_offices` would do with ``items``, computed read-only (import ``--dry-run``)."""
        with self.read() as conn:
            return plan_upsert(items, self._current(conn, items)).result()

    def preview_plan(self, items: Sequence[OfficeData]) -> UpsertPlan:
        """The writes :meth:`upsert_offices` would make (each with the row it changes), computed read-only: the
        import report shows them field by field."""
        with self.read() as conn:
            return plan_upsert(items, self._current(conn, items))

    def _upsert(
        self, conn: Connection, items: Sequence[OfficeData], actor: str, demo: bool, expected_version: int | None
    ) -> UpsertResult:
        current = self._current(conn, items)
        if expected_version is not None:
            check_expected(items, current, expected_version)
        return self._write(conn, plan_upsert(items, current), actor, demo)

    def _current(self, conn: Connection, items: Sequence[OfficeData]) -> dict[str, dict[str, Any]]:
        """The stored rows an upsert of ``items`` is classified against: the offices it names and every liaison
        officer; refuses region codes that do not exist."""
        codes = sorted({d.region_code for d in items})
        known_query = sa.select(region_t.c.code)
        if len(codes) <= SMALL_BATCH:
            known_query = known_query.where(region_t.c.code.in_(codes))
        missing = sorted(set(codes) - {r[0] for r in conn.execute(known_query)})
        if missing:
            raise ValidationFailed([FieldError("region_code", "区划代码不存在", value=c) for c in missing[:50]])
        query = sa.select(office_t)
        if len(codes) <= SMALL_BATCH:
            query = query.where(sa.or_(office_t.c.region_code.in_(codes), office_t.c.liaison == sa.true()))
        return {r["region_code"]: dict(r) for r in conn.execute(query).mappings()}

    def _write(self, conn: Connection, plan: UpsertPlan, actor: str, demo: bool) -> UpsertResult:
        now = clock.now()
        stamps = {"updated_at": now, "updated_by": actor}
        inserts: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        for w in plan.writes:
            if w.before is None:
                row = {**w.values, **stamps, "demo": demo, "version": 1, "verified_at": now}
                inserts.append(row)
                audits.append(_audit_row(actor, w.code, "create", None, row, now))
                continue
            version = w.before["version"]
            changes = {**w.values, **stamps, "version": version + 1}
            guarded = sa.update(office_t).where(office_t.c.id == w.before["id"], office_t.c.version == version)
            if conn.execute(guarded.values(**changes)).rowcount != 1:
                raise Conflict(f"{w.code} 已被他人同时修改，本次未写入任何数据，请重试")
            audits.append(_audit_row(actor, w.code, "update", w.before, {**w.before, **changes}, now))
        for start in range(0, len(inserts), CHUNK):
            conn.execute(sa.insert(office_t), inserts[start : start + CHUNK])
        self.audit_rows(conn, audits)
        for code in plan.cleared:
            conn.execute(
                sa.update(office_t)
                .where(office_t.c.region_code == code)
                .values(liaison=False, version=office_t.c.version + 1, **stamps)
            )
            self.audit(conn, actor, "office", code, "update", {"liaison": True}, {"liaison": False})
        result = plan.result()
        if result.changed_codes:
            self.bump_generation(conn, result.changed_codes)
        return result

    # -- single-office writes ---------------------------------------------------------------------------------

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

    def verify_office(self, region_code: str, actor: str, by: str = "编辑确认") -> None:
        """Stamp "still valid" (确认有效) on an office; ``by`` is who confirmed it as the public sees it (never an
        account name: those are for staff only, and the audit row keeps ``actor``)."""
        with self.begin() as conn:
            self.confirm_in(conn, region_code, actor, by)

    def confirm_in(self, conn: Connection, region_code: str, actor: str, by: str) -> None:
        """Inside the caller's transaction: stamp the confirmed date and who confirmed it, audited, and make every
        instance's Snapshot see it (the change counter)."""
        row = self._office_row(conn, region_code)
        now = clock.now()
        values = {"verified_at": now, "verified_by": by[:100]}
        conn.execute(sa.update(office_t).where(office_t.c.id == row["id"]).values(**values))
        before = {"verified_at": row["verified_at"], "verified_by": row["verified_by"]}
        self.audit(conn, actor, "office", region_code, "verify", before, values)
        self.bump_generation(conn, [region_code])

    def save_office_in(
        self, conn: Connection, data: OfficeData, actor: str, *, expected_version: int | None
    ) -> UpsertResult:
        """:meth:`save_office` inside the caller's transaction (an approval that also records its own state)."""
        conn.execute(
            sa.select(office_t.c.id).where(office_t.c.region_code == data.region_code).with_for_update()
        ).first()
        return self._upsert(conn, [data], actor, False, expected_version)

    def set_email_status(self, region_code: str, status: str, note: str, actor: str) -> None:
        """Flag an office's e-mail (``bouncing`` with the bounce text, or back to ``ok``)."""
        with self.begin() as conn:
            row = self._office_row(conn, region_code)
            if row["email_status"] == status and row["email_status_note"] == note:
                return
            conn.execute(
                sa.update(office_t)
                .where(office_t.c.id == row["id"])
                .values(email_status=status, email_status_note=note)
            )
            before = {"email_status": row["email_status"]}
            after = {"email_status": status, "note": note}
            self.audit(conn, actor, "office", region_code, "email_status", before, after)
            self.bump_generation(conn, [region_code])

    def _office_row(self, conn: Connection, region_code: str) -> Row:
        row = conn.execute(sa.select(office_t).where(office_t.c.region_code == region_code)).mappings().first()
        if row is None:
            raise NotFound(f"区划 {region_code} 没有单位记录")
        return row

    def remove_office(self, region_code: str, actor: str) -> dict[str, Any]:
        """Remove an office and its contacts (the region stays); returns the removed row. Audited with the whole
        row and logged as a tombstone, so address books and publish targets drop it too."""
        with self.begin() as conn:
            row = self._remove(conn, region_code, actor)
            self.bump_generation(conn, removed=[region_code])
        return row

    def replace_offices(self, items: Sequence[OfficeData], removed: Sequence[str], actor: str) -> UpsertResult:
        """Upsert ``items`` and remove the offices of ``removed`` in one transaction (a pull from a province's own
        directory): all of it is written, or nothing."""
        with self.begin() as conn:
            result = self._upsert(conn, items, actor, False, None)
            for code in removed:
                self._remove(conn, code, actor)
            if removed:
                self.bump_generation(conn, removed=removed)
        return result

    def _remove(self, conn: Connection, region_code: str, actor: str) -> dict[str, Any]:
        row = dict(self._office_row(conn, region_code))
        contacts = conn.execute(sa.select(contact_t).where(contact_t.c.office_id == row["id"])).mappings().all()
        conn.execute(sa.delete(contact_t).where(contact_t.c.office_id == row["id"]))
        conn.execute(sa.delete(office_t).where(office_t.c.id == row["id"]))
        before = {**row, "contacts": [dict(c) for c in contacts]}
        self.audit(conn, actor, "office", region_code, "delete", before, None)
        return row

    # -- contacts ---------------------------------------------------------------------------------------------

    def add_contact(self, region_code: str, name: str, actor: str, **fields: Any) -> int:
        with self.begin() as conn:
            office_id = self._office_row(conn, region_code)["id"]
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


def _audit_row(
    actor: str, key: str, action: str, before: Mapping[str, Any] | None, after: Mapping[str, Any], at: Any
) -> dict[str, Any]:
    """A ``change`` row of an office, showing only the tracked fields and the version."""
    return {
        "at": at,
        "actor": actor,
        "entity": "office",
        "entity_key": key,
        "action": action,
        "before": _audit_json(before) if before is not None else None,
        "after": _audit_json(after),
    }


def _audit_json(row: Mapping[str, Any]) -> str:
    shown = {name: row.get(name) for name in TRACKED}
    shown["version"] = row.get("version")
    return json.dumps(shown, ensure_ascii=False, default=str)
