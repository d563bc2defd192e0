"""Alembic environment: runs the migrations on the connection (and version table) that ``Schema.upgrade`` hands in."""

from __future__ import annotations

from alembic import context

attributes = context.config.attributes
context.configure(
    connection=attributes["connection"],
    target_metadata=None,
    render_as_batch=True,
    version_table=attributes["version_table"],
)
with context.begin_transaction():
    context.run_migrations()
