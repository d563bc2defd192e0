"""Clean text stored before the character rules of :mod:`directory.validate`.

Offices' eight fields and contacts' name, position, phone and e-mail are passed through
:func:`directory.textrules.clean_line`: runs of line breaks and tabs become one space; other control characters,
bidirectional controls, zero-width and other invisible characters are dropped. Each changed office gets its version
raised, one audit row (actor ``migration``, action ``clean_text``, before and after of the changed fields and
contacts) and the change counter, so every running instance reloads it; each change is logged as a warning naming
the region code and field, followed by a summary, so the editors can review what was changed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from directory import clock
from directory.textrules import clean_line

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger("directory.migrations")
ACTOR = "migration"
OFFICE_FIELDS = ("unit_name", "contact_name", "position", "phone", "fax", "email", "address", "postal_code")
CONTACT_FIELDS = ("name", "position", "phone", "email")

office_t = sa.table(
    "office",
    *(sa.column(n) for n in ("id", "region_code", *OFFICE_FIELDS, "version", "gen", "updated_at", "updated_by")),
)
contact_t = sa.table("contact", *(sa.column(n) for n in ("id", "office_id", *CONTACT_FIELDS)))
change_t = sa.table("change", *(sa.column(n) for n in ("at", "actor", "entity", "entity_key", "action", "before",
                                                      "after")))  # fmt: skip
meta_t = sa.table("meta", sa.column("key"), sa.column("value"))
Changes = dict[str, tuple[str, str]]  # field → (stored, cleaned)
ContactChanges = list[tuple[int, Changes]]  # (contact id, its changes)


def _changes(row: Any, fields: tuple[str, ...]) -> Changes:
    """Field → (stored, cleaned) for the fields whose value the rules change."""
    out = {}
    for name in fields:
        value = row[name] or ""
        cleaned = clean_line(value)
        if cleaned != value:
            out[name] = (value, cleaned)
    return out


def _contact_changes(conn: sa.Connection) -> dict[int, ContactChanges]:
    """Office id → [(contact id, its changes)]."""
    out: dict[int, ContactChanges] = defaultdict(list)
    for row in conn.execute(sa.select(contact_t)).mappings():
        changes = _changes(row, CONTACT_FIELDS)
        if changes:
            conn.execute(
                sa.update(contact_t)
                .where(contact_t.c.id == row["id"])
                .values({k: new for k, (_, new) in changes.items()})
            )
            out[row["office_id"]].append((row["id"], changes))
    return out


def _next_generation(conn: sa.Connection) -> int | None:
    value = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "generation")).scalar_one_or_none()
    if value is None:
        return None
    gen = int(value) + 1
    conn.execute(sa.update(meta_t).where(meta_t.c.key == "generation").values(value=str(gen)))
    return gen


def _audit(code: str, office: Changes, contacts: ContactChanges) -> dict[str, Any]:
    before: dict[str, Any] = {k: old for k, (old, _) in office.items()}
    after: dict[str, Any] = {k: new for k, (_, new) in office.items()}
    if contacts:
        before["contacts"] = [{"id": cid, **{k: old for k, (old, _) in ch.items()}} for cid, ch in contacts]
        after["contacts"] = [{"id": cid, **{k: new for k, (_, new) in ch.items()}} for cid, ch in contacts]
    return {"at": clock.now(), "actor": ACTOR, "entity": "office", "entity_key": code,
            "action": "clean_text", "before": json.dumps(before, ensure_ascii=False),
            "after": json.dumps(after, ensure_ascii=False)}  # fmt: skip


def _report(code: str, office: Changes, contacts: ContactChanges) -> None:
    for name, (old, new) in office.items():
        log.warning("clean_text: office %s field %s: %r -> %r", code, name, old, new)
    for cid, changes in contacts:
        for name, (old, new) in changes.items():
            log.warning("clean_text: office %s contact %s field %s: %r -> %r", code, cid, name, old, new)


def upgrade() -> None:
    conn = op.get_bind()
    contacts = _contact_changes(conn)
    cleaned: list[tuple[str, list[str]]] = []
    gen: int | None = None
    for row in conn.execute(sa.select(office_t).order_by(office_t.c.region_code)).mappings().all():
        office = _changes(row, OFFICE_FIELDS)
        theirs = contacts.get(row["id"], [])
        if not office and not theirs:
            continue
        if gen is None:
            gen = _next_generation(conn)
        values: dict[str, Any] = {k: new for k, (_, new) in office.items()}
        values.update(version=row["version"] + 1, updated_at=clock.now(), updated_by=ACTOR)
        if gen is not None:
            values["gen"] = gen
        conn.execute(sa.update(office_t).where(office_t.c.id == row["id"]).values(values))
        conn.execute(sa.insert(change_t).values(_audit(row["region_code"], office, theirs)))
        _report(row["region_code"], office, theirs)
        cleaned.append((row["region_code"], [*office, *(f"contact.{k}" for _, ch in theirs for k in ch)]))
    if cleaned and conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify('bohai_directory', '')"))  # running instances reload now
    if cleaned:
        shown = "; ".join(f"{code} ({', '.join(fields)})" for code, fields in cleaned)
        log.warning("clean_text: cleaned the text of %d offices: %s", len(cleaned), shown)


def downgrade() -> None:
    """Nothing to undo: the removed characters were never meant to be stored (the audit rows keep them)."""
