"""The working-day override table in the database.

Owns: saving a parsed State Council notice (:class:`liaison.workdays.Overrides`) for one year, replacing what was
loaded for that year before (in one transaction, audited), and reading every loaded year back into a
:class:`liaison.workdays.Calendar`.
"""

from __future__ import annotations

import sqlalchemy as sa

from directory import clock
from directory.store import Store
from liaison.workdays.calendar import Calendar, Overrides
from liaison.workdays.models import workday_override_t, workday_year_t


def save_overrides(store: Store, overrides: Overrides, actor: str) -> None:
    """Replace the override rows of ``overrides.year``; the year counts as official from now on."""
    rows = [{"day": d, "year": overrides.year, "workday": False} for d in sorted(overrides.holidays)]
    rows += [{"day": d, "year": overrides.year, "workday": True} for d in sorted(overrides.workdays)]
    with store.begin() as conn:
        conn.execute(sa.delete(workday_override_t).where(workday_override_t.c.year == overrides.year))
        conn.execute(sa.delete(workday_year_t).where(workday_year_t.c.year == overrides.year))
        loaded = {"year": overrides.year, "source": overrides.source, "loaded_at": clock.now()}
        conn.execute(sa.insert(workday_year_t).values(**loaded))
        if rows:
            conn.execute(sa.insert(workday_override_t), rows)
        after = {"holidays": len(overrides.holidays), "workdays": len(overrides.workdays), "source": overrides.source}
        store.audit(conn, actor, "workdays", str(overrides.year), "load", None, after)


def load_calendar(store: Store) -> Calendar:
    """The holidays-package calendar with every year loaded into the override table."""
    with store.read() as conn:
        years = {r.year: r.source for r in conn.execute(sa.select(workday_year_t))}
        days = list(conn.execute(sa.select(workday_override_t)))
    loaded: dict[int, Overrides] = {}
    for year, source in years.items():
        off = frozenset(r.day for r in days if r.year == year and not r.workday)
        make_up = frozenset(r.day for r in days if r.year == year and r.workday)
        loaded[year] = Overrides(year, source, off, make_up)
    return Calendar(overrides=loaded)
