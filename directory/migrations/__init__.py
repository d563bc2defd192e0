"""Alembic migrations of the directory's tables, and the runner that every package's migrations share.

Owns: the directory's DDL (``versions/``) and :class:`Schema`, one package's migrations: its Alembic scripts, its own
version table and its newest revision. ``directory.store`` runs the directory's schema and any a caller passes in
(the liaison service passes its own), programmatically (no alembic.ini) and in the caller's transaction, which on
PostgreSQL holds an advisory lock so that two instances starting at once never migrate concurrently.

Each package keeps its own version table, so the directory never meets a revision it does not know: it opens and
upgrades a database that also holds another package's tables exactly as one that does not.

``HEAD`` (and :attr:`Schema.head`) names the newest revision, so that opening an up-to-date database needs no
Alembic import (~10 MB of modules: Alembic, Mako, Pygments); a test checks each against Alembic's own view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

HEAD = "0008"


@dataclass(frozen=True)
class Schema:
    """One package's migrations. ``scripts`` is the folder with ``env.py`` and ``versions/``.

    ``adopt`` = (table, revision) serves databases written before the package had migrations of its own, when its
    tables were created under another package's revision: if ``table`` exists but this version table does not, the
    tables are taken over as they stand (stamped ``revision``, which must create exactly them) instead of created.
    """

    name: str
    scripts: Path
    head: str
    version_table: str = "alembic_version"
    adopt: tuple[str, str] | None = None

    def revision(self, conn: Connection) -> str | None:
        """The revision the database is at (None for a database without this schema)."""
        if not sa.inspect(conn).has_table(self.version_table):
            return None
        rows = conn.execute(sa.text(f"SELECT version_num FROM {self.version_table}")).scalars().all()
        return rows[0] if len(rows) == 1 else None

    def upgrade(self, conn: Connection, target: str | None = None) -> None:
        """Create or upgrade this schema on ``conn`` (inside the caller's transaction) to ``target`` (default: the
        newest revision; an older one serves bringing an old backup forward)."""
        current = self.revision(conn)
        if current == (target or self.head):
            return
        from alembic import command  # only when there is something to do (see the module docstring)
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(self.scripts))
        cfg.attributes["connection"] = conn
        cfg.attributes["version_table"] = self.version_table
        if current is None and self.adopt is not None and sa.inspect(conn).has_table(self.adopt[0]):
            command.stamp(cfg, self.adopt[1])
        command.upgrade(cfg, target or "head")


DIRECTORY = Schema("directory", Path(__file__).resolve().parent, HEAD)
