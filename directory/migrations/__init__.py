"""Alembic migrations of the whole database schema (directory and liaison tables).

Owns: every DDL statement. ``directory.store.migrate`` runs them programmatically (no alembic.ini needed), under a
PostgreSQL advisory lock so that two instances starting at once never migrate concurrently.

``HEAD`` names the newest revision, so that opening an up-to-date database needs no Alembic import (~10 MB of
modules: Alembic, Mako, Pygments); a test checks it against Alembic's own view of the scripts.
"""

HEAD = "inbound_limits"
