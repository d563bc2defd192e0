"""The Alembic migrations and the SQLModel classes describe the same schema (tables, columns, nullability), each
package's migrations create only its own tables, and each ``HEAD`` constant is Alembic's head."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import directory.models
import liaison.keys
import liaison.letters.models
import liaison.mail.models
import liaison.meetings.models
import liaison.verify.models
import liaison.workdays.models
from directory.migrations import DIRECTORY, Schema
from directory.store import Store, open_store
from liaison.migrations import LIAISON

VERSION_TABLES = {DIRECTORY.version_table, LIAISON.version_table}
LIAISON_MODELS = (
    liaison.letters.models,
    liaison.mail.models,
    liaison.meetings.models,
    liaison.verify.models,
    liaison.workdays.models,
    liaison.keys,
)  # importing them registers their tables


def _tables_of(module: object) -> set[str]:
    return {
        cls.__tablename__
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, SQLModel)
        and cls.__module__ == getattr(module, "__name__", "")
        and hasattr(cls, "__table__")
    }


def test_migrated_schema_matches_the_models(store: Store) -> None:
    assert set().union(*map(_tables_of, LIAISON_MODELS)) == set(SQLModel.metadata.tables) - _tables_of(directory.models)
    inspector = sa.inspect(store.engine)
    db_tables = set(inspector.get_table_names()) - VERSION_TABLES
    model_tables = set(SQLModel.metadata.tables)
    assert db_tables == model_tables, (
        f"only in the database: {db_tables - model_tables}; only in the models: {model_tables - db_tables}"
    )
    for name in sorted(model_tables):
        db_cols = {c["name"]: c for c in inspector.get_columns(name)}
        model_cols = SQLModel.metadata.tables[name].columns
        assert set(model_cols.keys()) == set(db_cols), f"{name}: {set(model_cols.keys()) ^ set(db_cols)}"
        for col in model_cols:
            if not col.primary_key:
                assert db_cols[col.name]["nullable"] == col.nullable, f"{name}.{col.name} nullability differs"


def test_the_directory_alone_creates_only_its_own_tables(tmp_path: Path) -> None:
    """A directory-only store (no liaison schema passed) has the directory's tables and version table, nothing else;
    the liaison service opening it later adds its own."""
    url = f"sqlite:///{tmp_path / 'directory.sqlite3'}"
    directory_tables = _tables_of(directory.models)
    tables = {"region", "region_alias", "office", "contact", "account", "api_token", "app_password", "change"}
    tables |= {"web_session", "login_event", "password_history", "recovery_code"}
    assert directory_tables == tables | {"office_change", "meta", "error_report", "audit_chain"}
    store = open_store(url)
    try:
        assert set(sa.inspect(store.engine).get_table_names()) == directory_tables | {DIRECTORY.version_table}
    finally:
        store.close()
    from liaison.database import open_store as open_liaison_store

    store = open_liaison_store(url)
    try:
        tables = set(sa.inspect(store.engine).get_table_names())
        assert tables == set(SQLModel.metadata.tables) | VERSION_TABLES
        with store.read() as conn:
            assert DIRECTORY.revision(conn) == DIRECTORY.head and LIAISON.revision(conn) == LIAISON.head
    finally:
        store.close()


@pytest.mark.parametrize("schema", [DIRECTORY, LIAISON], ids=lambda s: s.name)
def test_head_constant_is_alembics_head(schema: Schema) -> None:
    """``HEAD`` lets an up-to-date database open without importing Alembic; it must be the newest script's
    revision, or a new migration would never run."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(schema.scripts))
    assert ScriptDirectory.from_config(cfg).get_heads() == [schema.head]
