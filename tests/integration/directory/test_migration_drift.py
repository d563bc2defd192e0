"""The Alembic migration and the SQLModel classes describe the same schema (tables, columns, nullability)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import directory.models
import liaison.models  # noqa: F401  (registers the liaison tables in SQLModel.metadata)
from directory.store import Store


def test_migrated_schema_matches_the_models(store: Store) -> None:
    assert directory.models.Office.__tablename__ == "office"
    inspector = sa.inspect(store.engine)
    db_tables = set(inspector.get_table_names()) - {"alembic_version"}
    model_tables = {t for t in SQLModel.metadata.tables}
    assert model_tables <= db_tables, f"tables only in the models: {model_tables - db_tables}"
    for name in sorted(model_tables):
        db_cols = {c["name"]: c for c in inspector.get_columns(name)}
        model_cols = SQLModel.metadata.tables[name].columns
        assert set(model_cols.keys()) == set(db_cols), f"{name}: {set(model_cols.keys()) ^ set(db_cols)}"
        for col in model_cols:
            if not col.primary_key:
                assert db_cols[col.name]["nullable"] == col.nullable, f"{name}.{col.name} nullability differs"


def test_head_constant_is_alembics_head() -> None:
    """``directory.migrations.HEAD`` lets an up-to-date database open without importing Alembic; it must be the
    newest script's revision, or a new migration would never run."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from directory.migrations import HEAD
    from directory.store import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]
