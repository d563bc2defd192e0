"""Staff pages to create, change and cancel meetings; the login middleware (issue 3) is stood in for by a test one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import open_store
from directory.web.app import WebContext, make_app
from liaison import meetings, meetings_web
from liaison.models import outbox_t

# The letters pages (issue 4) key the account by the plain string "account"; these tests follow that convention.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
Account = dict[str, Any]
FORM = {"title": "联席会议", "host": "13", "place": "石家庄", "start": "2026-12-17T09:00", "end": "2026-12-17T17:00"}


class Staff:
    def __init__(self, client: TestClient[web.Request, web.Application], ctx: WebContext) -> None:
        self.client, self.ctx = client, ctx
        self.account: Account | None = None
        self.woken = 0

    def outbox(self) -> list[tuple[str, str]]:
        with self.ctx.store.read() as conn:
            return [tuple(r) for r in conn.execute(sa.select(outbox_t.c.kind, outbox_t.c.recipient))]  # type: ignore[misc]


@pytest.fixture
async def staff(sqlite_demo_url: str) -> AsyncIterator[Staff]:
    store = open_store(sqlite_demo_url)
    ctx = WebContext(Settings(), store, SnapshotHolder(store))
    box: list[Staff] = []

    @web.middleware
    async def login(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        if box[0].account is not None:
            request["account"] = box[0].account
        return await handler(request)

    def wake() -> None:
        box[0].woken += 1

    app = make_app(ctx, [lambda app: app.middlewares.append(login), meetings_web.extension(wake)])
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        box.append(Staff(client, ctx))
        yield box[0]
    store.close()


async def test_nobody_but_staff_may_write(staff: Staff) -> None:
    for account in (None, {"username": "r", "role": "reader", "province_code": "130000000000"}):
        staff.account = account
        async with staff.client.get("/meetings/new") as resp:
            assert resp.status == 403
        async with staff.client.post("/meetings/new", data=FORM) as resp:
            assert resp.status == 403
    staff.account = {"username": "e11", "role": "editor", "province_code": "110000000000"}
    async with staff.client.post("/meetings/new", data=FORM) as resp:  # host 13 is not this editor's province
        assert resp.status == 403
    assert meetings.list_meetings(staff.ctx.store) == [] and staff.outbox() == [] and staff.woken == 0


async def test_editor_creates_changes_and_cancels(staff: Staff) -> None:
    staff.account = {"username": "e13", "role": "editor", "province_code": "130000000000"}
    async with staff.client.post("/meetings/new", data=FORM, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/meetings/1"
    m = meetings.get_meeting(staff.ctx.store, 1)
    assert len(m.attendees) == 10 and staff.woken == 1  # the ten liaison officers, from the Snapshot
    assert staff.outbox() == [("meeting", a.email) for a in m.attendees]
    async with staff.client.get("/meetings/1/edit") as resp:
        page = await resp.text()
    assert resp.status == 200 and 'value="2026-12-17T09:00"' in page
    edit = {"place": "天津", "remove": "r410000000000@demo.bohai.example\n", "add": "guest@example.org"}
    async with staff.client.post("/meetings/1/edit", data=edit, allow_redirects=False) as resp:
        assert resp.status == 303
    m = meetings.get_meeting(staff.ctx.store, 1)
    assert (m.place, m.sequence, len(m.active_attendees)) == ("天津", 1, 10)
    async with staff.client.post("/meetings/1/cancel", allow_redirects=False) as resp:
        assert resp.status == 303
    assert meetings.get_meeting(staff.ctx.store, 1).cancelled and staff.woken == 3
    assert len(staff.outbox()) == 10 + 11 + 11  # invitations; update + removal; cancellation to all eleven
    staff.account = {"username": "e11", "role": "editor", "province_code": "110000000000"}
    async with staff.client.post("/meetings/1/cancel") as resp:
        assert resp.status == 403


async def test_bad_form_is_shown_again_with_the_field_named(staff: Staff) -> None:
    staff.account = {"username": "admin", "role": "admin", "province_code": None}
    bad = {**FORM, "end": "2026-12-17T08:00", "title": "<b>会议</b>", "attendees": "a@example.org"}
    async with staff.client.post("/meetings/new", data=bad) as resp:
        page = await resp.text()
    assert resp.status == 400 and "end：结束时间必须晚于开始时间" in page
    assert 'value="&lt;b&gt;会议&lt;/b&gt;"' in page and "a@example.org" in page
    async with staff.client.post("/meetings/new", data={**FORM, "start": "明天上午"}) as resp:
        assert resp.status == 400 and "start：时间格式应为" in await resp.text()
    assert meetings.list_meetings(staff.ctx.store) == [] and staff.outbox() == []
