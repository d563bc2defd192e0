"""Alembic migrations of the whole database schema (directory and liaison tables).

Owns: every DDL statement. ``directory.store.migrate`` runs them programmatically (no alembic.ini needed), under a
PostgreSQL advisory lock so that two instances starting at once never migrate concurrently.
"""
