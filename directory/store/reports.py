"""Error reports (``error_report``): staff of any province note a wrong entry; the office's province's editors
close them. Owns only the SQL; every add and close is audited.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from directory import clock
from directory.errors import NotFound
from directory.models import ErrorReport
from directory.store.engine import Database, account_t

error_report_t = ErrorReport.__table__  # type: ignore[attr-defined]
MAX_OPEN_PER_REPORTER = 50  # open reports one account may have at once: a bound on what a single login can queue


class Reports(Database):
    """Reads and writes of ``error_report`` rows."""

    def add_report(self, region_code: str, message: str, reporter: str, contact: str) -> int:
        with self.begin() as conn:
            values = {
                "region_code": region_code,
                "province": region_code[:2],
                "message": message,
                "reporter": reporter,
                "reporter_contact": contact,
                "created_at": clock.now(),
            }
            inserted = conn.execute(sa.insert(error_report_t).values(**values)).inserted_primary_key
            new_id = int(inserted[0]) if inserted else 0
            self.audit(conn, reporter, "office", region_code, "report", None, {"id": new_id, "message": message})
            return new_id

    def open_reports_by(self, reporter: str) -> int:
        with self.read() as conn:
            q = sa.select(sa.func.count()).where(
                error_report_t.c.reporter == reporter, error_report_t.c.closed_at.is_(None)
            )
            return int(conn.execute(q).scalar_one())

    def reports(self, prefix: str, *, closed: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """Reports about offices whose code starts with ``prefix`` ("" for all): open ones, or the latest closed."""
        with self.read() as conn:
            state = error_report_t.c.closed_at.is_not(None) if closed else error_report_t.c.closed_at.is_(None)
            q = sa.select(error_report_t).where(error_report_t.c.region_code.startswith(prefix), state)
            rows = conn.execute(q.order_by(error_report_t.c.id.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]

    def close_report(self, report_id: int, prefix: str, actor: str, note: str) -> dict[str, Any]:
        """Close an open report of an office under ``prefix``; NotFound when there is none (or it is not ours)."""
        with self.begin() as conn:
            mine = (error_report_t.c.id == report_id) & error_report_t.c.region_code.startswith(prefix)
            row = conn.execute(sa.select(error_report_t).where(mine, error_report_t.c.closed_at.is_(None))).first()
            if row is None:
                raise NotFound("没有这条待处理的错误报告（可能已由他人处理）")
            now = clock.now()
            conn.execute(
                sa.update(error_report_t).where(mine).values(closed_at=now, closed_by=actor, closing_note=note)
            )
            self.audit(conn, actor, "office", row.region_code, "report_close", {"id": report_id}, {"note": note})
            return {**row._mapping, "closed_at": now, "closed_by": actor, "closing_note": note}

    def editors_to_tell(self, province: str) -> list[tuple[str, str]]:
        """(user name, e-mail) of the enabled editors of a province who gave an address."""
        with self.read() as conn:
            q = sa.select(account_t.c.username, account_t.c.email).where(
                account_t.c.role == "editor",
                account_t.c.province_code.startswith(province[:2]),
                account_t.c.disabled.is_(False),
                account_t.c.email.is_not(None),
                account_t.c.email != "",
            )
            return [(str(r.username), str(r.email)) for r in conn.execute(q)]

    def mark_report_mailed(self, report_id: int, count: int) -> None:
        with self.begin() as conn:
            conn.execute(sa.update(error_report_t).where(error_report_t.c.id == report_id).values(mailed=count))
