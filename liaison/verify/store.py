"""The SQL of verification campaigns.

Owns: every query on ``verify_campaign``, ``verify_item``, ``verify_correction`` and ``verify_attempt``, and the
bounce hook the inbound face calls (:func:`mark_bounced`, which reads the outbox row's ``ref``). Reads return
frozen dataclasses. Writes run inside the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory import clock
from liaison.mail.models import outbox_t
from liaison.verify.models import attempt_t, campaign_t, correction_t, item_t

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    region_code: str
    title: str
    due_on: dt.date
    expires_at: dt.datetime
    remind_days: str
    reminders_sent: int
    escalated_at: dt.datetime | None
    state: str
    created_at: dt.datetime
    created_by: str
    closed_at: dt.datetime | None
    closed_by: str


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    campaign_id: int
    region_code: str
    channel: str
    address: str
    state: str
    base_version: int
    note: str
    answered_at: dt.datetime | None
    reminded_at: dt.datetime | None
    escalated_at: dt.datetime | None
    campaign_state: str = "open"
    due_on: dt.date | None = None
    expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    item_id: int
    proposed: dict[str, str]
    base_version: int
    state: str
    submitted_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str
    reason: str


_TIMES = ("expires_at", "escalated_at", "created_at", "closed_at", "answered_at", "reminded_at", "submitted_at",
          "decided_at")  # fmt: skip


def _values(row: Mapping[Any, Any], fields: Iterable[str]) -> dict[str, Any]:
    out = {}
    for name in fields:
        if name in row:
            value = row[name]
            out[name] = clock.aware(value) if name in _TIMES and value is not None else value
    return out


def _campaign(row: Mapping[Any, Any]) -> Campaign:
    return Campaign(**_values(row, (f.name for f in dataclasses.fields(Campaign))))


def _item(row: Mapping[Any, Any]) -> Item:
    return Item(**_values(row, (f.name for f in dataclasses.fields(Item))))


def _correction(row: Mapping[Any, Any]) -> Correction:
    values = _values(row, (f.name for f in dataclasses.fields(Correction)))
    values["proposed"] = json.loads(values["proposed"])
    return Correction(**values)


_ITEM_JOINED = (
    sa.select(item_t, campaign_t.c.state.label("campaign_state"), campaign_t.c.due_on, campaign_t.c.expires_at)
    .join(campaign_t, campaign_t.c.id == item_t.c.campaign_id)
)  # fmt: skip


# -- campaigns --------------------------------------------------------------------------------------------------------


def insert_campaign(conn: Connection, **values: Any) -> int:
    values = {"reminders_sent": 0, "state": "open", "closed_by": "", **values}
    return int(conn.execute(sa.insert(campaign_t).values(**values).returning(campaign_t.c.id)).scalar_one())


def insert_items(conn: Connection, items: Sequence[Mapping[str, object]]) -> None:
    for start in range(0, len(items), CHUNK):
        conn.execute(sa.insert(item_t), list(items[start : start + CHUNK]))


def open_campaign_regions(conn: Connection) -> list[str]:
    query = sa.select(campaign_t.c.region_code).where(campaign_t.c.state == "open")
    return [str(c) for c in conn.execute(query).scalars()]


def campaign(conn: Connection, campaign_id: int, *, lock: bool = False) -> Campaign | None:
    query = sa.select(campaign_t).where(campaign_t.c.id == campaign_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return _campaign(row) if row is not None else None


def campaigns(conn: Connection, prefix: str = "", limit: int = 200) -> list[Campaign]:
    """Newest first; ``prefix`` keeps the campaigns of regions whose code starts with it (a province's two digits)."""
    query = sa.select(campaign_t).order_by(campaign_t.c.id.desc()).limit(limit)
    if prefix:
        query = query.where(campaign_t.c.region_code.startswith(prefix))
    return [_campaign(r) for r in conn.execute(query).mappings()]


def latest_touching(conn: Connection, prefix: str) -> Campaign | None:
    """The newest campaign of the whole directory or of a region under ``prefix`` ("" : any campaign)."""
    query = sa.select(campaign_t).order_by(campaign_t.c.id.desc()).limit(1)
    if prefix:
        query = query.where(sa.or_(campaign_t.c.region_code.startswith(prefix), campaign_t.c.region_code == ""))
    row = conn.execute(query).mappings().first()
    return _campaign(row) if row is not None else None


def answers_per_day(
    conn: Connection, campaign_id: int, bounds: Sequence[dt.datetime], prefix: str = ""
) -> tuple[int, list[int]]:
    """How many offices a campaign asked (under ``prefix``), and how many answered in each interval
    ``bounds[i] <= answered_at < bounds[i + 1]`` (one scan: the bucket is a CASE over the bounds)."""
    where = [item_t.c.campaign_id == campaign_id]
    if prefix:
        where.append(item_t.c.region_code.startswith(prefix))
    total = conn.execute(sa.select(sa.func.count()).select_from(item_t).where(*where)).scalar_one()
    buckets = [0] * max(0, len(bounds) - 1)
    if not buckets:
        return int(total), buckets
    at = item_t.c.answered_at
    bucket = sa.case(*[(at < bound, i - 1) for i, bound in enumerate(bounds) if i], else_=-1)
    query = (
        sa.select(bucket.label("b"), sa.func.count()).where(*where, at.is_not(None), at >= bounds[0]).group_by(bucket)
    )
    for b, n in conn.execute(query):
        if 0 <= int(b) < len(buckets):
            buckets[int(b)] = int(n)
    return int(total), buckets


def counts(conn: Connection, campaign_id: int) -> dict[str, int]:
    query = (
        sa.select(item_t.c.state, sa.func.count()).where(item_t.c.campaign_id == campaign_id).group_by(item_t.c.state)
    )
    return {str(state): int(n) for state, n in conn.execute(query)}


def close(conn: Connection, campaign_id: int, actor: str, now: dt.datetime) -> None:
    conn.execute(
        sa.update(campaign_t)
        .where(campaign_t.c.id == campaign_id)
        .values(state="closed", closed_at=now, closed_by=actor[:100])
    )


def set_campaign(conn: Connection, campaign_id: int, **values: Any) -> None:
    conn.execute(sa.update(campaign_t).where(campaign_t.c.id == campaign_id).values(**values))


def due_campaigns(conn: Connection, *, skip_locked: bool) -> list[Campaign]:
    """Open campaigns, each locked for this transaction (others skip it on PostgreSQL: one instance follows up)."""
    query = sa.select(campaign_t).where(campaign_t.c.state == "open").order_by(campaign_t.c.id)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [_campaign(r) for r in conn.execute(query).mappings()]


# -- items ------------------------------------------------------------------------------------------------------------


def items(conn: Connection, campaign_id: int, states: Sequence[str] = ()) -> list[Item]:
    query = _ITEM_JOINED.where(item_t.c.campaign_id == campaign_id).order_by(item_t.c.region_code)
    if states:
        query = query.where(item_t.c.state.in_(states))
    return [_item(r) for r in conn.execute(query).mappings()]


def item(conn: Connection, item_id: int, *, lock: bool = False) -> Item | None:
    query = _ITEM_JOINED.where(item_t.c.id == item_id)
    if lock:
        query = query.with_for_update(of=item_t)
    row = conn.execute(query).mappings().first()
    return _item(row) if row is not None else None


def item_by_token(conn: Connection, token_hash: str) -> Item | None:
    row = conn.execute(_ITEM_JOINED.where(item_t.c.token_hash == token_hash)).mappings().first()
    return _item(row) if row is not None else None


def item_by_code(conn: Connection, region_code: str, code_hash: str) -> Item | None:
    """The newest item of ``region_code`` whose fax short code hashes to ``code_hash``."""
    query = (
        _ITEM_JOINED.where(item_t.c.region_code == region_code, item_t.c.code_hash == code_hash)
        .order_by(item_t.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    return _item(row) if row is not None else None


def set_item(conn: Connection, item_id: int, **values: Any) -> None:
    conn.execute(sa.update(item_t).where(item_t.c.id == item_id).values(**values))


def set_items(conn: Connection, ids: Sequence[int], **values: Any) -> None:
    for start in range(0, len(ids), CHUNK):
        conn.execute(sa.update(item_t).where(item_t.c.id.in_(ids[start : start + CHUNK])).values(**values))


def queue_items(conn: Connection, prefix: str, states: Sequence[str]) -> list[Item]:
    """Items of open and closed campaigns in ``states`` under ``prefix`` (the editor's queue)."""
    query = _ITEM_JOINED.where(item_t.c.state.in_(states)).order_by(item_t.c.id)
    if prefix:
        query = query.where(item_t.c.region_code.startswith(prefix))
    return [_item(r) for r in conn.execute(query.limit(500)).mappings()]


# -- corrections ------------------------------------------------------------------------------------------------------


def insert_correction(conn: Connection, item_id: int, proposed: Mapping[str, str], base_version: int) -> int:
    values = {
        "item_id": item_id,
        "proposed": json.dumps(dict(proposed), ensure_ascii=False),
        "base_version": base_version,
        "state": "pending",
        "submitted_at": clock.now(),
        "decided_by": "",
        "reason": "",
    }
    return int(conn.execute(sa.insert(correction_t).values(**values).returning(correction_t.c.id)).scalar_one())


def correction(conn: Connection, correction_id: int, *, lock: bool = False) -> Correction | None:
    query = sa.select(correction_t).where(correction_t.c.id == correction_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return _correction(row) if row is not None else None


def corrections_of(conn: Connection, item_ids: Sequence[int], state: str = "pending") -> dict[int, Correction]:
    """The newest correction in ``state`` per item."""
    out: dict[int, Correction] = {}
    for start in range(0, len(item_ids), CHUNK):
        query = (
            sa.select(correction_t)
            .where(correction_t.c.item_id.in_(item_ids[start : start + CHUNK]), correction_t.c.state == state)
            .order_by(correction_t.c.id)
        )
        for row in conn.execute(query).mappings():
            c = _correction(row)
            out[c.item_id] = c
    return out


def decide(conn: Connection, correction_id: int, state: str, actor: str, reason: str, now: dt.datetime) -> bool:
    """Mark a pending correction decided; False if it was decided already (by someone else, meanwhile)."""
    result = conn.execute(
        sa.update(correction_t)
        .where(correction_t.c.id == correction_id, correction_t.c.state == "pending")
        .values(state=state, decided_by=actor[:100], decided_at=now, reason=reason[:500])
    )
    return result.rowcount == 1


# -- throttles --------------------------------------------------------------------------------------------------------


def attempts_since(conn: Connection, key: str, since: dt.datetime) -> int:
    query = sa.select(sa.func.count()).select_from(attempt_t).where(attempt_t.c.key == key, attempt_t.c.at >= since)
    return int(conn.execute(query).scalar_one())


def add_attempt(conn: Connection, key: str, at: dt.datetime) -> None:
    conn.execute(sa.insert(attempt_t).values(key=key[:100], at=at))


def prune_attempts(conn: Connection, before: dt.datetime) -> None:
    conn.execute(sa.delete(attempt_t).where(attempt_t.c.at < before))


# -- bounces ----------------------------------------------------------------------------------------------------------

KINDS = ("verify", "verify_remind")


def mark_bounced(conn: Connection, outbox_id: int, text: str) -> list[int]:
    """Inbound bounce hook: a notice or reminder of a campaign bounced → its office's item is ``bounced`` (邮箱退信)
    and shows in the editor's queue. Returns the ids of the items marked."""
    row = conn.execute(sa.select(outbox_t.c.kind, outbox_t.c.ref).where(outbox_t.c.id == outbox_id)).first()
    if row is None or row.kind not in KINDS or not str(row.ref or "").startswith("verify:"):
        return []
    _, campaign_id, region_code = str(row.ref).split(":", 2)
    query = sa.select(item_t.c.id).where(
        item_t.c.campaign_id == int(campaign_id),
        item_t.c.region_code == region_code,
        item_t.c.state.in_(("pending", "overdue", "escalated")),
    )
    ids = [int(i) for i in conn.execute(query).scalars()]
    if ids:
        set_items(conn, ids, state="bounced", note=f"邮箱退信：{text}"[:1000])
    return ids
