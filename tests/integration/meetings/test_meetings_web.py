"""Meeting pages, signed answer links and the province calendar feed, against the real service on port 0."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import aiohttp
import icalendar
import pytest

from directory.errors import SettingsError
from liaison import service
from liaison.meetings import rules
from liaison.meetings import store as meeting_store
from liaison.meetings.rules import MeetingInput
from liaison.settings import Settings
from tests.support.meetings import START, Received, Sink, drain
from tests.support.settings import service_settings

TITLE = "环渤海联席会议 <第十二次>"


@pytest.fixture
async def running(sqlite_demo_url: str, settings: Settings) -> AsyncIterator[service.Running]:
    s = settings.replace(
        database={"url": sqlite_demo_url},
        http={"port": 0},
        ldap={"enabled": False},
        smtp={"enabled": False},
        meetings={"scheduler_interval": 0.2},
    )
    r = await service.start(s, report=lambda line: None)
    yield r
    await r.aclose()


def link_in(body: str) -> str:
    m = re.search(r"(http://\S+/meetings/answer/\S+)", body)
    assert m, body
    return m[1]


def csrf_in(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, page
    return m[1]


def plain_text(mail: Received) -> str:
    return str(next(p for p in mail.message.walk() if p.get_content_type() == "text/plain").get_content())


def one_attendee() -> MeetingInput:
    return MeetingInput(title="会议", host="11", start=START, end=START + dt.timedelta(hours=1), attendees=["a@x.org"])


async def sent_link(running: service.Running, sink: Sink) -> str:
    """The answer link in the one mail the outbox sends next (an invitation or an update)."""
    assert running.outbox is not None
    await running.outbox.wait_idle()
    (mail,) = drain(sink)
    return link_in(plain_text(mail))


async def test_answer_link_roster_and_feed(running: service.Running, sink: Sink) -> None:
    url = running.urls["http"]
    settings = running.settings.replace(web={"public_url": url})
    data = MeetingInput(title=TITLE, host="13", place="石家庄", start=START, end=START + dt.timedelta(hours=8))
    made = rules.create_meeting(running.store, running.holder.current, settings, data, "t")
    assert running.outbox is not None
    await running.outbox.wait_idle()
    mails = drain(sink)
    assert len(mails) == 10
    mine = next(m for m in mails if m.rcpt_tos == ["r130000000000@demo.bohai.example"])
    link = link_in(plain_text(mine))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(link) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert "未答复" in page and 'value="ACCEPTED"' in page and "&lt;第十二次&gt;" in page
        assert meeting_store.get_meeting(running.store, made.meeting.id).attendees[2].partstat == "NEEDS-ACTION"
        token = csrf_in(page)
        async with http.post(link, data={"partstat": "ACCEPTED"}) as resp:
            assert resp.status == 403  # a form without the page's CSRF token changes nothing
        assert meeting_store.get_meeting(running.store, made.meeting.id).attendees[2].partstat == "NEEDS-ACTION"
        async with http.post(link, data={"partstat": "ACCEPTED", "csrf": token}) as resp:
            assert resp.status == 200
            assert "已记录您的答复：<strong>参加</strong>" in await resp.text()
        async with http.post(link, data={"partstat": "MAYBE", "csrf": token}) as resp:
            assert resp.status == 400
        tampered = link.replace(b"r130000000000".hex(), b"r110000000000".hex())
        async with http.post(tampered, data={"partstat": "DECLINED", "csrf": token}) as resp:
            assert resp.status == 403 and "链接无效" in await resp.text()
        states = {a.email: a.partstat for a in meeting_store.get_meeting(running.store, made.meeting.id).attendees}
        assert states["r130000000000@demo.bohai.example"] == "ACCEPTED"
        assert list(states.values()).count("ACCEPTED") == 1

        async with http.get(f"{url}/meetings/{made.meeting.id}") as resp:
            page = await resp.text()
        assert resp.status == 200 and "参加" in page  # addresses and notices: staff only (test_meetings_privacy)
        assert "r130000000000@demo.bohai.example" not in page and "会议通知：" not in page
        async with http.get(f"{url}/meetings") as resp:
            page = await resp.text()
        assert "&lt;第十二次&gt;" in page and "1 / 10 人确认参加" in page

        async with http.get(f"{url}/calendar/13.ics") as resp:
            assert resp.status == 200 and resp.content_type == "text/calendar"
            feed = await resp.read()
        async with http.get(f"{url}/calendar/99.ics") as resp:
            assert resp.status == 404
    cal = icalendar.Calendar.from_ical(feed)
    assert str(cal["METHOD"]) == "PUBLISH" and str(cal["X-WR-CALNAME"]) == "河北省联席会议"
    (ev,) = cal.walk("VEVENT")
    assert str(ev["SUMMARY"]) == TITLE and str(ev["UID"]) == made.meeting.uid
    assert "ATTENDEE" not in ev and b"demo.bohai.example" not in feed  # a public feed lists nobody
    assert all(len(line) <= 75 for line in feed.split(b"\r\n"))


async def test_cancelled_meeting_link_cannot_answer(running: service.Running, sink: Sink) -> None:
    url = running.urls["http"]
    settings = running.settings.replace(web={"public_url": url})
    made = rules.create_meeting(running.store, None, settings, one_attendee(), "t")
    link = await sent_link(running, sink)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(link) as resp:
            token = csrf_in(await resp.text())  # the page was opened before the meeting was cancelled
        rules.cancel_meeting(running.store, settings, made.meeting.id, "t")
        async with http.post(link, data={"partstat": "ACCEPTED", "csrf": token}) as resp:
            assert resp.status == 409
        async with http.get(f"{url}/calendar/11.ics") as resp:
            cal = icalendar.Calendar.from_ical(await resp.read())
    (ev,) = cal.walk("VEVENT")
    assert str(ev["STATUS"]) == "CANCELLED"


async def test_answer_link_from_before_a_time_change_is_refused(running: service.Running, sink: Sink) -> None:
    url = running.urls["http"]
    settings = running.settings.replace(web={"public_url": url})
    made = rules.create_meeting(running.store, None, settings, one_attendee(), "t")
    old = await sent_link(running, sink)
    later = MeetingInput(start=START + dt.timedelta(days=1), end=START + dt.timedelta(days=1, hours=1))
    rules.update_meeting(running.store, None, settings, made.meeting.id, later, "t")
    new = await sent_link(running, sink)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(new) as resp:
            token = csrf_in(await resp.text())
        async with http.post(old, data={"partstat": "ACCEPTED", "csrf": token}) as resp:
            assert resp.status == 409 and "会议时间已变更" in await resp.text()
        assert meeting_store.get_meeting(running.store, made.meeting.id).attendees[0].partstat == "NEEDS-ACTION"
        async with http.post(new, data={"partstat": "ACCEPTED", "csrf": token}) as resp:
            assert resp.status == 200
    assert meeting_store.get_meeting(running.store, made.meeting.id).attendees[0].partstat == "ACCEPTED"


async def test_pages_follow_anonymous_read(sqlite_demo_url: str, caplog: pytest.LogCaptureFixture) -> None:
    s = service_settings(
        sqlite_demo_url, ldap={"enabled": False}, smtp={"enabled": False},
        web={"anonymous_read": False}, meetings={"scheduler_enabled": False},
    )  # fmt: skip
    r = await service.start(s, report=lambda line: None)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for path in ("/meetings", "/calendar/13.ics"):
                async with http.get(r.urls["http"] + path, allow_redirects=False) as resp:
                    assert resp.status == 303 and resp.headers["Location"].startswith("/login?next="), path
            async with http.get(r.urls["http"] + "/meetings/answer/forged") as resp:  # signed links need no login
                assert resp.status == 403 and "链接无效" in await resp.text()
        assert "web.public_url 未设置" in caplog.text  # no public address: warned at start-up
    finally:
        await r.aclose()


async def test_service_refuses_to_start_with_bad_meetings_settings(sqlite_demo_url: str) -> None:
    s = service_settings(
        sqlite_demo_url, ldap={"enabled": False}, smtp={"enabled": False}, meetings={"reminder_offsets": "2 fortnights"}
    )
    with pytest.raises(SettingsError, match=r"meetings\.reminder_offsets"):
        await service.start(s, report=lambda line: None)
