"""Letters (联络函): compose, route, thread, queue, and keep the reply deadlines.

Owns: validating a :class:`Draft`, rendering its text (free text or a jinja2 template of ``templates/letters``),
numbering, threading (Message-ID / In-Reply-To / References), one delivery per recipient (e-mail, or fax as an A4
PDF, or the parent office) queued in the outbox in the same transaction, and the deadline in working days with its
reminder and overdue dates. The SQL is :mod:`liaison.letters.store`'s.

Entry points: :func:`send_letter`, :func:`render_template`, :func:`build_message`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import jinja2
from sqlalchemy.engine import Connection

from directory import clock
from directory.errors import FieldError, NotFound, ValidationFailed, label_fields
from directory.snapshot import Snapshot
from directory.store import Store
from directory.textrules import text_error
from liaison.letters import faxpdf
from liaison.letters import store as letter_store
from liaison.mail import headers, outbox, text
from liaison.routing import Route, liaison_copy, route
from liaison.settings import Settings
from liaison.workdays.calendar import Calendar, default_calendar

LETTER_TEMPLATES = {"tongbao": "通报", "hecha": "核查", "fankui": "反馈"}
MAX_RECIPIENTS = 20000
MAX_BODY = 100_000
OPEN_STATES = ("queued", "sent", "deferred")
STATE_NAMES = {  # how a delivery's state is shown to staff (CLI and web)
    "queued": "待发",
    "sent": "已发",
    "deferred": "重试中",
    "failed": "失败",
    "bounced": "退信",
    "replied": "已回复",
    "overdue": "逾期",
}


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Draft:
    from_code: str
    to: Sequence[str]
    subject: str
    body: str
    reply_within: int | None = None
    attachments: Sequence[Attachment] = ()
    in_reply_to: str = ""  # number or Message-ID of the letter this one answers
    template: str = ""
    actor: str = "cli"
    role: str = "admin"  # of who sends it, for [letters] max_recipients_<role>; the CLI counts as an administrator


@dataclass(frozen=True)
class Sent:
    id: int
    number: str
    deliveries: list[letter_store.Delivery] = field(default_factory=list)


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Body text from ``templates/letters/mail/<name>.txt`` (tongbao 通报, hecha 核查, fankui 反馈)."""
    if name not in LETTER_TEMPLATES:
        raise ValidationFailed([FieldError("template", f"模板应为 {'、'.join(LETTER_TEMPLATES)} 之一", value=name)])
    try:
        return text.render_text(f"letters/mail/{name}.txt", **context).strip()
    except jinja2.UndefinedError as exc:
        raise ValidationFailed([FieldError("template", f"模板缺少字段：{exc.message}", value=name)]) from None


# -- validation -------------------------------------------------------------------------------------------------


def _validate(draft: Draft, snap: Snapshot, settings: Settings) -> list[FieldError]:
    errors: list[FieldError] = []
    if snap.office(draft.from_code) is None:
        errors.append(FieldError("from", "发函单位不存在", value=draft.from_code))
    if not draft.to:
        errors.append(FieldError("to", "至少需要一个收函单位"))
    if len(draft.to) > MAX_RECIPIENTS:
        errors.append(FieldError("to", f"收函单位不得超过 {MAX_RECIPIENTS} 个", value=str(len(draft.to))))
    errors += _ceiling(draft, settings)
    errors += [FieldError("to", "区划代码不存在", value=c) for c in draft.to if snap.region(c) is None]
    if not draft.subject.strip() or len(draft.subject) > 200:
        errors.append(FieldError("subject", "标题不能为空，且不超过 200 字", value=draft.subject[:50]))
    errors += _control("subject", draft.subject) + _control("body", draft.body, multiline=True)
    errors += _control("in_reply_to", draft.in_reply_to) + [e for c in draft.to for e in _control("to", c)]
    if not draft.body.strip() or len(draft.body) > MAX_BODY:
        errors.append(FieldError("body", f"正文不能为空，且不超过 {MAX_BODY} 字", value=str(len(draft.body))))
    if draft.reply_within is not None and not 1 <= draft.reply_within <= 60:
        errors.append(FieldError("reply_within", "回复期限应为 1 至 60 个工作日", value=str(draft.reply_within)))
    for a in draft.attachments:
        if len(a.data) > settings.liaison.max_attachment_size:
            errors.append(
                FieldError("attach", f"附件超过 {settings.liaison.max_attachment_size} 字节", value=a.filename)
            )
        if not a.filename or "/" in a.filename or "\\" in a.filename or len(a.filename) > 200:
            errors.append(FieldError("attach", "附件文件名无效", value=a.filename))
        errors += _control("attach", a.filename) + _control("attach", a.content_type)
    return errors


def _ceiling(draft: Draft, settings: Settings) -> list[FieldError]:
    """The per-role ceiling of recipient offices (an unknown role gets the editors' one)."""
    role = "admin" if draft.role == "admin" else "editor"
    limits = settings.letters
    ceiling = limits.max_recipients_admin if role == "admin" else limits.max_recipients_editor
    count = len(dict.fromkeys(draft.to))
    if count <= ceiling:
        return []
    who = "管理员" if role == "admin" else "编辑"
    message = f"收函单位 {count} 个，超过{who}每封函的上限 {ceiling} 个（设置 [letters] max_recipients_{role}）"
    return [FieldError("to", message, value=str(count))]


_LABELS = {"subject": "标题", "body": "正文", "in_reply_to": "所回复的函", "to": "收函单位", "attach": "附件"}
label_fields({**_LABELS, "from": "发函单位", "under": "该区划下的全部单位", "reply_within": "要求回复（工作日）",
              "template": "模板", "body-file": "正文文件", "level": "层级"})  # fmt: skip


def _control(name: str, value: str, *, multiline: bool = False) -> list[FieldError]:
    """A clear error for a character the text rules refuse (CR, LF, NUL, U+2028, bidi overrides, zero-width …):
    it could inject mail headers, break the message or disguise the text (rules: :mod:`directory.validate`)."""
    error = text_error(name, _LABELS[name], value, multiline=multiline)
    return [] if error is None else [error]


# -- deadlines ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    deadline: dt.date
    provisional: bool
    remind_on: dt.date
    overdue_on: dt.date


def deadline_for(calendar: Calendar, sent_on: dt.date, reply_within: int, remind_before: int) -> Deadline:
    """Reply-by date (n-th working day after sending), the reminder date and the day the letter turns overdue."""
    due = calendar.add_workdays_marked(sent_on, reply_within)
    remind_on = calendar.workdays_before(due.date, remind_before, floor=sent_on)
    overdue = calendar.add_workdays_marked(due.date, 1)
    return Deadline(due.date, due.provisional or overdue.provisional, remind_on, overdue.date)


# -- messages -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What every message of one letter shares."""

    number: str
    subject: str
    body: str
    sender_name: str
    sender_code: str
    sender_address: str
    domain: str
    thread_ids: tuple[str, ...]
    attachments: Sequence[Attachment]
    sent_on: dt.date
    font: str


def _letter_text(ctx: Context, recipient_name: str, r: Route, dl: Deadline | None, reply_within: int | None) -> str:
    return text.render_text(
        "letters/mail/letter.txt",
        recipient_name=recipient_name,
        body=ctx.body,
        reply_by=clock.shown(dl.deadline) if dl else "",
        reply_within=reply_within,
        provisional=dl.provisional if dl else False,
        note=r.note,
        attachments=[a.filename for a in ctx.attachments],
        sender_name=ctx.sender_name,
        date=clock.shown(ctx.sent_on),
        number=ctx.number,
        sender_address=ctx.sender_address,
    )


def build_message(
    ctx: Context, r: Route, *, recipient_name: str, subject: str, text: str, reply_by: str, message_id: str
) -> EmailMessage:
    """An e-mail (channel email) or a fax (PDF for the RFC 3192 gateway) of one delivery."""
    msg = EmailMessage()
    msg["From"] = headers.mailbox(ctx.sender_name, f"{ctx.sender_code}@{ctx.domain}")
    msg["To"] = headers.mailbox("", r.address)
    msg["Subject"] = headers.one_line(subject)
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message_id
    if ctx.thread_ids:
        msg["In-Reply-To"] = ctx.thread_ids[-1]
        msg["References"] = " ".join(ctx.thread_ids)
    msg["X-Bohai-Letter"] = ctx.number
    if r.channel == "fax":
        msg.set_content(f"传真：{subject}（共附 PDF 一份）\n")
        page = faxpdf.FaxPage(ctx.sender_name, recipient_name, subject, text, reply_by)
        msg.add_attachment(faxpdf.render(page, ctx.font), maintype="application", subtype="pdf", filename="letter.pdf")
        return msg
    msg.set_content(text)
    for a in ctx.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        params = {"charset": "utf-8"} if maintype == "text" else {}
        msg.add_attachment(a.data, maintype, subtype or "octet-stream", filename=a.filename, params=params)
    return msg


# -- sending ------------------------------------------------------------------------------------------------------


def _routes(snap: Snapshot, draft: Draft, settings: Settings) -> list[tuple[Route, bool]]:
    gateway = settings.fax.gateway
    out: list[tuple[Route, bool]] = []
    copied: set[str] = set()
    for code in dict.fromkeys(draft.to):
        out.append((route(snap, code, fax_gateway=gateway), False))
        if settings.liaison.copy_liaison_officer:
            copy = liaison_copy(snap, code, fax_gateway=gateway)
            if copy is not None and copy.via_code not in copied and copy.via_code not in draft.to:
                copied.add(copy.via_code)
                out.append((copy, True))
    return out


def _thread(conn: Connection, in_reply_to: str, from_code: str, now: dt.datetime) -> tuple[str, ...]:
    """References of an answer letter (root first, the message answered last); the answered delivery is replied."""
    if not in_reply_to:
        return ()
    found = letter_store.parent(conn, in_reply_to)
    if found is None:
        raise NotFound(f"被回复的函 {in_reply_to} 不存在")
    parent_id, message_id, thread = found
    chain = list(dict.fromkeys([thread, message_id]))
    answered = letter_store.received_by(conn, parent_id, from_code)
    if answered:
        chain.append(answered)
        letter_store.mark_replied(conn, [answered], now)
    return tuple(chain)


def send_letter(
    store: Store,
    settings: Settings,
    snap: Snapshot,
    draft: Draft,
    *,
    calendar: Calendar | None = None,
    now: dt.datetime | None = None,
) -> Sent:
    """Validate, route and queue a letter and all its deliveries in one transaction; returns its number."""
    errors = _validate(draft, snap, settings)
    if errors:
        raise ValidationFailed(errors)
    now = now or clock.now()
    calendar = calendar or default_calendar()
    routes = _routes(snap, draft, settings)
    if any(r.channel == "fax" for r, _ in routes):
        faxpdf.check_font(settings.liaison.fax_font)
    sent_on = clock.local_date(now)
    dl = None
    if draft.reply_within:
        dl = deadline_for(calendar, sent_on, draft.reply_within, settings.liaison.reminder_days_before)
    with store.begin() as conn:
        letter_id, ctx = _insert_letter(conn, store, settings, snap, draft, now, sent_on)
        rows = [
            _queue_delivery(conn, ctx, snap, r, is_copy, dl, draft.reply_within, letter_id) for r, is_copy in routes
        ]
    return Sent(letter_id, ctx.number, rows)


def _insert_letter(
    conn: Connection, store: Store, settings: Settings, snap: Snapshot, draft: Draft, now: dt.datetime, sent_on: dt.date
) -> tuple[int, Context]:
    domain = settings.liaison.domain
    thread_ids = _thread(conn, draft.in_reply_to, draft.from_code, now)
    message_id = email.utils.make_msgid(domain=domain)
    values = {
        "from_code": draft.from_code,
        "subject": draft.subject.strip(),
        "body": draft.body,
        "template": draft.template,
        "message_id": message_id,
        "in_reply_to": thread_ids[-1] if thread_ids else "",
        "thread": thread_ids[0] if thread_ids else message_id,
        "reply_within": draft.reply_within,
        "created_at": now,
        "created_by": draft.actor,
    }
    letter_id, number = letter_store.insert_letter(conn, values, lambda i: f"渤联〔{sent_on.year}〕{i:05d}号")
    for a in draft.attachments:
        letter_store.insert_attachment(conn, letter_id, a.filename, a.content_type, a.data)
    store.audit(conn, draft.actor, "letter", number, "send", None, {"to": list(draft.to), "subject": draft.subject})
    sender = snap.offices[draft.from_code]
    ctx = Context(
        number,
        draft.subject.strip(),
        draft.body,
        sender.unit_name,
        sender.region_code,
        sender.address,
        domain,
        thread_ids,
        tuple(draft.attachments),
        sent_on,
        settings.liaison.fax_font,
    )
    return letter_id, ctx


def _queue_delivery(
    conn: Connection,
    ctx: Context,
    snap: Snapshot,
    r: Route,
    is_copy: bool,
    dl: Deadline | None,
    reply_within: int | None,
    letter_id: int,
) -> letter_store.Delivery:
    region = snap.regions[r.region_code]
    office = snap.office(r.region_code)
    name = office.unit_name if office is not None else region.name
    if is_copy:
        name = snap.offices[r.via_code].unit_name
        dl = None
    message_id = email.utils.make_msgid(domain=ctx.domain)
    text = _letter_text(ctx, name, r, dl, reply_within)
    subject = f"{'[抄送] ' if is_copy else ''}{ctx.subject}（{ctx.number}）"
    reply_by = clock.shown(dl.deadline) if dl else ""
    try:
        msg = build_message(
            ctx, r, recipient_name=name, subject=subject, text=text, reply_by=reply_by, message_id=message_id
        )
    except ValueError as exc:  # e.g. an address stored before the rules: refuse the letter, naming the office
        raise ValidationFailed([FieldError("to", f"{name}：{exc}", value=r.region_code)]) from None
    values: dict[str, Any] = {
        "letter_id": letter_id,
        "region_code": r.region_code,
        "via_code": r.via_code,
        "channel": r.channel,
        "address": r.address,
        "is_copy": is_copy,
        "note": r.note,
        "state": "queued",
        "message_id": message_id,
        "deadline": dl.deadline if dl else None,
        "deadline_provisional": dl.provisional if dl else False,
        "remind_on": dl.remind_on if dl else None,
        "overdue_on": dl.overdue_on if dl else None,
    }
    did = letter_store.insert_delivery(conn, values)
    kind = "fax" if r.channel == "fax" else "letter"
    oid = outbox.enqueue(conn, msg, recipient=r.address, kind=kind, ref=f"delivery:{did}")
    letter_store.set_outbox(conn, did, oid)
    return letter_store.delivery_from({**values, "id": did, "outbox_id": oid, "state_note": ""})
