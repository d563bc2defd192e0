"""Starting a campaign: one item per office, one notice per office with e-mail or fax (bulk-queued in one
transaction), offices with neither listed for phoning, tokens and codes stored only hashed, overlapping campaigns
refused, bad input named; and ``bohai verify start|status|list|close``. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from directory.errors import Conflict, NotFound, ValidationFailed
from directory.snapshot import SnapshotHolder
from directory.store import Store
from liaison.verify import campaign
from liaison.verify.models import campaign_t, item_t
from tests.support.letters import run
from tests.support.verify import (
    CITY,
    COUNTY,
    EMAIL_A,
    FAX_ONLY,
    NEITHER,
    OTHER_PROVINCE,
    add_world,
    fax_code_for,
    item_states,
    queued,
    settings_for,
    token_for,
)


def messages(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return " ".join(str(e) for e in exc.value.errors)


def start(store: Store, region: str = COUNTY, within: int = 10, **kw: object) -> campaign.Started:
    snap = SnapshotHolder(store).current
    return campaign.start_campaign(
        store, settings_for(store.url), snap, region_code=region, due_within=within, actor="test", **kw  # type: ignore[arg-type]
    )


def test_start_queues_one_notice_per_reachable_office(store: Store) -> None:
    add_world(store)
    started = start(store)
    assert (started.emails, started.faxes, started.phones) == (4, 1, (NEITHER,))
    states = item_states(store)
    assert set(states) == {COUNTY, EMAIL_A, "130102002000", "130102003000", FAX_ONLY, NEITHER}
    assert set(states.values()) == {"pending"}
    notices = queued(store, "verify")
    assert sorted(r["recipient"] for r in notices) == sorted(
        ["changan@hebei.example", "jianbei@hebei.example", "qingyuan@hebei.example", "guangan@hebei.example",
         "FAX=+8631186000006@fax.gw.example"]
    )  # fmt: skip
    assert len({r["message_id"] for r in notices}) == 5
    assert {r["domain"] for r in notices} == {"hebei.example", "fax.gw.example"}

    token = token_for(store, EMAIL_A)
    code = fax_code_for(store, FAX_ONLY)
    assert len(token) >= 32 and len(code) == 8  # 192-bit token
    with store.read() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(item_t)).mappings()]
        campaign_row = conn.execute(sa.select(campaign_t)).mappings().one()
    dump = repr(rows)
    assert token not in dump and code not in dump, "tokens and codes are stored only hashed"
    assert campaign.hash_token(token) in dump and campaign.hash_code(FAX_ONLY, code) in dump
    assert campaign_row["due_on"] > dt.date.today()


def test_bad_requests_are_named_and_write_nothing(store: Store) -> None:
    add_world(store)
    with pytest.raises(ValidationFailed) as exc:
        start(store, within=0)
    assert "核对期限" in messages(exc)
    with pytest.raises(NotFound, match="999999999999"):
        start(store, region="999999999999")
    with pytest.raises(ValidationFailed) as exc:
        start(store, region="130104000000")  # 桥西区: no offices in this world
    assert "没有任何单位记录" in messages(exc)
    snap = SnapshotHolder(store).current
    with pytest.raises(ValidationFailed) as exc:
        campaign.start_campaign(
            store, settings_for(store.url, max_offices_editor=3), snap, region_code=COUNTY, due_within=5,
            actor="test", editor=True,
        )  # fmt: skip
    assert "max_offices_editor" in messages(exc)
    assert queued(store) == [] and item_states(store) == {}
    start(store, region=COUNTY)
    with pytest.raises(Conflict, match="重叠"):
        start(store, region=CITY)  # contains the open campaign's region
    with pytest.raises(Conflict, match="重叠"):
        start(store, region=EMAIL_A)  # lies within it
    with pytest.raises(Conflict, match="重叠"):
        start(store, region=campaign.ALL)  # every office
    start(store, region=OTHER_PROVINCE)  # elsewhere: fine
    assert len(queued(store, "verify")) == 6


def test_cli_start_status_list_close(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    add_world(store)
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    monkeypatch.setenv("BOHAI_FAX_GATEWAY", "fax.gw.example")
    code, out, err = run(capsys, "verify", "start", "--region", COUNTY, "--due-within", "10")
    assert code == 0, err
    campaign_id = out.splitlines()[0]
    assert "6 个单位" in err and "电子邮件 4 份、传真 1 份" in err and f"电话：{NEITHER}" in err

    code, out, _ = run(capsys, "verify", "status", campaign_id)
    assert code == 0 and "待核对 6" in out and f"{NEITHER}\t电话（无邮箱和传真）\t待核对" in out
    code, out, _ = run(capsys, "verify", "list")
    assert code == 0 and f"{campaign_id}\t{COUNTY}\t进行中" in out

    code, _, err = run(capsys, "verify", "start", "--region", CITY)
    assert code == 1 and "重叠" in err
    code, _, err = run(capsys, "verify", "close", campaign_id)
    assert code == 0 and "已结束" in err
    code, _, err = run(capsys, "verify", "close", campaign_id)
    assert code == 1 and "已经结束" in err
    code, _, err = run(capsys, "verify", "status", "99999")
    assert code == 1 and "不存在" in err
    code, out, _ = run(capsys, "verify", "list")
    assert f"{campaign_id}\t{COUNTY}\t已结束" in out
