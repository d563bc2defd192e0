"""The whole service with the data a staff member's day touches, for the browser tests of every page.

``staff_site(url, sink)`` starts ``bohai serve``'s faces in-process on the demo database (LDAP and inbound SMTP
off, the relay pointed at ``sink``) with three accounts — ``reader``, ``hebei`` (editor of 河北, own office
石家庄市) and ``admin`` — a letter from 石家庄市 to two 山东 offices with a deadline, a joint meeting, and an
error report on a 河北 office. ``page_paths`` walks the web app's router and gives a concrete address for every
page (a GET route answering HTML), failing on a route it has no sample for, so a new page cannot escape the
every-page tests. ``text_problems`` names what staff must never read: UTC or ISO times, Python quoting, internal
field names, stack traces and relay errors.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest

from directory import accounts, profiles
from directory.store import Store
from directory.web.app import make_app
from directory.web.context import WebContext
from liaison import settings as liaison_settings
from liaison.letters import compose
from liaison.meetings import links, rules
from liaison.service import Running, start, web_extensions
from liaison.verify import campaign as verify_campaign
from liaison.workdays.store import load_calendar
from tests.support.mailsink import Sink, mail_sink
from tests.support.settings import service_settings
from tests.support.web import CSRF_RE, PASSWORD

ROLES = {"reader": ("reader", None), "hebei": ("editor", "13"), "admin": ("sysadmin", None)}
SENDER = "130100000000"  # 石家庄市
LIXIA = "370102000000"  # 山东省 济南市 历下区
SHIZHONG = "370103000000"  # 山东省 济南市 市中区
CHANGAN = "130102000000"  # 河北省 石家庄市 长安区

# Routes that answer something other than a page (files, feeds, API, protocol faces), by canonical path.
NOT_PAGES = {
    "/static", "/healthz", "/metrics", "/carddav", "/.well-known/carddav", "/help/bohai.mobileconfig",
    "/import/template.xlsx", "/office/{code}/vcard", "/office/{code}/qr.svg", "/help/{client}/qr.svg",
    "/export/{code}/{fmt}", "/calendar/{code}.ics",
}  # fmt: skip


@dataclass
class StaffSite:
    running: Running
    base: str
    letter_id: int
    meeting_id: int
    answer_token: str
    campaign_id: int

    @property
    def store(self) -> Store:
        return self.running.store


def _seed(store: Store, settings: liaison_settings.Settings, running: Running) -> tuple[int, int, str, int]:
    for name, (role, province) in ROLES.items():
        accounts.add_user(store, name, PASSWORD, role, province, "test")
    profiles.set_profile(store, "hebei", "test", office_code=SENDER, email="hebei-editor@example.org")
    snap = running.holder.current
    draft = compose.Draft(SENDER, [LIXIA, SHIZHONG], "关于核查流动人口信息的函", "请协助核查。", reply_within=10)
    sent = compose.send_letter(store, settings, snap, draft, calendar=load_calendar(store))
    meeting = rules.MeetingInput(
        title="第一次联席会议", host="13", place="石家庄", start=rules.parse_local("2027-03-17T09:00", "start"),
        end=rules.parse_local("2027-03-17T17:00", "end"), agenda="一、通报工作\n二、商定事项",
    )  # fmt: skip
    made = rules.create_meeting(store, snap, settings, meeting, "test")
    store.add_report(LIXIA, "联系电话已变更，请核实。", "hebei", "0311-12345678")
    campaign = verify_campaign.start_campaign(
        store, settings, snap, region_code=CHANGAN, due_within=10, actor="test", calendar=load_calendar(store)
    )
    person = made.meeting.active_attendees[0]
    token = links.sign(links.secret(store, settings), made.meeting.id, person.email, made.meeting.sequence)
    return sent.id, made.meeting.id, token, campaign.id


@pytest.fixture
async def site_sink() -> AsyncIterator[Sink]:
    """The mail sink behind a ``site``'s relay."""
    async with mail_sink() as s:
        yield s


@pytest.fixture
async def site(sqlite_demo_url: str, site_sink: Sink) -> AsyncIterator[StaffSite]:
    """The whole service on a demo database with a staff member's day of data (see the module docstring)."""
    async with staff_site(sqlite_demo_url, site_sink) as s:
        yield s


@asynccontextmanager
async def staff_site(url: str, sink: Sink) -> AsyncIterator[StaffSite]:
    settings = service_settings(url, sink=sink, ldap={"enabled": False}, smtp={"enabled": False})
    running = await start(settings, report=lambda line: None)
    try:
        letter_id, meeting_id, token, campaign_id = await running.store.run(
            _seed, running.store, liaison_settings.of(running.settings), running
        )
        yield StaffSite(running, running.urls["http"], letter_id, meeting_id, token, campaign_id)
    finally:
        await running.aclose()


def page_paths(site: StaffSite) -> list[str]:
    """A concrete address for every page of the web app (every GET route that answers HTML)."""
    samples = {
        "/": ["/", "/?q=changan"],
        "/tree": ["/tree"],
        "/tree/{code}": ["/tree/130000000000", "/tree/130100000000"],
        "/office/{code}": [f"/office/{CHANGAN}", f"/office/{LIXIA}"],
        "/office/{code}/print": [f"/office/{CHANGAN}/print"],
        "/office/{code}/edit": [f"/office/{CHANGAN}/edit"],
        "/office/{code}/report": [f"/office/{LIXIA}/report"],
        "/dashboard": ["/dashboard"],
        "/dashboard/{code}": ["/dashboard/130000000000"],
        "/login": ["/login"],
        "/account": ["/account"],
        "/help/": ["/help/"],
        "/help/{client}": ["/help/iphone", "/help/thunderbird"],
        "/import": ["/import"],
        "/reports": ["/reports"],
        "/letters": ["/letters", "/letters?view=received"],
        "/letters/new": ["/letters/new"],
        "/letters/board/{province}": ["/letters/board/370000000000", "/letters/board/130000000000?side=from"],
        "/letters/{key}": [f"/letters/{site.letter_id}"],
        "/meetings": ["/meetings"],
        "/meetings/new": ["/meetings/new"],
        "/meetings/{id}": [f"/meetings/{site.meeting_id}"],
        "/meetings/{id}/edit": [f"/meetings/{site.meeting_id}/edit"],
        "/meetings/{id}/cancel": [f"/meetings/{site.meeting_id}/cancel"],
        "/meetings/answer/{token}": [f"/meetings/answer/{site.answer_token}"],
        "/login/2fa": ["/login/2fa"],
        "/account/2fa": ["/account/2fa"],
        "/account/password": ["/account/password"],
        "/account/security": ["/account/security"],
        "/admin/security": ["/admin/security"],
        "/audit": ["/audit"],
        "/check": ["/check?t=not-a-token"],
        "/check/code": ["/check/code"],
        "/dashboard/pictures": ["/dashboard/pictures"],
        "/dashboard/pictures/{code}": ["/dashboard/pictures/130000000000"],
        "/verify": ["/verify"],
        "/verify/queue": ["/verify/queue"],
        "/verify/{id}": [f"/verify/{site.campaign_id}"],
    }
    running = site.running
    app = make_app(WebContext(running.settings, running.store, running.holder), web_extensions(running))
    paths: list[str] = []
    missing: list[str] = []
    for resource in app.router.resources():
        canonical = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", resource.canonical)
        if not any(route.method == "GET" for route in resource) or canonical.startswith("/api/"):
            continue
        if canonical in NOT_PAGES:
            continue
        if canonical not in samples:
            missing.append(canonical)
            continue
        paths += samples[canonical]
    assert not missing, f"pages without a sample address in tests/support/staffweb.py: {missing}"
    return paths


_PATTERNS = {
    "UTC offset": re.compile(r"\+00:00|\bUTC\b|\bGMT\b"),
    "ISO date or time": re.compile(r"\b20\d\d-\d\d-\d\d(?:[T ]\d\d:\d\d)?\b|\bT\d\d:\d\d\b"),
    "Python quoting": re.compile(r"[：:（(=]\s*'[^'\n]{0,80}'|\bNone\b|\bTrue\b|\bFalse\b"),
    "internal name": re.compile(
        r"\b(?:reply_within|unit_name|region_code|contact_name|postal_code|in_reply_to|from_code|partstat"
        r"|SEQUENCE|UID|NEEDS-ACTION|ACCEPTED|TENTATIVE|DECLINED|workdays?|days?|hours?)\b"
    ),
    "stack or relay text": re.compile(r"Traceback|Error connecting|Exception|errno|\bon port\b"),
}


def text_problems(text: str) -> list[str]:
    """What of ``text`` (as a person reads it) must not be there, as ``kind: "excerpt"``."""
    found = []
    for kind, pattern in _PATTERNS.items():
        for m in pattern.finditer(text):
            start = max(0, m.start() - 15)
            found.append(f"{kind}: “{text[start : m.end() + 15]}”")
    return found


class Staff:
    """A logged-in HTTP client of a ``StaffSite`` (aiohttp, cookies kept), posting forms with the CSRF field."""

    def __init__(self, site: StaffSite, session: aiohttp.ClientSession) -> None:
        self.site, self.session = site, session

    async def get(self, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.session.get(self.site.base + path, allow_redirects=False) as resp:
            return resp.status, await resp.text(errors="replace"), resp

    async def csrf(self) -> str:
        _, page, _ = await self.get("/login")
        m = CSRF_RE.search(page)
        assert m, "no CSRF field on /login"
        return m[1]

    async def post(self, path: str, data: dict[str, str] | list[tuple[str, str]]) -> tuple[int, str, str]:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        form = aiohttp.FormData([*fields, ("csrf", await self.csrf())])
        async with self.session.post(self.site.base + path, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.text(errors="replace"), resp.headers.get("Location", "")

    async def post_file(self, path: str, filename: str, data: bytes) -> tuple[int, str, str]:
        form = aiohttp.FormData({"csrf": await self.csrf()})
        form.add_field("file", data, filename=filename, content_type="application/octet-stream")
        async with self.session.post(self.site.base + path, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.text(errors="replace"), resp.headers.get("Location", "")


@asynccontextmanager
async def staff_client(site: StaffSite, username: str | None) -> AsyncIterator[Staff]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        staff = Staff(site, session)
        if username is not None:
            status, _, _ = await staff.post("/login", {"username": username, "password": PASSWORD})
            assert status == 303
        yield staff
