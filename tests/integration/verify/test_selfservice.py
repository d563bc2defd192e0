"""The offices' self-service page and the editors' queue over real HTTP (127.0.0.1:0), SQLite and PostgreSQL.

A forged, used, expired or closed link gets a clear 404/410 page and changes nothing; the page never sets a cookie;
fax short codes count only with their own office's region code and wrong ones are throttled per office and per
client; a correction is validated like an edit (messages next to the fields) and waits for the editor; approval is an
audited edit that search sees, rejection changes nothing; the office is mailed either way; editors see only their
province.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from directory import clock
from directory.clock import ManualClock
from directory.search import search
from directory.store import Store
from directory.validate import OfficeData
from liaison.verify.models import correction_t
from tests.support.verify import (
    COUNTY,
    EMAIL_A,
    EMAIL_B,
    EMAIL_C,
    FAX_ONLY,
    NEITHER,
    Pages,
    add_world,
    fax_code_for,
    item_states,
    pages,
    parsed,
    queued,
    settings_for,
    text_of,
    token_for,
)

CORRECTION_RE = re.compile(r'id="correction-(\d+)" data-code="(\d{12})"')


async def started(p: Pages) -> int:
    add_world(p.store)
    await p.holder.refresh()
    await p.login("hebei")
    resp = await p.post("/verify", {"region": COUNTY, "due_within": "10"})
    assert resp.status == 303, await resp.text()
    assert p.woken, "starting a campaign wakes the outbox"
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def corrections(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(correction_t)).scalar_one())


async def test_links_confirm_once_and_refuse_forged_used_expired(store: Store) -> None:
    async with pages(store, settings_for(store.url)) as p:
        campaign_id = await started(p)
        c = p.client
        token = token_for(store, EMAIL_A)

        resp = await c.get(f"/check?t={token}")
        page = await resp.text()
        assert resp.status == 200 and "建北街道流动人口服务站" in page and "信息无误" in page
        assert "青园街道" not in page, "a token shows its own office only"
        assert "Set-Cookie" not in resp.headers and resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Referrer-Policy"] == "no-referrer"

        for forged in ("A" * 32, token[:-1] + ("A" if token[-1] != "A" else "B"), "", "x" * 500, "../../etc"):
            resp = await c.get("/check", params={"t": forged})
            assert resp.status == 404 and "链接无效" in await resp.text()
            resp = await c.post("/check/confirm", data={"t": forged})
            assert resp.status == 404
        before = store.get_office(EMAIL_A)
        assert before is not None and before["verified_by"] == ""

        resp = await c.post("/check/confirm", data={"t": token})
        assert resp.status == 200 and "已确认" in await resp.text()
        assert "Set-Cookie" not in resp.headers
        after = store.get_office(EMAIL_A)
        assert after is not None and after["verified_by"] == "本单位自助核对"
        assert clock.local_date(clock.aware(after["verified_at"])) == clock.today()
        assert after["version"] == before["version"], "a confirmation is no edit"
        assert next(h["action"] for h in store.history("office", EMAIL_A)) == "verify"
        assert item_states(store)[EMAIL_A] == "confirmed"

        for method, path in (("get", f"/check?t={token}"), ("post", "/check/confirm"), ("post", "/check/correct")):
            resp = await getattr(c, method)(path, data={"t": token, "phone": "0311-86009999"})
            assert resp.status == 410, path
            assert "不能再次使用" in await resp.text()
        assert store.get_office(EMAIL_A) == after and corrections(store) == 0

        # another office's link is valid until the due date plus the grace period, then gone
        other = token_for(store, EMAIL_B)
        with store.read() as conn:
            from liaison.verify import store as vstore

            c_row = vstore.campaign(conn, campaign_id)
        assert c_row is not None
        with clock.use(ManualClock(c_row.expires_at - dt.timedelta(seconds=1))):
            assert (await c.get(f"/check?t={other}")).status == 200
        with clock.use(ManualClock(c_row.expires_at)):
            resp = await c.get(f"/check?t={other}")
            assert resp.status == 410 and "已过期" in await resp.text()
            assert (await c.post("/check/confirm", data={"t": other})).status == 410
        assert item_states(store)[EMAIL_B] == "pending"

        # a closed campaign's links are gone too
        resp = await p.post(f"/verify/{campaign_id}/close", {})
        assert resp.status == 303
        resp = await c.get(f"/check?t={other}")
        assert resp.status == 410 and "已经结束" in await resp.text()


async def test_fax_code_works_only_with_its_office_and_guessing_is_throttled(store: Store) -> None:
    async with pages(store, settings_for(store.url, code_failures_per_hour=3, client_failures_per_hour=5)) as p:
        await started(p)
        c = p.client
        code = fax_code_for(store, FAX_ONLY)
        resp = await c.get("/check/code")
        assert resp.status == 200 and "核对码" in await resp.text()

        # the right code with another office's region code is wrong
        resp = await c.post("/check/code", data={"r": EMAIL_A, "c": code})
        assert resp.status == 404 and "不正确" in await resp.text()
        resp = await c.post("/check/code", data={"r": FAX_ONLY, "c": code.lower()})
        assert resp.status == 200 and "育才街道流动人口服务站" in await resp.text()

        # three wrong guesses for the office: the fourth try is refused even with the right code
        wrong = "".join("B" if ch != "B" else "C" for ch in code)
        for _ in range(3):
            assert (await c.post("/check/code", data={"r": FAX_ONLY, "c": wrong})).status == 404
        resp = await c.post("/check/code", data={"r": FAX_ONLY, "c": code})
        assert resp.status == 429 and "一小时后再试" in await resp.text()
        resp = await c.post("/check/confirm", data={"r": FAX_ONLY, "c": code})
        assert resp.status == 429
        assert item_states(store)[FAX_ONLY] == "pending"

        # an hour later the office's code works again (the client's 4 failures are older than the hour)
        later = ManualClock(clock.now() + dt.timedelta(hours=1, minutes=1))
        with clock.use(later):
            resp = await c.post("/check/confirm", data={"r": FAX_ONLY, "c": code})
            assert resp.status == 200
        assert item_states(store)[FAX_ONLY] == "confirmed"
        office = store.get_office(FAX_ONLY)
        assert office is not None and office["verified_by"] == "本单位自助核对"

        # one client guessing across offices is throttled too
        with clock.use(later):
            for region in (EMAIL_A, EMAIL_B, EMAIL_C, NEITHER, COUNTY):
                resp = await c.post("/check/code", data={"r": region, "c": "ZZZZZZZ2"})
                assert resp.status == 404
            resp = await c.get("/check", params={"t": "B" * 32})
            assert resp.status == 429


async def test_correction_waits_for_the_editor_then_approval_or_rejection(store: Store) -> None:
    async with pages(store, settings_for(store.url)) as p:
        await started(p)
        c = p.client
        token_b, token_c = token_for(store, EMAIL_B), token_for(store, EMAIL_C)
        before_b = store.get_office(EMAIL_B)
        assert before_b is not None

        # invalid values: messages next to the fields, nothing stored
        form = {"t": token_b, "unit_name": "青园街道流动人口服务站", "phone": "12345", "email": "not-an-address"}
        resp = await c.post("/check/correct", data=form)
        page = await resp.text()
        assert resp.status == 400
        assert re.search(r'id="err-phone">联系电话无法识别', page) and 'id="err-email">电子邮箱格式不正确' in page
        assert 'value="12345"' in page, "the office's input is kept"
        assert corrections(store) == 0 and item_states(store)[EMAIL_B] == "pending"
        resp = await c.post("/check/correct", data={"t": token_b, "unit_name": ""})
        assert resp.status == 400 and 'id="err-unit_name">单位名称不能为空' in await resp.text()

        # a valid correction: stored for the editor, the directory unchanged, the link used up
        fields = {
            "unit_name": "青园街道流动人口服务站", "contact_name": "演示联系人甲", "position": "站长",
            "phone": "0311-86001234", "fax": "", "email": "qingyuan@hebei.example", "address": "", "postal_code": "",
        }  # fmt: skip
        resp = await c.post("/check/correct", data={"t": token_b, **fields})
        assert resp.status == 200 and "更正已提交" in await resp.text()
        assert store.get_office(EMAIL_B) == before_b
        assert item_states(store)[EMAIL_B] == "corrected"
        assert (await c.post("/check/correct", data={"t": token_b, **fields})).status == 410
        assert corrections(store) == 1
        resp = await c.post("/check/correct", data={"t": token_c, **fields, "unit_name": "广安街道服务站"})
        assert resp.status == 200

        # the editor of another province sees nothing and may decide nothing
        await p.login("shandong")
        page = await (await c.get("/verify/queue")).text()
        assert "没有待审核的更正" in page
        await p.login("hebei")
        store.save_office(  # someone edits 广安街道 after the notice went out
            OfficeData(EMAIL_C, "广安街道流动人口服务站", email="guangan@hebei.example", address="演示地址1号"),
            "web:other",
            expected_version=None,
        )
        await p.holder.refresh()
        page = await (await c.get("/verify/queue")).text()
        found = {code: int(cid) for cid, code in CORRECTION_RE.findall(page)}
        assert set(found) == {EMAIL_B, EMAIL_C}
        at_b, at_c = (page.index(f'id="correction-{found[code]}"') for code in (EMAIL_B, EMAIL_C))
        section_b = page[at_b:at_c]
        assert "0311-86001234" in section_b and "0311-86000004" in section_b and "有变动" in section_b
        assert "已被修改过" not in section_b
        assert "已被修改过" in page[at_c:]

        await p.login("shandong")
        resp = await p.post(f"/verify/corrections/{found[EMAIL_B]}", {"action": "approve", **fields})
        assert resp.status == 404
        await p.login("hebei")

        # edit then approve: the editor fixes the position before approving
        version = str(before_b["version"])
        edited = {**fields, "position": "副站长"}
        resp = await p.post(
            f"/verify/corrections/{found[EMAIL_B]}", {"action": "approve", "version": version, **edited}
        )
        assert resp.status == 303, await resp.text()
        office = store.get_office(EMAIL_B)
        assert office is not None
        assert office["phone"] == "+8631186001234"
        assert (office["position"], office["contact_name"]) == ("副站长", "演示联系人甲")
        assert office["verified_by"] == "本单位自助核对，编辑审核"
        actions = [(h["actor"], h["action"]) for h in store.history("office", EMAIL_B)]
        assert ("web:hebei", "update") in actions and ("web:hebei", "verify") in actions
        assert [h.office.region_code for h in search(p.holder.current, "86001234").hits] == [EMAIL_B]
        assert item_states(store)[EMAIL_B] == "approved"
        resp = await p.post(f"/verify/corrections/{found[EMAIL_B]}", {"action": "approve", **fields})
        assert resp.status == 409, "decided once"

        # reject needs a reason; then nothing changes
        before_c = store.get_office(EMAIL_C)
        resp = await p.post(f"/verify/corrections/{found[EMAIL_C]}", {"action": "reject", "reason": " "})
        assert resp.status == 400 and "原因" in await resp.text()
        resp = await p.post(f"/verify/corrections/{found[EMAIL_C]}", {"action": "reject", "reason": "a\r\nBcc: x@y"})
        assert resp.status == 400
        resp = await p.post(f"/verify/corrections/{found[EMAIL_C]}", {"action": "reject", "reason": "单位名称不应简写"})
        assert resp.status == 303
        assert store.get_office(EMAIL_C) == before_c
        assert item_states(store)[EMAIL_C] == "rejected"

        mails = {r["recipient"]: text_of(parsed(r["body"])) for r in queued(store, "verify_decision")}
        assert set(mails) == {"qingyuan@hebei.example", "guangan@hebei.example"}
        assert "已由省级编辑审核采纳" in mails["qingyuan@hebei.example"]
        assert "未被采纳" in mails["guangan@hebei.example"] and "单位名称不应简写" in mails["guangan@hebei.example"]


async def test_campaign_page_lists_offices_to_phone_and_is_scoped(store: Store) -> None:
    async with pages(store, settings_for(store.url)) as p:
        campaign_id = await started(p)
        page = await (await p.client.get(f"/verify/{campaign_id}")).text()
        assert 'id="phone"' in page and NEITHER in page and "跃进街道流动人口服务站" in page
        assert '<td data-state="pending">6</td>' in page
        page = await (await p.client.get("/verify")).text()
        assert f'href="/verify/{campaign_id}"' in page
        await p.login("shandong")
        assert (await p.client.get(f"/verify/{campaign_id}")).status == 404
        assert f'href="/verify/{campaign_id}"' not in await (await p.client.get("/verify")).text()
        resp = await p.post("/verify", {"region": COUNTY, "due_within": "10"})
        assert resp.status == 403
        resp = await p.post("/verify", {"region": "370102000000", "due_within": "abc"})
        assert resp.status == 400 and "核对期限应为工作日数" in await resp.text()
        resp = await p.post("/verify", {"region": "", "due_within": "10"})
        assert resp.status == 400 and "全部地区请填 all" in await resp.text()
        resp = await p.post("/verify", {"region": "all", "due_within": "10"})
        assert resp.status == 403, "an editor cannot ask every office"
