"""Migration 0002 cleans text stored before the character rules, on SQLite and PostgreSQL: line breaks become one
space, controls, bidirectional and zero-width characters go; each changed office gets a new version, an audit row
and the change counter; the log names every region code and field changed, and clean offices are left alone."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from directory.migrations import DIRECTORY, HEAD
from directory.store import Store, contact_t, office_t, open_store
from directory.validate import OfficeData

DIRTY = "130100000000"
CONTACT_ONLY = "130200000000"
CLEAN = "130300000000"
OFFICES = [
    OfficeData(DIRTY, "石家庄市\n流动人口服务管理办公室", position="科长\u202e", address="中华南大街1号\r\n2层\u2028",
               email="sjz@hebei.example"),
    OfficeData(CONTACT_ONLY, "唐山市流动人口服务管理办公室"),
    OfficeData(CLEAN, "秦皇岛市流动人口服务管理办公室", contact_name="ᠬᠠᠷ\u180eᠠ"),
]  # fmt: skip


def back_to_0001(store: Store) -> None:
    """Make the database one from before the text rules: its values are already in, its revision is 0001."""
    with store.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(DIRECTORY.scripts))
        cfg.attributes["connection"] = conn
        cfg.attributes["version_table"] = DIRECTORY.version_table
        command.downgrade(cfg, "0001")


def office(store: Store, code: str) -> dict[str, Any]:
    found = store.get_office(code)
    assert found is not None
    return found


def test_stored_text_is_cleaned_reported_and_audited(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(db_url)
    try:
        store.upsert_offices(OFFICES, "test")  # the store takes OfficeData as given: as old data was written
        store.add_contact(CONTACT_ONLY, "王五\t\u200b", "test", position="科员")
        versions = {code: office(store, code)["version"] for code in (DIRTY, CONTACT_ONLY, CLEAN)}
        changes, generation = store.count_changes(), store.generation()
        back_to_0001(store)
    finally:
        store.close()

    caplog.set_level(logging.WARNING, logger="directory.migrations")
    store = open_store(db_url)
    try:
        with store.read() as conn:
            assert DIRECTORY.revision(conn) == HEAD  # 0002 and every later migration ran
            contact = conn.execute(sa.select(contact_t.c.name, contact_t.c.position)).one()
        dirty = office(store, DIRTY)
        assert (dirty["unit_name"], dirty["position"], dirty["address"]) == (
            "石家庄市 流动人口服务管理办公室", "科长", "中华南大街1号 2层")  # fmt: skip
        assert dirty["version"] == versions[DIRTY] + 1 and dirty["updated_by"] == "migration"
        assert tuple(contact) == ("王五", "科员")
        assert office(store, CLEAN)["version"] == versions[CLEAN]  # Mongolian with its vowel separator stays
        assert office(store, CLEAN)["contact_name"] == "ᠬᠠᠷ\u180eᠠ"

        assert store.count_changes() == changes + 2  # one audit row per changed office
        (audit,) = [h for h in store.history("office", DIRTY, 5) if h["action"] == "clean_text"]
        assert audit["actor"] == "migration"
        assert audit["before"] == {"unit_name": "石家庄市\n流动人口服务管理办公室", "position": "科长\u202e",
                                   "address": "中华南大街1号\r\n2层\u2028"}  # fmt: skip
        assert audit["after"]["unit_name"] == "石家庄市 流动人口服务管理办公室"
        (other,) = [h for h in store.history("office", CONTACT_ONLY, 5) if h["action"] == "clean_text"]
        assert json.dumps(other["after"], ensure_ascii=False) == '{"contacts": [{"id": 1, "name": "王五"}]}'

        assert store.generation() == generation + 1  # running instances reload the changed offices
        with store.read() as conn:
            stamped = conn.execute(sa.select(office_t.c.region_code).where(office_t.c.gen == generation + 1))
            assert set(stamped.scalars()) == {DIRTY, CONTACT_ONLY}
    finally:
        store.close()
    log = caplog.text
    assert f"office {DIRTY} field unit_name" in log and f"office {DIRTY} field address" in log
    assert f"office {CONTACT_ONLY} contact 1 field name" in log
    assert (
        f"cleaned the text of 2 offices: {DIRTY} (unit_name, position, address); {CONTACT_ONLY} (contact.name)" in log
    )
    assert CLEAN not in log
