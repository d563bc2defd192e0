"""The store's part for the audit trail's operator commands: verify the chains, export a signed archive and mark
it written, prune archived rows past their keeping time (each of the last two audited in the chain itself); and
the audit row of a bulk export of the directory.

The chained writer and the checks themselves are :mod:`directory.store.auditlog`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from directory import clock
from directory.store import auditlog
from directory.store.engine import Database


class AuditTrail(Database):
    """Verify, export and prune the audit chains."""

    def verify_audit(self) -> auditlog.Report:
        """Check every audit chain (``bohai audit verify``)."""
        with self.begin() as conn:  # a write transaction: the database's own key may be made on first use
            return auditlog.verify(conn, self.audit_key_in_force(conn))

    def export_audit(self, before: dt.datetime) -> dict[str, Any]:
        """The signed archive of the audit rows written before ``before`` (aware); nothing is marked yet."""
        with self.begin() as conn:
            return auditlog.export_rows(conn, self.audit_key_in_force(conn), before.astimezone(dt.UTC))

    def mark_audit_archived(self, archive: Mapping[str, Any], actor: str, path: str) -> None:
        """Record that ``archive`` is written (to ``path``), so its rows may be pruned once old enough."""
        with self.begin() as conn:
            auditlog.mark_archived(conn, archive)
            parts = {c: v["to_seq"] for c, v in archive["chains"].items()}
            after = {"file": path, "rows": len(archive["rows"]), "chains": parts}
            self.audit(conn, actor, "audit", archive["before"][:10], "export", None, after)

    def prune_audit(self, before: dt.datetime, keep_days: int, actor: str) -> auditlog.Pruned:
        """Remove archived audit rows written before ``before`` if at least ``keep_days`` old (all or nothing)."""
        oldest = clock.now() - dt.timedelta(days=keep_days)
        with self.begin() as conn:
            result = auditlog.prune(conn, before.astimezone(dt.UTC), oldest)
            after = {"rows": result.rows, "chains": result.chains}
            self.audit(conn, actor, "audit", before.date().isoformat(), "prune", None, after)
        return result

    def record_export(self, actor: str, region: str, fmt: str, filename: str, viewer: str) -> None:
        """Audit one bulk export: who, which subtree (``""`` for all), format, the file name it was given and the
        viewer class it was rendered for (which mobiles it shows whole)."""
        with self.begin() as conn:
            after = {"format": fmt, "file": filename, "viewer": viewer}
            self.audit(conn, actor, "export", region or "all", "export", None, after)
