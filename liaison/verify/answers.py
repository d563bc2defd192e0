"""What an office and its editor do with a campaign item: the office confirms or proposes a correction through its
link (no account), the province editor approves (as is or edited) or rejects the correction.

Owns: finding an item by its link token or by region code and fax short code (both throttled per client address,
the code also per office, counted in ``verify_attempt`` so every instance sees the same counts), the rule of which
items may still answer (404 for an unknown token or code, 410 for a used, expired or closed one), the confirmation
stamp (``本单位自助核对``), corrections validated by the one set of office rules
(:func:`directory.validate.clean_office`) and decisions: an approval is an ordinary audited edit through the store in
the same transaction as the decision, and the office gets a short mail either way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from directory import clock
from directory.errors import BohaiError, Conflict, FieldError, NotFound, ValidationFailed
from directory.models import OFFICE_FIELDS
from directory.snapshot import OfficeView, Snapshot
from directory.store import Store
from directory.textrules import text_error
from directory.validate import OfficeData, clean_office, display_phone
from liaison.mail import outbox, text
from liaison.settings import Settings
from liaison.verify import campaign as vcampaign
from liaison.verify import store as vstore

WINDOW = dt.timedelta(hours=1)
MAX_TOKEN = 100
FIELDS = tuple(name for name, _ in OFFICE_FIELDS)


class Gone(BohaiError):
    """The link or code was valid once: used already, expired, or its campaign is closed."""

    status = 410


class TooMany(BohaiError):
    """Too many wrong tokens or codes within the hour: refused without looking (the answer does not say whether the
    code would have been right)."""

    status = 429


@dataclass(frozen=True)
class Found:
    item: vstore.Item
    secret: dict[str, str]  # what the page's forms carry back: {"t": token} or {"r": region code, "c": code}


# -- finding the item -------------------------------------------------------------------------------------------------


def _throttle(conn: Connection, key: str, limit: int, now: dt.datetime, message: str) -> None:
    if vstore.attempts_since(conn, key, now - WINDOW) >= limit:
        raise TooMany(message)


def _usable(item: vstore.Item, now: dt.datetime) -> None:
    if item.campaign_state != "open":
        raise Gone("本次信息核对已经结束，此链接不再有效；如需更正，请联系本省编辑")
    if item.expires_at is not None and now >= item.expires_at:
        raise Gone("此链接已过期；如需更正，请联系本省编辑")
    if item.state not in vcampaign.ANSWERABLE:
        shown = vcampaign.STATE_NAMES.get(item.state, item.state)
        raise Gone(f"本单位已完成本次核对（{shown}），此链接不能再次使用")


def by_token(store: Store, settings: Settings, token: str, client: str, now: dt.datetime) -> Found:
    """The item of a link token; a token that matches nothing counts against the client's hourly allowance."""
    client_key = f"client:{client}"[:100]
    with store.begin() as conn:
        _throttle(conn, client_key, settings.verify.client_failures_per_hour, now, "尝试次数过多，请一小时后再试")
        found = None
        if token and len(token) <= MAX_TOKEN and token.replace("-", "").replace("_", "").isalnum():
            found = vstore.item_by_token(conn, vcampaign.hash_token(token))
        if found is None:
            vstore.add_attempt(conn, client_key, now)
    if found is None:
        raise NotFound("链接无效：请检查是否完整复制了邮件中的链接")
    _usable(found, now)
    return Found(found, {"t": token})


def by_code(store: Store, settings: Settings, region_code: str, code: str, client: str, now: dt.datetime) -> Found:
    """The item of a fax short code, which counts only together with its office's region code; wrong guesses count
    per office and per client address, and past either hourly allowance every guess is refused (429)."""
    region_code, code = region_code.strip(), code.strip().upper()
    code_key, client_key = f"code:{region_code[:12]}", f"client:{client}"[:100]
    limit = settings.verify.code_failures_per_hour
    with store.begin() as conn:
        _throttle(conn, client_key, settings.verify.client_failures_per_hour, now, "尝试次数过多，请一小时后再试")
        if len(region_code) == 12 and region_code.isdigit():
            _throttle(conn, code_key, limit, now, "该单位的核对码错误次数过多，请一小时后再试")
        found = None
        if len(region_code) == 12 and region_code.isdigit() and len(code) == vcampaign.CODE_LENGTH:
            found = vstore.item_by_code(conn, region_code, vcampaign.hash_code(region_code, code))
        if found is None:
            vstore.add_attempt(conn, client_key, now)
            vstore.add_attempt(conn, code_key, now)
    if found is None:
        raise NotFound("区划代码或核对码不正确")
    _usable(found, now)
    return Found(found, {"r": region_code, "c": code})


# -- the office answers -----------------------------------------------------------------------------------------------


def _open_item(conn: Connection, item_id: int, now: dt.datetime) -> vstore.Item:
    item = vstore.item(conn, item_id, lock=True)
    if item is None:
        raise NotFound("核对记录不存在")
    _usable(item, now)
    return item


def confirm(store: Store, item_id: int, now: dt.datetime) -> None:
    """信息无误: the office's entry is stamped confirmed today by 本单位自助核对; the link is used up."""
    with store.begin() as conn:
        item = _open_item(conn, item_id, now)
        store.confirm_in(conn, item.region_code, f"self:{item.region_code}", vcampaign.SELF_CHECKED)
        vstore.set_item(conn, item.id, state="confirmed", answered_at=now)


def clean_fields(form: dict[str, str], region_code: str, snap: Snapshot) -> tuple[OfficeData | None, list[FieldError]]:
    """The eight fields of a form, checked by the rules of import and editing (region code fixed to the office's)."""
    raw = {name: form.get(name, "") for name in FIELDS}
    cleaned = clean_office({"region_code": region_code, **raw}, known_region=snap.regions)
    return cleaned.data, cleaned.errors


def correct(store: Store, snap: Snapshot, item_id: int, form: dict[str, str], now: dt.datetime) -> list[FieldError]:
    """Record the office's proposed values for the editor; returns the field errors instead when they are not valid
    (nothing is stored then). The directory is not changed."""
    with store.read() as conn:
        item = vstore.item(conn, item_id)
    if item is None:
        raise NotFound("核对记录不存在")
    data, errors = clean_fields(form, item.region_code, snap)
    if errors or data is None:
        return errors
    office = snap.office(item.region_code)
    if office is not None and data.fields() == {name: getattr(office, name) for name in FIELDS}:
        return [FieldError("", "没有任何改动；如信息无误，请点击“信息无误”")]
    with store.begin() as conn:
        item = _open_item(conn, item_id, now)
        vstore.insert_correction(conn, item.id, data.fields(), office.version if office else 0)
        vstore.set_item(conn, item.id, state="corrected", answered_at=now)
    return []


# -- the editor decides -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """One correction in the editor's queue, with the rows of the field-by-field comparison."""

    correction: vstore.Correction
    item: vstore.Item
    office: OfficeView | None
    rows: tuple[tuple[str, str, str, str, bool], ...]  # name, label, current (shown), proposed (shown), changed
    changed_since_notice: bool  # the entry was edited after the notice went out


def _shown(name: str, value: str) -> str:
    return display_phone(value) if name in ("phone", "fax") else value


def pending(conn: Connection, snap: Snapshot, items: list[vstore.Item]) -> list[Pending]:
    found = vstore.corrections_of(conn, [i.id for i in items])
    out = []
    for item in items:
        c = found.get(item.id)
        if c is None:
            continue
        office = snap.office(item.region_code)
        rows = []
        for name, label in OFFICE_FIELDS:
            current = getattr(office, name) if office is not None else ""
            proposed = c.proposed.get(name, "")
            rows.append((name, label, _shown(name, current), _shown(name, proposed), current != proposed))
        changed = office is None or office.version != item.base_version
        out.append(Pending(c, item, office, tuple(rows), changed))
    return out


def _notify(
    conn: Connection, settings: Settings, office: OfficeView | None, template: str, subject: str, **ctx: object
) -> None:
    """The short mail to the office about the decision (e-mail offices only)."""
    if office is None or not office.email or office.email_status == "bouncing":
        return
    body = text.render_text(f"verify/mail/{template}.txt", office=office, **ctx)
    msg = vcampaign.mail(settings, office.email, subject, body)
    outbox.enqueue(
        conn, msg, recipient=office.email, kind=vcampaign.KIND_DECISION, ref=f"verify-decision:{office.region_code}"
    )


def _decidable(conn: Connection, correction_id: int) -> tuple[vstore.Correction, vstore.Item]:
    c = vstore.correction(conn, correction_id, lock=True)
    if c is None:
        raise NotFound(f"更正 {correction_id} 不存在")
    if c.state != "pending":
        raise Conflict("该更正已经处理过了")
    item = vstore.item(conn, c.item_id, lock=True)
    assert item is not None  # foreign key
    return c, item


def approve(
    store: Store,
    settings: Settings,
    snap: Snapshot,
    correction_id: int,
    values: dict[str, str],
    actor: str,
    *,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> None:
    """Approve (``values`` are the proposed ones, possibly edited by the editor): an ordinary audited edit of the
    office, the confirmed stamp, the decision and the office's mail in one transaction. ``expected_version`` is the
    version the editor's comparison showed; someone else's edit in between is a Conflict and nothing is written."""
    now = now or clock.now()
    with store.read() as conn:
        c = vstore.correction(conn, correction_id)
        item = vstore.item(conn, c.item_id) if c is not None else None
    if c is None or item is None:
        raise NotFound(f"更正 {correction_id} 不存在")
    data, errors = clean_fields(values, item.region_code, snap)
    if errors or data is None:
        raise ValidationFailed(errors)
    office = snap.office(item.region_code)
    with store.begin() as conn:
        c, item = _decidable(conn, correction_id)
        store.save_office_in(conn, data, actor, expected_version=expected_version)
        store.confirm_in(conn, item.region_code, actor, f"{vcampaign.SELF_CHECKED}，编辑审核")  # no account names
        vstore.decide(conn, c.id, "approved", actor, "", now)
        vstore.set_item(conn, item.id, state="approved")
        submitted = clock.shown(c.submitted_at)
        _notify(conn, settings, office, "approved", "【信息核对】本单位的信息更正已采纳", submitted=submitted)


def reject(
    store: Store, settings: Settings, snap: Snapshot, correction_id: int, reason: str, actor: str,
    *, now: dt.datetime | None = None,
) -> None:  # fmt: skip
    """Reject with a reason (1 to 500 characters): the directory stays as it is; the office is told why."""
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise ValidationFailed([FieldError("reason", "请填写不采纳的原因（不超过 500 字）", value=reason[:50])])
    bad = text_error("reason", "不采纳的原因", reason)  # it goes into a mail: no line breaks, controls, bidi tricks
    if bad is not None:
        raise ValidationFailed([bad])
    now = now or clock.now()
    with store.begin() as conn:
        c, item = _decidable(conn, correction_id)
        vstore.decide(conn, c.id, "rejected", actor, reason, now)
        vstore.set_item(conn, item.id, state="rejected", note=f"未采纳：{reason}"[:1000])
        store.audit(conn, actor, "verify_correction", str(c.id), "reject", None, {"reason": reason})
        office = snap.office(item.region_code)
        submitted = clock.shown(c.submitted_at)
        _notify(
            conn,
            settings,
            office,
            "rejected",
            "【信息核对】本单位的信息更正未被采纳",
            submitted=submitted,
            reason=reason,
        )
