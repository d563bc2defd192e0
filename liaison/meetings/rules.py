"""Joint meetings (联席会议): create, update, cancel, replies, reminders.

Owns: the rules of a meeting's life. Creating one stores it with a fresh UID and SEQUENCE 0, lists the ten
provinces' liaison officers (from the Snapshot) unless attendees are given, queues one iMIP REQUEST per attendee and
schedules the reminders. A change of time, place, title, agenda or list raises SEQUENCE by one and queues an update
to everyone on the list and a CANCEL to anyone removed; cancelling sends METHOD:CANCEL to everyone ever invited.
Replies (iMIP REPLY or the signed web link) change only the answering attendee's PARTSTAT; a new time resets every
attendee to NEEDS-ACTION, since the update asks them again.

Every notice goes into the outbox (:func:`liaison.outbox.enqueue`) in the same transaction as the change,
so a change is never stored without its notices nor the other way round; reminders are jobs of
:mod:`liaison.scheduler` whose handler queues the reminder mail and finishes the job in one transaction.

Misfire policy: notices (requests, updates, cancellations) are always sent, however late (the outbox retries them);
a reminder whose time passed while no scheduler ran is sent late only while the meeting has not started, otherwise
it is skipped (outcome ``skipped``). A reminder of an older SEQUENCE or of a cancelled meeting is ``superseded``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from directory import clock
from directory.errors import FieldError, SettingsError, ValidationFailed, label_fields
from directory.regions import PROVINCES
from directory.snapshot import Snapshot
from directory.store import Store
from directory.textrules import text_error
from liaison.mail import outbox
from liaison.meetings import days, links, mails, reminders
from liaison.meetings import store as meeting_store
from liaison.meetings.models import PARTSTATS, AttendeeView, MeetingView
from liaison.settings import Settings
from liaison.workdays.calendar import Calendar
from liaison.workdays.store import load_calendar

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
LIMITS = {"title": 200, "place": 300, "agenda": 20000, "notes": 5000}
LABELS = {"title": "会议名称", "place": "地点", "agenda": "议程", "notes": "备注"}


label_fields({"title": "会议名称", "host": "主办省份", "place": "地点", "start": "开始时间", "end": "结束时间",
              "agenda": "议程", "notes": "备注", "invite": "参会单位", "attendees": "其他参会人员",
              "attendee": "参会人员", "add": "增加参会人员", "remove": "移出参会人员", "status": "会议状态",
              "partstat": "答复", "agenda-file": "议程文件", "notes-file": "备注文件"})  # fmt: skip


@dataclass(frozen=True)
class MeetingInput:
    """What a user gives to create or change a meeting; ``None`` leaves a field as it is (on update)."""

    title: str | None = None
    host: str | None = None
    place: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    agenda: str | None = None
    notes: str | None = None
    attendees: Sequence[str] | None = None  # replaces the list (create: None = the ten liaison officers)
    add: Sequence[str] = ()
    remove: Sequence[str] = ()


@dataclass(frozen=True)
class Outcome:
    meeting: MeetingView
    warnings: list[str] = field(default_factory=list)
    notices: int = 0


# -- parsing and validation -------------------------------------------------------------------------------------


def parse_local(text: str, name: str) -> dt.datetime:
    """``2026-12-17T09:00`` in Asia/Shanghai (or with an explicit offset) → aware UTC; errors name the option."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed([FieldError(name, "时间格式应为 2026-12-17T09:00（北京时间）", value=text)]) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.ZONE)
    return value.astimezone(dt.UTC)


def normalize_host(text: str) -> str:
    code = text.strip()[:2]
    if not code.isdigit() or code not in PROVINCES or (len(text.strip()) > 2 and not text.strip().isdigit()):
        known = "、".join(f"{k}{v}" for k, v in PROVINCES.items())
        raise ValidationFailed([FieldError("host", f"不是十省区市之一（可选：{known}）", value=text)])
    return code


def clean_email(text: str, name: str = "attendee") -> str:
    address = text.strip().lower()
    if len(address) > 254 or not _EMAIL.match(address):
        raise ValidationFailed([FieldError(name, "电子邮箱格式不正确", value=text)])
    return address


def _check_text(values: dict[str, Any]) -> None:
    errors = []
    for name, limit in LIMITS.items():
        value = values.get(name)
        if value is not None and len(value) > limit:
            errors.append(FieldError(name, f"过长（最多 {limit} 字，现有 {len(value)} 字）"))
    if values.get("title") is not None and not values["title"].strip():
        errors.append(FieldError("title", "会议名称不能为空"))
    for name, value in values.items():  # title and place are one line; agenda and notes keep their line breaks
        bad = text_error(name, LABELS[name], value or "", multiline=name in ("agenda", "notes"))
        if bad is not None:
            errors.append(bad)
    if errors:
        raise ValidationFailed(errors)


def _check_times(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise ValidationFailed([FieldError("end", "结束时间必须晚于开始时间", value=clock.shown(end))])
    if end - start > dt.timedelta(days=14):
        raise ValidationFailed([FieldError("end", "会议不能超过 14 天", value=clock.shown(end))])


def date_warnings(start: dt.datetime, end: dt.datetime, calendar: Calendar) -> list[str]:
    """A warning for each local date of the meeting that is not a working day (or has no official data)."""
    first = start.astimezone(clock.ZONE).date()
    last = (end - dt.timedelta(seconds=1)).astimezone(clock.ZONE).date()
    return days.date_warnings(first, last, calendar)


def check_settings(settings: Settings) -> None:
    """Validate the ``[meetings]`` options that the schema cannot (called when the service starts)."""
    reminders.parse_offsets(settings.meetings.reminder_offsets)
    local = settings.meetings.organiser_local_part
    if not re.fullmatch(r"[a-z][a-z0-9._-]{0,63}", local) or local.startswith("bounces"):
        raise SettingsError(
            f"meetings.organiser_local_part: expected lower-case letters, digits, '.', '_' or '-' starting with a "
            f"letter (and not 'bounces…'), got {local!r}"
        )


# -- attendees --------------------------------------------------------------------------------------------------


def default_attendees(snap: Snapshot) -> tuple[list[AttendeeView], list[str]]:
    """The ten provinces' liaison officers with an e-mail address, and warnings for those missing."""
    people: list[AttendeeView] = []
    warnings: list[str] = []
    for code, name in PROVINCES.items():
        office = snap.liaison_officer(code)
        if office is None or not office.email:
            warnings.append(f"{name}没有登记联络员电子邮箱，未列入参会人员")
            continue
        people.append(AttendeeView(office.email.lower(), office.contact_name, office.region_code))
    return people, warnings


def _person(snap: Snapshot | None, address: str) -> AttendeeView:
    email = clean_email(address)
    if snap is not None:
        for office in snap.offices.values():
            if office.email.lower() == email:
                return AttendeeView(email, office.contact_name, office.region_code)
    return AttendeeView(email)


# -- writes -----------------------------------------------------------------------------------------------------


def organiser_address(settings: Settings) -> str:
    return f"{settings.meetings.organiser_local_part}@{settings.liaison.domain}".lower()


def create_meeting(
    store: Store,
    snap: Snapshot | None,
    settings: Settings,
    data: MeetingInput,
    actor: str,
    *,
    now: dt.datetime | None = None,
) -> Outcome:
    """Store a new meeting, queue one invitation per attendee and schedule its reminders."""
    now = now or clock.now()
    missing = [n for n in ("title", "host", "start", "end") if getattr(data, n) in (None, "")]
    if missing:
        raise ValidationFailed([FieldError(n, "必填") for n in missing])
    assert data.title is not None and data.host is not None and data.start and data.end
    values = {"title": data.title.strip(), "place": (data.place or "").strip(), "agenda": data.agenda or ""}
    values["notes"] = data.notes or ""
    _check_text(values)
    host = normalize_host(data.host)
    _check_times(data.start, data.end)
    calendar = load_calendar(store)
    warnings = date_warnings(data.start, data.end, calendar)
    if data.attendees is None and snap is not None:
        people, missing_officers = default_attendees(snap)
        warnings += missing_officers
    else:
        people = _unique([_person(snap, a) for a in data.attendees or ()])
    people = _unique(people + [_person(snap, a) for a in data.add])
    removed = {clean_email(a, "remove") for a in data.remove}
    people = [p for p in people if p.email not in removed]
    _check_count(settings, people)
    row = {
        **values,
        "uid": f"{uuid.uuid4()}@{settings.liaison.domain}",
        "sequence": 0,
        "status": "scheduled",
        "host_province": host,
        "start_at": data.start,
        "end_at": data.end,
        "organiser": organiser_address(settings),
        "created_at": now,
        "updated_at": now,
        "updated_by": actor,
    }
    with store.begin() as conn:
        mid = meeting_store.insert_meeting(conn, row, people)
        meeting = meeting_store.load(conn, mid)
        sent = _queue_notices(conn, store, settings, meeting, "REQUEST", meeting.active_attendees, now)
        reminders.schedule(conn, settings, meeting, now, calendar)
        store.audit(conn, actor, "meeting", str(mid), "create", None, _audit(meeting))
    return Outcome(meeting, warnings, sent)


def _unique(people: list[AttendeeView]) -> list[AttendeeView]:
    seen: dict[str, AttendeeView] = {}
    for p in people:
        seen.setdefault(p.email, p)
    return list(seen.values())


def _check_count(settings: Settings, people: Sequence[AttendeeView]) -> None:
    limit = settings.meetings.max_attendees
    if len(people) > limit:
        raise ValidationFailed([FieldError("attendee", f"参会人员过多（最多 {limit} 人，现有 {len(people)} 人）")])


def _audit(m: MeetingView) -> dict[str, Any]:
    keys = ("uid", "sequence", "status", "title", "host_province", "place", "start_at", "end_at")
    out: dict[str, Any] = {k: getattr(m, k) for k in keys}
    out["attendees"] = [a.email for a in m.active_attendees]
    return out


def update_meeting(
    store: Store,
    snap: Snapshot | None,
    settings: Settings,
    meeting_id: int,
    data: MeetingInput,
    actor: str,
    *,
    now: dt.datetime | None = None,
) -> Outcome:
    """Change a meeting: SEQUENCE+1, an update to everyone on the list, a CANCEL to anyone removed."""
    now = now or clock.now()
    changes = {k: getattr(data, k) for k in ("title", "place", "agenda", "notes") if getattr(data, k) is not None}
    _check_text(changes)
    calendar = load_calendar(store)
    with store.begin() as conn:
        before = meeting_store.load(conn, meeting_id)
        if before.cancelled:
            raise ValidationFailed([FieldError("status", "会议已取消，不能再修改")])
        if data.host is not None:
            changes["host_province"] = normalize_host(data.host)
        start, end = data.start or before.start_at, data.end or before.end_at
        _check_times(start, end)
        changes.update(start_at=start, end_at=end)
        dropped = _apply_list(conn, snap, settings, before, data)
        changed = {k: v for k, v in changes.items() if getattr(before, k) != v}
        if not changed and not dropped[0] and not dropped[1]:
            return Outcome(before, ["没有任何改动，未发送更新"], 0)
        retimed = bool({"start_at", "end_at"} & changed.keys())
        stamp = {"time_sequence": before.sequence + 1} if retimed else {}
        meeting_store.update_meeting(
            conn, meeting_id, **changed, **stamp, sequence=before.sequence + 1, updated_at=now, updated_by=actor
        )
        if retimed:  # a new time asks everyone again (RFC 5546 §2.1.5); answers to older times no longer count
            meeting_store.reset_answers(conn, meeting_id)
        meeting = meeting_store.load(conn, meeting_id)
        sent = _queue_notices(conn, store, settings, meeting, "REQUEST", meeting.active_attendees, now)
        sent += _queue_notices(conn, store, settings, meeting, "CANCEL", dropped[1], now)
        reminders.supersede(conn, meeting_id, now)
        reminders.schedule(conn, settings, meeting, now, calendar)
        store.audit(conn, actor, "meeting", str(meeting_id), "update", _audit(before), _audit(meeting))
    moved = {"start_at", "end_at"} & changed.keys()
    return Outcome(meeting, date_warnings(start, end, calendar) if moved else [], sent)


def _apply_list(
    conn: Connection, snap: Snapshot | None, settings: Settings, before: MeetingView, data: MeetingInput
) -> tuple[list[AttendeeView], list[AttendeeView]]:
    """Add and remove attendees; returns (added, removed)."""
    current = {a.email: a for a in before.active_attendees}
    listed = None if data.attendees is None else [_person(snap, a) for a in data.attendees]
    wanted = dict(current) if listed is None else {p.email: p for p in listed}
    for address in data.add:
        p = _person(snap, address)
        wanted.setdefault(p.email, p)
    for address in data.remove:
        wanted.pop(clean_email(address, "remove"), None)
    _check_count(settings, list(wanted.values()))
    added = [p for e, p in wanted.items() if e not in current]
    removed = [p for e, p in current.items() if e not in wanted]
    mid = before.id
    for p in removed:
        meeting_store.remove_attendee(conn, mid, p.email)
    known = {a.email for a in before.attendees}
    for p in added:
        meeting_store.add_attendee(conn, mid, p, known=p.email in known)
    return added, removed


def cancel_meeting(
    store: Store, settings: Settings, meeting_id: int, actor: str, *, now: dt.datetime | None = None
) -> Outcome:
    """Cancel: STATUS:CANCELLED, SEQUENCE+1, METHOD:CANCEL to everyone ever on the list; reminders dropped."""
    now = now or clock.now()
    with store.begin() as conn:
        before = meeting_store.load(conn, meeting_id)
        if before.cancelled:
            raise ValidationFailed([FieldError("status", "会议已经取消")])
        meeting_store.update_meeting(
            conn, meeting_id, status="cancelled", sequence=before.sequence + 1, updated_at=now, updated_by=actor
        )
        meeting = meeting_store.load(conn, meeting_id)
        sent = _queue_notices(conn, store, settings, meeting, "CANCEL", meeting.attendees, now)
        reminders.supersede(conn, meeting_id, now)
        store.audit(conn, actor, "meeting", str(meeting_id), "cancel", _audit(before), _audit(meeting))
    return Outcome(meeting, [], sent)


# -- notices and reminders --------------------------------------------------------------------------------------


def _queue_notices(
    conn: Connection,
    store: Store,
    settings: Settings,
    meeting: MeetingView,
    method: str,
    people: Sequence[AttendeeView],
    now: dt.datetime,
) -> int:
    secret = links.secret_in(conn, settings)
    for person in people:
        link = links.answer_link(settings, secret, meeting.id, person.email, meeting.sequence)
        msg = mails.notice(meeting, person, method, settings, link, now)
        outbox.enqueue(conn, msg, recipient=person.email, kind=meeting_store.NOTICE_KIND, ref=str(meeting.id))
    return len(people)


# -- replies ----------------------------------------------------------------------------------------------------


def set_partstat(
    store: Store,
    meeting_id: int,
    email: str,
    partstat: str,
    *,
    now: dt.datetime | None = None,
    via: str = "web",
    sequence: int | None = None,
) -> bool:
    """Record one attendee's answer; False when the meeting is cancelled, the person is not (or no longer) on it, or
    the answer is to a notice (``sequence``) older than the last change of the meeting's time."""
    if partstat not in PARTSTATS or partstat == "NEEDS-ACTION":
        raise ValidationFailed([FieldError("partstat", "答复应为 ACCEPTED、DECLINED 或 TENTATIVE", value=partstat)])
    now = now or clock.now()
    with store.begin() as conn:
        meeting = meeting_store.load(conn, meeting_id)
        person = next((a for a in meeting.active_attendees if a.email == email.lower()), None)
        if person is None or meeting.cancelled:
            return False
        if sequence is not None and sequence < meeting.time_sequence:
            return False
        meeting_store.set_answer(conn, meeting_id, person.email, partstat, now)
        store.audit(conn, f"{via}:{person.email}", "meeting", str(meeting_id), "reply", None, {"partstat": partstat})
    return True
