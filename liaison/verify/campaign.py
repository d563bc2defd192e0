"""The life of a verification campaign: start (one item and one notice per office, queued in bulk in one
transaction), status, list, close.

Owns: who is asked and how — the office's own e-mail (a link with a random single-office token), else its fax
through the gateway (a PDF with the address of the code page and an 8-character short code that works only with the
office's region code), else it is listed for the editor to phone; never a parent office, since only the office itself
can say its entry is true — the due date in working days, the link's expiry (due date plus ``[verify] grace_days``),
and the per-office states. Tokens and codes are never stored, only their SHA-256. The SQL is
:mod:`liaison.verify.store`'s; the follow-up (reminders, escalation) is :mod:`liaison.verify.followup`'s.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

from sqlalchemy.engine import Connection

from directory import clock
from directory.errors import Conflict, FieldError, NotFound, ValidationFailed
from directory.snapshot import OfficeView, Snapshot
from directory.store import Store
from liaison.letters import faxpdf
from liaison.mail import bulk, headers, outbox, text
from liaison.mail.transports.fax import fax_address
from liaison.settings import Settings
from liaison.verify import store as vstore
from liaison.workdays.calendar import Calendar, default_calendar

TOKEN_BYTES = 24  # 192 bits
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a fax and typed by hand
CODE_LENGTH = 8
MAX_DUE_WITHIN = 60
SENDER_NAME = "环渤海通讯联络服务"
KIND_NOTICE = "verify"
KIND_REMINDER = "verify_remind"
KIND_DIGEST = "verify_digest"
KIND_DECISION = "verify_decision"
STATE_NAMES = {
    "pending": "待核对",
    "confirmed": "已确认无误",
    "corrected": "已提交更正（待审核）",
    "approved": "更正已采纳",
    "rejected": "更正未采纳",
    "bounced": "邮箱退信",
    "overdue": "逾期未答复",
    "escalated": "逾期已督办",
}
STATES = tuple(STATE_NAMES)
ANSWERABLE = ("pending", "overdue", "escalated")  # the office may still confirm or correct
SILENT = ("pending", "overdue", "escalated", "bounced")  # not answered
CHANNEL_NAMES = {"email": "电子邮件", "fax": "传真", "phone": "电话（无邮箱和传真）"}
SELF_CHECKED = "本单位自助核对"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_code(region_code: str, code: str) -> str:
    """The stored form of a fax short code: bound to its office, so a code is worth nothing with another code."""
    return hashlib.sha256(f"{region_code}:{code.strip().upper()}".encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def parse_remind_days(value: str) -> tuple[int, ...]:
    """``"3, 1"`` → (3, 1): working days before the due date, largest first; a bad entry is a ValidationFailed."""
    days: set[int] = set()
    for part in value.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= MAX_DUE_WITHIN:
            raise ValidationFailed([FieldError("remind_days", "应为 1 至 60 的工作日数，以逗号分隔", value=part)])
        days.add(int(part))
    return tuple(sorted(days, reverse=True))


def end_of_local_day(day: dt.date) -> dt.datetime:
    """The first moment after ``day`` in Beijing, as aware UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=clock.ZONE).astimezone(dt.UTC)


# -- who is asked -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    id: int
    due_on: dt.date
    emails: int
    faxes: int
    phones: tuple[str, ...]  # region codes of offices with neither e-mail nor fax

    @property
    def offices(self) -> int:
        return self.emails + self.faxes + len(self.phones)


ALL = ""  # the region code of a campaign for the whole directory (`bohai verify start --region all`)


def offices_in(snap: Snapshot, region_code: str) -> list[OfficeView]:
    """Every office of the region and below it (every office for :data:`ALL`), in region-code order."""
    if region_code == ALL:
        return sorted(snap.offices.values(), key=lambda o: o.region_code)
    if snap.region(region_code) is None:
        raise NotFound(f"区划代码 {region_code} 不存在")
    found = [snap.offices[r.code] for r in snap.descendants(region_code) if r.code in snap.offices]
    return sorted(found, key=lambda o: o.region_code)


def channel_of(office: OfficeView, settings: Settings) -> tuple[str, str]:
    """("email", address), ("fax", RFC 3192 address) or ("phone", "")."""
    if office.email and office.email_status != "bouncing":
        return "email", office.email
    address = fax_address(office.fax, settings.fax.gateway)
    if address:
        return "fax", address
    return "phone", ""


def _sender(settings: Settings) -> Address:
    return headers.mailbox(SENDER_NAME, f"noreply@{settings.liaison.domain}")


class Mails:
    """Plain-text campaign mails of one batch, built fast (:mod:`liaison.mail.bulk`); an address or subject the
    fast path refuses is built by the ``email`` package instead."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.template = bulk.PlainTemplate(_sender(settings), domain=settings.liaison.domain)

    def queued(self, to: str, subject: str, body: str, kind: str, ref: str) -> outbox.Queued:
        try:
            raw, message_id = self.template.build(to, subject, body)
        except ValueError:
            return outbox.Queued(mail(self.settings, to, subject, body), to, kind, ref)
        return outbox.Queued(raw, to, kind, ref, message_id)


def mail(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text campaign mail (notice, reminder, digest, decision), marked automatic (RFC 3834)."""
    msg = EmailMessage()
    msg["From"] = _sender(settings)
    msg["To"] = headers.mailbox("", to)
    msg["Subject"] = headers.one_line(subject)
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=settings.liaison.domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    return msg


def fax(settings: Settings, to: str, recipient_name: str, subject: str, body: str, due: str) -> EmailMessage:
    """A campaign fax: an A4 PDF for the e-mail-to-fax gateway."""
    msg = mail(settings, to, subject, body)  # the body is the gateway's cover text; the PDF says the same, for paper
    page = faxpdf.FaxPage(SENDER_NAME, recipient_name, subject, body, due)
    pdf = faxpdf.render(page, settings.liaison.fax_font)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="verify.pdf")
    return msg


def link(settings: Settings, token: str) -> str:
    return f"{settings.public_url()}/check?t={token}"


def code_page(settings: Settings) -> str:
    return f"{settings.public_url()}/check/code"


# -- start ------------------------------------------------------------------------------------------------------------


def _check(
    snap: Snapshot, settings: Settings, region_code: str, due_within: int, editor: bool, offices: Sequence[OfficeView]
) -> list[FieldError]:
    errors: list[FieldError] = []
    if not 1 <= due_within <= MAX_DUE_WITHIN:
        errors.append(FieldError("due_within", f"核对期限应为 1 至 {MAX_DUE_WITHIN} 个工作日", value=str(due_within)))
    if not offices:
        errors.append(FieldError("region", "该区划及其下级没有任何单位记录", value=region_code))
    ceiling = settings.verify.max_offices_editor
    if editor and len(offices) > ceiling:
        message = f"涉及 {len(offices)} 个单位，超过编辑每次核对的上限 {ceiling} 个（设置 [verify] max_offices_editor）"
        errors.append(FieldError("region", message, value=region_code))
    return errors


def _overlap(conn: Connection, snap: Snapshot, region_code: str) -> str | None:
    """The code of an open campaign whose region contains, or lies within, ``region_code`` ("" is everything)."""
    lineage = {r.code for r in snap.ancestors(region_code)} | {region_code}
    for code in vstore.open_campaign_regions(conn):
        if ALL in (code, region_code) or code in lineage or region_code in {r.code for r in snap.ancestors(code)}:
            return code
    return None


def start_campaign(
    store: Store,
    settings: Settings,
    snap: Snapshot,
    *,
    region_code: str,
    due_within: int,
    actor: str,
    editor: bool = False,
    calendar: Calendar | None = None,
    now: dt.datetime | None = None,
) -> Started:
    """Open a campaign for every office of ``region_code`` and below, queueing all notices in one transaction.

    ``editor`` applies the editors' ceiling (``[verify] max_offices_editor``); whether the user may act on the region
    at all is the caller's check (``User.can_edit``). Refused while an open campaign covers an overlapping region.
    """
    offices = offices_in(snap, region_code)
    errors = _check(snap, settings, region_code, due_within, editor, offices)
    if errors:
        raise ValidationFailed(errors)
    remind_days = parse_remind_days(settings.verify.remind_days)
    calendar = calendar or default_calendar()
    now = now or clock.now()
    today = clock.local_date(now)
    due_on = calendar.add_workdays(today, due_within)
    expires_at = end_of_local_day(due_on + dt.timedelta(days=settings.verify.grace_days))
    channels = [(o, *channel_of(o, settings)) for o in offices]
    if any(kind == "fax" for _, kind, _ in channels):
        faxpdf.check_font(settings.liaison.fax_font)
    with store.begin() as conn:
        other = _overlap(conn, snap, region_code)
        if other is not None:
            mine, theirs = region_code or "全部地区", other or "全部地区"
            raise Conflict(f"区划 {theirs} 已有进行中的信息核对，与 {mine} 重叠；请先结束那一次核对")
        where = snap.regions[region_code].path_text if region_code != ALL else "全部地区"
        title = f"{where}通讯录信息核对"
        campaign_id = vstore.insert_campaign(
            conn,
            region_code=region_code,
            title=title[:200],
            due_on=due_on,
            expires_at=expires_at,
            remind_days=",".join(map(str, remind_days)),
            created_at=now,
            created_by=actor,
        )
        items, queued, phones = _notices(settings, campaign_id, channels, due_on, expires_at)
        vstore.insert_items(conn, items)
        outbox.enqueue_many(conn, queued)
        after = {"region_code": region_code, "due_on": due_on.isoformat(), "offices": len(items)}
        store.audit(conn, actor, "verify_campaign", str(campaign_id), "start", None, after)
    emails = sum(1 for _, kind, _ in channels if kind == "email")
    return Started(campaign_id, due_on, emails, len(channels) - emails - len(phones), tuple(phones))


def _notices(
    settings: Settings,
    campaign_id: int,
    channels: Sequence[tuple[OfficeView, str, str]],
    due_on: dt.date,
    expires_at: dt.datetime,
) -> tuple[list[dict[str, object]], list[outbox.Queued], list[str]]:
    items: list[dict[str, object]] = []
    queued: list[outbox.Queued] = []
    phones: list[str] = []
    mails = Mails(settings)
    subject_tail = "请核对本单位通讯录信息"
    due = clock.shown(due_on)
    valid_until = clock.shown(expires_at - dt.timedelta(seconds=1))
    for office, kind, address in channels:
        item: dict[str, object] = {
            "campaign_id": campaign_id,
            "region_code": office.region_code,
            "channel": kind,
            "address": address,
            "state": "pending",
            "token_hash": None,
            "code_hash": None,
            "base_version": office.version,
            "note": "",
        }
        ref = f"verify:{campaign_id}:{office.region_code}"
        if kind == "email":
            token = new_token()
            item["token_hash"] = hash_token(token)
            body = text.render_text(
                "verify/mail/notice.txt", office=office, link=link(settings, token), due=due, valid_until=valid_until
            )
            subject = f"【信息核对】{subject_tail}（{office.unit_name}）"
            queued.append(mails.queued(address, subject, body, KIND_NOTICE, ref))
        elif kind == "fax":
            code = new_code()
            item["code_hash"] = hash_code(office.region_code, code)
            body = text.render_text(
                "verify/mail/notice_fax.txt",
                office=office,
                page=code_page(settings),
                code=code,
                due=due,
                valid_until=valid_until,
            )
            msg = fax(settings, address, office.unit_name, f"【信息核对】{subject_tail}", body, due)
            queued.append(outbox.Queued(msg, address, KIND_NOTICE, ref))
        else:
            phones.append(office.region_code)
        items.append(item)
    return items, queued, phones


# -- status, list, close ----------------------------------------------------------------------------------------------


def close_campaign(store: Store, campaign_id: int, actor: str) -> None:
    """Close an open campaign: its links stop working and no more reminders or escalations are sent."""
    with store.begin() as conn:
        campaign = vstore.campaign(conn, campaign_id)
        if campaign is None:
            raise NotFound(f"信息核对 {campaign_id} 不存在")
        if campaign.state == "closed":
            raise Conflict(f"信息核对 {campaign_id} 已经结束")
        vstore.close(conn, campaign_id, actor, clock.now())
        store.audit(conn, actor, "verify_campaign", str(campaign_id), "close", {"state": "open"}, {"state": "closed"})
