"""A meeting's page shows its UID, its attendees' addresses and its notices only to logged-in staff: with the UID and
an attendee's address anyone could forge that attendee's iMIP answer. Anonymous visitors see the meeting itself."""

from __future__ import annotations

from liaison.meetings import store as meeting_store
from tests.support.meetings import FORM, Staff


async def page(s: Staff, path: str) -> str:
    async with s.client.get(path) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_meeting_page_hides_uid_and_addresses_from_anonymous_visitors(staff: Staff) -> None:
    await staff.login("e13")
    assert (await staff.post("/meetings/new", FORM)).status == 303
    meeting = meeting_store.get_meeting(staff.ctx.store, 1)
    addresses = [a.email for a in meeting.attendees]
    await staff.login(None)
    shown = await page(staff, "/meetings/1")
    assert FORM["title"] in shown and "石家庄" in shown and meeting.attendees[0].region_code in shown
    assert meeting.uid not in shown and not [a for a in addresses if a in shown]
    assert "会议通知：" not in shown and "登录后可查看" in shown
    await staff.login("reader")  # any staff account, even one that may not change meetings
    shown = await page(staff, "/meetings/1")
    assert meeting.uid not in shown and all(a in shown for a in addresses) and shown.count("会议通知：") == 10
