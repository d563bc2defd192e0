"""Staff pages to create, change and cancel meetings, through the web face's real login form, session and CSRF."""

from __future__ import annotations

from liaison.meetings import store as meeting_store
from tests.support.meetings import FORM, Staff


async def test_nobody_but_staff_may_write(staff: Staff) -> None:
    await staff.login(None)
    async with staff.client.get("/meetings/new", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
    assert (await staff.post("/meetings/new", FORM)).status == 303  # to the login page
    await staff.login("reader")
    async with staff.client.get("/meetings/new") as resp:
        assert resp.status == 403 and "只有管理员和编辑" in await resp.text()
    assert (await staff.post("/meetings/new", FORM)).status == 403
    await staff.login("e11")
    resp = await staff.post("/meetings/new", FORM)  # host 13 is not this editor's province
    assert resp.status == 403 and "本省" in await resp.text()
    async with staff.client.post("/meetings/new", data=FORM) as resp:  # no CSRF field
        assert resp.status == 403 and "CSRF" in await resp.text()
    assert meeting_store.list_meetings(staff.ctx.store) == [] and staff.outbox() == [] and staff.woken == 0


async def test_editor_creates_changes_and_cancels(staff: Staff) -> None:
    await staff.login("e13")
    resp = await staff.post("/meetings/new", FORM)
    assert resp.status == 303 and resp.headers["Location"] == "/meetings/1?done=created"
    m = meeting_store.get_meeting(staff.ctx.store, 1)
    assert len(m.attendees) == 10 and staff.woken == 1  # the ten liaison officers, from the Snapshot
    assert staff.outbox() == [("meeting", a.email) for a in m.attendees]
    async with staff.client.get("/meetings/1/edit") as resp:
        page = await resp.text()
    assert resp.status == 200 and 'value="2026-12-17T09:00"' in page and 'name="csrf"' in page
    assert "e13（编辑 · 河北省）" in page and 'href="/meetings"' in page  # the web face's layout and navigation
    edit = {"place": "天津", "remove": "r410000000000@demo.bohai.example\n", "add": "guest@example.org"}
    assert (await staff.post("/meetings/1/edit", edit)).status == 303
    m = meeting_store.get_meeting(staff.ctx.store, 1)
    assert (m.place, m.sequence, len(m.active_attendees)) == ("天津", 1, 10)
    async with staff.client.get("/meetings/1") as resp:
        assert 'href="/meetings/1/cancel"' in await resp.text()  # to the confirmation step, which is a GET
    async with staff.client.get("/meetings/1/cancel") as resp:
        confirm = await resp.text()
    assert "确认取消会议" in confirm and 'action="/meetings/1/cancel"' in confirm and "全部 11 人" in confirm
    assert not meeting_store.get_meeting(staff.ctx.store, 1).cancelled  # showing the step changes nothing
    assert (await staff.post("/meetings/1/cancel")).status == 303
    assert meeting_store.get_meeting(staff.ctx.store, 1).cancelled and staff.woken == 3
    assert len(staff.outbox()) == 10 + 11 + 11  # invitations; update + removal; cancellation to all eleven
    await staff.login("e11")
    assert (await staff.post("/meetings/1/cancel")).status == 403


async def test_bad_form_is_shown_again_with_the_field_named(staff: Staff) -> None:
    await staff.login("admin")
    bad = {**FORM, "end": "2026-12-17T08:00", "title": "<b>会议</b>", "attendees": "a@example.org"}
    resp = await staff.post("/meetings/new", bad)
    page = await resp.text()
    assert resp.status == 400 and "结束时间必须晚于开始时间" in page and "aria-invalid" in page
    assert 'value="&lt;b&gt;会议&lt;/b&gt;"' in page and "a@example.org" in page
    resp = await staff.post("/meetings/new", {**FORM, "start": "明天上午"})
    assert resp.status == 400 and "时间格式应为" in await resp.text()
    assert meeting_store.list_meetings(staff.ctx.store) == [] and staff.outbox() == []
