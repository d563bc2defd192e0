"""Alembic migrations of the liaison service's tables.

Owns: every DDL statement of the liaison tables, in its own version table (``liaison_alembic_version``) beside the
directory's, run by ``directory.store`` after the directory's own (``liaison.database.open_store`` passes
:data:`LIAISON`). Databases written before this split hold these tables under the directory's revision 0001 and no
liaison version table; they are adopted as ``liaison_0001``, which creates exactly those tables.

``HEAD`` names the newest revision (see ``directory.migrations``); a test checks it against Alembic's own view.
"""

from __future__ import annotations

from pathlib import Path

from directory.migrations import Schema

HEAD = "liaison_0004"

LIAISON = Schema(
    "liaison",
    Path(__file__).resolve().parent,
    HEAD,
    version_table="liaison_alembic_version",
    adopt=("letter", "liaison_0001"),
)
