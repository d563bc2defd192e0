"""Web pages of joint meetings, plugged into the directory's aiohttp app as an extension.

Owns: the list of past and coming meetings (``/meetings``), one meeting with its roster and its notices
(``/meetings/<id>``), the answer page behind each notice's signed link (``/meetings/answer/<token>``: GET shows the
three choices, POST records one — a GET never changes anything, so link scanners cannot answer for anyone), and the
per-province subscription feed ``/calendar/<province code>.ics`` (METHOD:PUBLISH, no attendees), and the staff
forms to create, change and cancel a meeting (``/meetings/new``, ``/meetings/<id>/edit``, ``/meetings/<id>/cancel``).
Pages are pages of the web face (``directory.web.render``): ``render`` with the base layout, navigation and the CSRF
token in every form (the auth middleware checks it on every POST), the web face's error page for every
``BohaiError``. Reading pages follow ``web.anonymous_read`` (the auth middleware sends anonymous readers to the login
page when it is off), but a meeting's UID, its attendees' addresses, notices and reminders are shown only to a
logged-in staff user (with both, anyone could forge an iMIP answer for an attendee); the answer page needs no login
because its link is signed (HMAC-SHA256); the staff forms need a logged-in admin, or an editor of the host province
(``require_user`` + ``User.can_edit``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from directory import clock
from directory.errors import FieldError, Forbidden, NotFound, ValidationFailed
from directory.regions import PROVINCES
from directory.settings import PROJECT_ROOT
from directory.web.auth import User, allow_anonymous, current_user, require_user
from directory.web.context import CTX
from directory.web.picker import chosen, named, office_name
from directory.web.render import add_nav, redirect, register_templates, render
from liaison import settings as liaison_settings
from liaison.mail import text
from liaison.meetings import ical, links, mails, reminders, rules
from liaison.meetings import store as meeting_store
from liaison.meetings.models import MeetingView
from liaison.workdays.store import load_calendar

ANSWERS = {"ACCEPTED": "参加", "TENTATIVE": "待定", "DECLINED": "不参加"}
NAV = ("/meetings", "联席会议")
STALE = "会议时间已变更，此链接来自旧通知；请使用最新会议通知中的链接答复"
TEMPLATES = PROJECT_ROOT / "templates" / "meetings"
FILTERS: dict[str, Callable[..., Any]] = {"local": text.local_time, "offset_name": reminders.offset_name}
FIELDS = ("title", "host", "place", "start", "end", "agenda", "notes", "invite", "attendees", "add", "remove")

GLOBALS = {
    "provinces": PROVINCES,
    "partstat_names": mails.PARTSTAT_NAMES,
    "outbox_states": mails.OUTBOX_STATES,
    "job_outcomes": mails.JOB_OUTCOMES,
}


WAKE: web.AppKey[Callable[[], None]] = web.AppKey("meetings_wake")


def extension(wake: Callable[[], None]) -> Callable[[web.Application], None]:
    """The web extension; ``wake`` nudges the outbox worker after notices were queued."""

    def extend(app: web.Application) -> None:
        app[WAKE] = wake
        register_templates(app, "meetings", TEMPLATES, filters=FILTERS, globals=GLOBALS)
        add_nav(app, *NAV)
        allow_anonymous(app, "/meetings/answer/")  # a signed answer link is its own proof, no login needed
        app.router.add_get("/meetings", list_page)
        app.router.add_get(r"/meetings/{id:\d{1,9}}", detail_page)
        app.router.add_get("/meetings/answer/{token}", answer_page)
        app.router.add_post("/meetings/answer/{token}", answer_post)
        app.router.add_get(r"/calendar/{code:\d{2}|\d{12}}.ics", calendar_feed)
        app.router.add_get("/meetings/new", new_form)
        app.router.add_post("/meetings/new", new_post)
        app.router.add_get(r"/meetings/{id:\d{1,9}}/edit", edit_form)
        app.router.add_post(r"/meetings/{id:\d{1,9}}/edit", edit_post)
        app.router.add_get(r"/meetings/{id:\d{1,9}}/cancel", cancel_form)
        app.router.add_post(r"/meetings/{id:\d{1,9}}/cancel", cancel_post)

    return extend


def _render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return render(request, template, context, status=status)


async def list_page(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    everything = await ctx.store.run(meeting_store.list_meetings, ctx.store)
    now = clock.now()
    coming = [m for m in everything if m.end_at >= now]
    past = [m for m in reversed(everything) if m.end_at < now]
    return _render(request, "meetings/pages/list.html", coming=coming, past=past)


async def detail_page(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    meeting = await ctx.store.run(meeting_store.get_meeting, ctx.store, int(request.match_info["id"]))
    staff = current_user(request) is not None  # addresses, notices: staff only (see the module docstring)
    notices = await ctx.store.run(meeting_store.notices, ctx.store, meeting.id) if staff else []
    jobs = await ctx.store.run(reminders.for_meeting, ctx.store, meeting.id) if staff else []
    calendar = await ctx.store.run(load_calendar, ctx.store)
    warnings = rules.date_warnings(meeting.start_at, meeting.end_at, calendar)
    unverified = []
    if staff:  # answers that failed the sender checks: shown, never counted (see replies)
        rows = await ctx.store.run(ctx.store.history, "meeting", str(meeting.id))
        unverified = [r for r in rows if r["action"] == "reply_unverified"]
    context: dict[str, Any] = {"m": meeting, "notices": notices, "reminders": jobs, "warnings": warnings,
                               "name": _namer(request), "done": request.query.get("done", "")}  # fmt: skip
    context["unverified"] = unverified
    return render(request, "meetings/pages/detail.html", context)


def _namer(request: web.Request) -> Callable[[str], str]:
    snap = request.app[CTX].holder.current
    return lambda code: office_name(snap, code)


async def _answering(request: web.Request) -> tuple[MeetingView, str, int]:
    ctx = request.app[CTX]
    key = await ctx.store.run(links.secret, ctx.store, liaison_settings.of(ctx.settings))
    found = links.verify(key, request.match_info["token"])
    if found is None:
        raise Forbidden("链接无效或已被改动")
    meeting = await ctx.store.run(meeting_store.get_meeting, ctx.store, found[0])
    return meeting, found[1], found[2]


def _answer(
    request: web.Request, status: int, meeting: MeetingView, email: str, done: str | None, error: str = ""
) -> web.Response:
    person = None if error else next((a for a in meeting.attendees if a.email == email), None)
    context = {"m": meeting, "person": person, "email": email, "answers": ANSWERS, "done": done, "error": error}
    return render(request, "meetings/pages/answer.html", context, status=status)


async def answer_page(request: web.Request) -> web.Response:
    meeting, email, sequence = await _answering(request)
    if sequence < meeting.time_sequence:
        return _answer(request, 409, meeting, email, None, error=STALE)
    return _answer(request, 200, meeting, email, None)


async def answer_post(request: web.Request) -> web.Response:
    meeting, email, sequence = await _answering(request)
    form = await request.post()
    choice = str(form.get("partstat", ""))
    if choice not in ANSWERS:
        return _answer(request, 400, meeting, email, None, error="请选择：参加、待定或不参加")
    ctx = request.app[CTX]
    if sequence < meeting.time_sequence:
        return _answer(request, 409, meeting, email, None, error=STALE)
    ok = await ctx.store.run(rules.set_partstat, ctx.store, meeting.id, email, choice, sequence=sequence)
    if not ok:
        return _answer(request, 409, meeting, email, None, error="会议已取消，或您已不在参会名单中")
    meeting = await ctx.store.run(meeting_store.get_meeting, ctx.store, meeting.id)
    return _answer(request, 200, meeting, email, choice)


async def calendar_feed(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    code = request.match_info["code"][:2]
    if code not in PROVINCES:
        raise NotFound(f"没有省级区划 {code}")
    chosen = await ctx.store.run(meeting_store.list_meetings, ctx.store, code)
    organiser = liaison_settings.of(ctx.settings).meetings.organiser_name
    name = f"{PROVINCES[code]}联席会议"
    data = ical.calendar(chosen, "PUBLISH", organiser_name=organiser, stamp=clock.now(), name=name)
    headers = {"Content-Disposition": f"inline; filename={code}.ics", "Cache-Control": "no-cache"}
    return web.Response(body=data, content_type="text/calendar", charset="utf-8", headers=headers)


# -- staff: create, change, cancel -----------------------------------------------------------------------------
# Staff-only: a logged-in admin, or an editor of the host province.


def _staff(request: web.Request, host: str | None = None) -> User:
    user = require_user(request)
    if not user.can_write:
        raise Forbidden("只有管理员和编辑可以安排联席会议")
    if host is not None and not user.can_edit(host):
        raise Forbidden("编辑只能安排本省主办的会议")
    return user


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()][:1000]


def _invited(form: Any, snap: Any, name: str) -> tuple[list[str], list[tuple[str, str]], list[FieldError]]:
    """The e-mail addresses of the offices picked in ``name``; an office without one is an error naming it."""
    codes, errors = chosen(form, name, "参会单位")
    emails = []
    for code in codes:
        office = snap.office(code)
        if office is None:
            errors.append(FieldError(name, f"{code} 没有登记单位"))
        elif not office.email:
            errors.append(
                FieldError(name, f"{office.unit_name}没有电子邮箱，无法发送会议通知；请在“其他参会人员”中填写邮箱")
            )
        else:
            emails.append(office.email)
    return emails, named(snap, codes), errors


def _input(form: Mapping[str, str], *, create: bool, invited: Sequence[str] = ()) -> rules.MeetingInput:
    def text(name: str) -> str | None:
        value = form.get(name, "").strip() if name != "agenda" else form.get(name, "")
        return value if value or create else None

    def when(name: str) -> Any:
        value = form.get(name, "").strip()
        return rules.parse_local(value, name) if value else None

    people = [*invited, *_lines(form.get("attendees", ""))] if create else []
    added = [*invited, *_lines(form.get("add", ""))] if not create else []
    return rules.MeetingInput(
        title=text("title"), host=text("host"), place=text("place"), start=when("start"), end=when("end"),
        agenda=text("agenda"), notes=text("notes"), attendees=(people or None) if create else None,
        add=added, remove=_lines(form.get("remove", "")),
    )  # fmt: skip


async def _form(request: web.Request) -> tuple[dict[str, str], Any]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}, data


def _form_page(
    request: web.Request,
    status: int,
    form: Mapping[str, str],
    errors: list[FieldError],
    m: MeetingView | None = None,
    picked: Sequence[tuple[str, str]] = (),
) -> web.Response:
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for e in errors:
        if e.field in FIELDS:
            by_field.setdefault(e.field, []).append(e.text)
        else:
            other.append(str(e))
    first = next((f for f in FIELDS if f in by_field), "")
    context = {"form": form, "errors": by_field, "other_errors": other, "first": first, "m": m, "picked": picked}
    return render(request, "meetings/pages/form.html", context, status=status)


async def new_form(request: web.Request) -> web.Response:
    user = _staff(request)
    host = (user.province_code or "")[:2] if user.role == "editor" else ""
    return _form_page(request, 200, {"host": host}, [])


async def _submitted(
    request: web.Request, *, create: bool
) -> tuple[dict[str, str], list[tuple[str, str]], rules.MeetingInput | None, list[FieldError]]:
    """The posted form, the picked offices (for the chips), the input it describes, and its errors; a host
    province outside the user's reach is refused (403) before anything is read further."""
    form, raw = await _form(request)
    host = form.get("host", "").strip()[:2]
    if host:
        _staff(request, host)
    invited, picked, errors = _invited(raw, request.app[CTX].holder.current, "invite")
    data = None
    try:
        data = _input(form, create=create, invited=invited)
    except ValidationFailed as exc:
        errors += exc.errors
    return form, picked, (None if errors else data), errors


async def new_post(request: web.Request) -> web.Response:
    user = _staff(request)
    form, picked, data, errors = await _submitted(request, create=True)
    if data is None:
        return _form_page(request, 400, form, errors, picked=picked)
    ctx = request.app[CTX]
    try:
        args = (ctx.store, ctx.holder.current, liaison_settings.of(ctx.settings), data, f"web:{user.username}")
        made = await ctx.store.run(rules.create_meeting, *args)
    except ValidationFailed as exc:
        return _form_page(request, 400, form, exc.errors, picked=picked)
    request.app[WAKE]()
    return redirect(f"/meetings/{made.meeting.id}?done=created")


async def _owned(request: web.Request) -> tuple[MeetingView, User]:
    _staff(request)
    ctx = request.app[CTX]
    meeting = await ctx.store.run(meeting_store.get_meeting, ctx.store, int(request.match_info["id"]))
    return meeting, _staff(request, meeting.host_province)


async def edit_form(request: web.Request) -> web.Response:
    meeting, _ = await _owned(request)
    return _form_page(request, 200, {}, [], meeting)


async def edit_post(request: web.Request) -> web.Response:
    meeting, user = await _owned(request)
    form, picked, data, errors = await _submitted(request, create=False)
    if data is None:
        return _form_page(request, 400, form, errors, meeting, picked=picked)
    ctx = request.app[CTX]
    try:
        actor = f"web:{user.username}"
        args = (ctx.store, ctx.holder.current, liaison_settings.of(ctx.settings), meeting.id, data, actor)
        await ctx.store.run(rules.update_meeting, *args)
    except ValidationFailed as exc:
        return _form_page(request, 400, form, exc.errors, meeting, picked=picked)
    request.app[WAKE]()
    return redirect(f"/meetings/{meeting.id}?done=updated")


async def cancel_form(request: web.Request) -> web.Response:
    """The confirmation step: cancelling mails every attendee, so it is never one click away."""
    meeting, _ = await _owned(request)
    if meeting.cancelled:
        return redirect(f"/meetings/{meeting.id}")
    return _render(request, "meetings/pages/cancel.html", m=meeting)


async def cancel_post(request: web.Request) -> web.Response:
    meeting, user = await _owned(request)
    ctx = request.app[CTX]
    try:
        await ctx.store.run(
            rules.cancel_meeting, ctx.store, liaison_settings.of(ctx.settings), meeting.id, f"web:{user.username}"
        )
    except ValidationFailed as exc:
        return _render(
            request,
            "meetings/pages/detail.html",
            409,
            m=meeting,
            notices=[],
            reminders=[],
            warnings=[str(e) for e in exc.errors],
            name=_namer(request),
            done="",
            unverified=[],
        )
    request.app[WAKE]()
    return redirect(f"/meetings/{meeting.id}?done=cancelled")
