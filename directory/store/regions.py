"""Regions as stored: the tree of the current edition, applying a division update, and the aliases of retired codes.

Owns: reading the stored tree and which office sits where (for :func:`directory.divisions.plan`), applying a plan in
one transaction (regions added and changed, offices moved with an audit row each, aliases written, retired regions
removed, the change counter moved with the ``regions_generation`` mark that makes every Snapshot holder load in full,
and the ``regions_edition`` mark that stops the bundled edition from being loaded back over the update), and looking
up the live alias of an old code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory import clock
from directory.divisions import Plan
from directory.models import RegionAlias
from directory.regions import Division
from directory.store.engine import Database, office_t, put_meta, region_t

region_alias_t = RegionAlias.__table__  # type: ignore[attr-defined]

EDITION_KEY = "regions_edition"  # set once an edition other than the bundled one was applied
REGIONS_GENERATION_KEY = "regions_generation"  # the change counter value of the last change of the region tree


class Regions(Database):
    """Reads and writes of the region tree."""

    def divisions(self) -> dict[str, Division]:
        with self.read() as conn:
            rows = conn.execute(sa.select(region_t)).mappings()
            return {r["code"]: Division(**{k: r[k] for k in _DIVISION_FIELDS}) for r in rows}

    def office_places(self) -> dict[str, tuple[int, str]]:
        """Region code → (office id, unit name) of every office."""
        with self.read() as conn:
            rows = conn.execute(sa.select(office_t.c.region_code, office_t.c.id, office_t.c.unit_name))
            return {code: (oid, unit) for code, oid, unit in rows}

    def regions_generation(self) -> int:
        return int(self.get_meta(REGIONS_GENERATION_KEY) or 0)

    def apply_divisions(self, plan: Plan, edition: str, actor: str, alias_days: int = 365) -> int:
        """Apply ``plan`` (made from the stored tree) in one transaction; returns the new generation."""
        now = clock.now()
        with self.begin() as conn:
            for division in plan.added:
                conn.execute(sa.insert(region_t).values(**_values(division)))
            for division in plan.changed:
                conn.execute(sa.update(region_t).where(region_t.c.code == division.code).values(**_values(division)))
            for move in plan.moves:
                self._move(conn, move.old_code, move.new_code, actor, now)
            self._aliases(conn, plan.aliases, now + dt.timedelta(days=alias_days), now)
            for division in plan.retired:  # deepest first
                conn.execute(sa.delete(region_t).where(region_t.c.code == division.code))
            touched = [m.new_code for m in plan.moves] + [code for code, _ in plan.renamed_offices]
            gen = self.bump_generation(conn, touched, removed=[m.old_code for m in plan.moves])  # office_change
            put_meta(conn, REGIONS_GENERATION_KEY, str(gen))
            put_meta(conn, EDITION_KEY, edition)
            self.audit(conn, actor, "regions", edition, "update", None, _summary(plan))
        return gen

    def _move(self, conn: Connection, old: str, new: str, actor: str, now: dt.datetime) -> None:
        conn.execute(
            sa.update(office_t)
            .where(office_t.c.region_code == old)
            .values(region_code=new, version=office_t.c.version + 1, updated_at=now, updated_by=actor)
        )
        self.audit(conn, actor, "office", new, "move", {"region_code": old}, {"region_code": new})

    def _aliases(self, conn: Connection, aliases: dict[str, str], until: dt.datetime, now: dt.datetime) -> None:
        for old, new in aliases.items():
            # an alias that led to a code retired now leads on to its successor
            conn.execute(sa.update(region_alias_t).where(region_alias_t.c.new_code == old).values(new_code=new))
            conn.execute(sa.delete(region_alias_t).where(region_alias_t.c.old_code == old))
            conn.execute(sa.insert(region_alias_t).values(old_code=old, new_code=new, until=until, created_at=now))

    def live_aliases(self) -> dict[str, tuple[str, ...]]:
        """Code → the retired codes whose aliases lead to it and last (read with every full Snapshot load)."""
        with self.read() as conn:
            rows = conn.execute(sa.select(region_alias_t).order_by(region_alias_t.c.old_code)).mappings().all()
        out: dict[str, tuple[str, ...]] = {}
        now = clock.now()
        for r in rows:
            if clock.aware(r["until"]) > now:
                out[r["new_code"]] = (*out.get(r["new_code"], ()), r["old_code"])
        return out

    def alias_of(self, code: str, now: dt.datetime | None = None) -> str | None:
        """The code a retired ``code`` now stands for, while its alias lasts."""
        moment = now or clock.now()
        with self.read() as conn:
            row = conn.execute(
                sa.select(region_alias_t.c.new_code, region_alias_t.c.until).where(region_alias_t.c.old_code == code)
            ).first()
        if row is None or clock.aware(row.until) <= moment:
            return None
        return str(row.new_code)


_DIVISION_FIELDS = ("code", "name", "level", "parent_code", "province_code")


def _values(d: Division) -> dict[str, Any]:
    return {k: getattr(d, k) for k in _DIVISION_FIELDS}


def _summary(plan: Plan) -> dict[str, Any]:
    return {
        "added": len(plan.added),
        "changed": len(plan.changed),
        "retired": [d.code for d in plan.retired],
        "moves": {m.old_code: m.new_code for m in plan.moves},
    }
