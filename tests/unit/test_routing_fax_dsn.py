"""Pure parts of the letters area: routing rules on an in-memory Snapshot, RFC 3192 fax addresses, the fax PDF and
its font error, RFC 3464 report parsing, reply detection, bounce addresses, letter templates and deadline dates."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from directory import clock, regions
from directory.errors import NotFound, SettingsError, ValidationFailed
from directory.snapshot import Snapshot, build
from liaison import routing
from liaison.letters import compose, faxpdf
from liaison.mail import outbox
from liaison.mail.dsn import is_auto, parse_dsn, referenced_ids
from liaison.mail.transports.fax import FAX_ADDRESS, fax_address
from liaison.workdays.calendar import default_calendar
from tests.support.need import need
from tests.support.snapshots import office_row

GW = "fax.gw.example"
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def office(code: str, name: str, **kw: Any) -> dict[str, Any]:
    oid = int(code[-6:]) + int(code[:6])
    return office_row(oid, code, unit_name=name, updated_at=clock.now(), updated_by="t", **kw)


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    rows = [dataclasses.asdict(d) for d in regions.divisions() if d.code[:2] in ("11", "13")]
    offices = [
        office("110000000000", "北京市办", email="bj@x.example", liaison=True),
        office("110101000000", "东城区办", email="dc@x.example"),
        office("110101001000", "东华门街道站"),
        office("110101002000", "景山街道站", fax="+861064001234"),
        office("110101003000", "交道口街道站", email="jdk@x.example", email_status="bouncing", fax="+861064005678"),
        office("110101004000", "安定门街道站", email="adm@x.example", email_status="bouncing"),
        office("130100000000", "石家庄市办", email="sjz@x.example"),
    ]
    return build(rows, offices, [], 1)


def test_email_first(snap: Snapshot) -> None:
    assert routing.route(snap, "110101000000", fax_gateway=GW) == routing.Route(
        "110101000000", "110101000000", "email", "dc@x.example"
    )


def test_fax_when_no_email_or_bouncing(snap: Snapshot) -> None:
    r = routing.route(snap, "110101002000", fax_gateway=GW)
    assert (r.channel, r.address, r.note) == ("fax", "FAX=+861064001234@fax.gw.example", "")
    r = routing.route(snap, "110101003000", fax_gateway=GW)
    assert (r.channel, r.address) == ("fax", "FAX=+861064005678@fax.gw.example")


def test_parent_when_neither_and_said_so(snap: Snapshot) -> None:
    r = routing.route(snap, "110101001000", fax_gateway=GW)
    assert (r.via_code, r.channel, r.address) == ("110101000000", "email", "dc@x.example")
    assert r.note == "因东华门街道站无可用电子邮箱和传真，本函经东城区办转交东华门街道。"
    r = routing.route(snap, "110101004000", fax_gateway=GW)
    assert r.via_code == "110101000000" and "退信" in r.note
    r = routing.route(snap, "110101005000", fax_gateway=GW)  # region without an office record
    assert r.via_code == "110101000000" and "尚无单位记录" in r.note


def test_without_gateway_fax_offices_go_to_parent(snap: Snapshot) -> None:
    assert routing.route(snap, "110101002000", fax_gateway="").via_code == "110101000000"


def test_unknown_region_and_unreachable(snap: Snapshot) -> None:
    with pytest.raises(NotFound, match="999999999999"):
        routing.route(snap, "999999999999", fax_gateway=GW)
    with pytest.raises(NotFound, match="无法送达"):
        routing.route(snap, "130200000000", fax_gateway=GW)  # 唐山市: neither it nor 河北省 has an office


def test_liaison_copy_and_level_expansion(snap: Snapshot) -> None:
    copy = routing.liaison_copy(snap, "110101000000", fax_gateway=GW)
    assert copy is not None and copy.via_code == "110000000000" and "联络员" in copy.note
    assert routing.liaison_copy(snap, "110000000000", fax_gateway=GW) is None
    assert routing.liaison_copy(snap, "130100000000", fax_gateway=GW) is None  # 河北 has no liaison officer
    assert routing.offices_under(snap, "110101000000", "township") == [
        "110101001000",
        "110101002000",
        "110101003000",
        "110101004000",
    ]
    with pytest.raises(ValidationFailed, match="数据校验"):
        routing.offices_under(snap, "110101000000", "village")


def test_rfc3192_addresses() -> None:
    assert fax_address("+8631187654321", GW) == "FAX=+8631187654321@fax.gw.example"
    assert fax_address("+861064001234;ext=12", GW) == "FAX=+861064001234@fax.gw.example"
    assert fax_address("", GW) is None and fax_address("+8631187654321", "") is None
    assert fax_address("garbage", GW) is None
    assert FAX_ADDRESS.match("FAX=+8631187654321@fax.gw.example")
    assert not FAX_ADDRESS.match("FAX=+86311 87654321@fax.gw.example")


def test_fax_pdf_is_a4_with_font_and_cover_line() -> None:
    need(
        Path(FONT).is_file(),
        f"the font {FONT} (Debian package {faxpdf.FONT_PACKAGE}: apt-get install {faxpdf.FONT_PACKAGE})",
    )
    body = "\n".join(f"第{i}段：请协助核查流动人口居住登记信息。" for i in range(120))
    pdf = faxpdf.render(faxpdf.FaxPage("石家庄市办", "景山街道站", "关于核查的函", body, "2026-03-16"), FONT)
    assert pdf.startswith(b"%PDF")
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4 in points
    assert b"/FontFile2" in pdf  # the TrueType font is embedded
    pages = pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page ")
    assert pages >= 2


def test_missing_font_names_option_and_package(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"liaison\.fax_font.*fonts-wqy-microhei"):
        faxpdf.render(faxpdf.FaxPage("a", "b", "c", "d"), str(tmp_path / "none.ttf"))


DSN = b"""From: MAILER-DAEMON@mx.example
To: bounces+abc@liaison.bohai.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Sorry.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; a@b.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <a@b.example>: User unknown

--B--
"""


def test_parse_dsn() -> None:
    msg = message_from_bytes(DSN, policy=policy.default)
    report = parse_dsn(msg)
    assert report is not None and report.failed and report.recipient == "a@b.example"
    assert report.text.startswith("5.1.1 smtp; 550 5.1.1")
    delayed = message_from_bytes(DSN.replace(b"Action: failed", b"Action: delayed").replace(b"5.1.1", b"4.4.1"))
    report = parse_dsn(delayed)
    assert report is not None and not report.failed
    assert parse_dsn(message_from_bytes(b"Subject: hi\n\nhello")) is None


def test_reply_detection() -> None:
    msg = message_from_bytes(b"In-Reply-To: <a@x>\nReferences: <r@x> <a@x>\nAuto-Submitted: no\n\nok")
    assert referenced_ids(msg) == ["<a@x>", "<r@x>", "<a@x>"]
    assert not is_auto(msg)
    assert is_auto(message_from_bytes(b"Auto-Submitted: auto-replied\n\nout of office"))


def test_bounce_addresses() -> None:
    assert outbox.bounce_address("ab12", "d.example") == "bounces+ab12@d.example"
    assert outbox.parse_bounce_address("bounces+ab12") == "ab12"
    assert outbox.parse_bounce_address("Bounces+AB12") == "AB12"
    assert outbox.parse_bounce_address("bounces+a.b") is None
    assert outbox.parse_bounce_address("postmaster") is None


def test_templates_render_and_name_missing_fields() -> None:
    text = compose.render_template("hecha", {"details": "张三，身份证号略"})
    assert "协助核查" in text and "张三" in text
    with pytest.raises(ValidationFailed) as info:
        compose.render_template("hecha", {})
    assert "details" in str(info.value.errors[0])
    with pytest.raises(ValidationFailed):
        compose.render_template("../etc/passwd", {})


def test_deadline_dates_around_national_day_2026() -> None:
    d = compose.deadline_for(default_calendar(), dt.date(2026, 9, 25), 5, 2)
    # 9-25 is the Mid-Autumn holiday; working days after it: 9-28, 9-29, 9-30, 10-8, 10-9
    assert d.deadline == dt.date(2026, 10, 9)
    assert d.remind_on == dt.date(2026, 9, 30)  # two working days before: 10-8, 9-30
    assert d.overdue_on == dt.date(2026, 10, 10)  # the Saturday make-up working day
    assert not d.provisional


def test_deadline_in_a_year_without_official_data_is_provisional() -> None:
    d = compose.deadline_for(default_calendar(), dt.date(2026, 12, 24), 10, 2)
    assert d.deadline.year == 2027 and d.provisional


def test_transports_by_name() -> None:
    from liaison.mail import transports
    from liaison.settings import Settings

    settings = Settings().replace(fax={"gateway": GW})
    assert type(transports.load("null", settings)).__name__ == "NullTransport"
    assert type(transports.load("fax", settings)).__name__ == "FaxTransport"
    with pytest.raises(SettingsError, match=r"liaison\.transport.*'carrier-pigeon'.*smtp, fax, null"):
        transports.load("carrier-pigeon", settings)


async def test_null_and_fax_transport_outcomes() -> None:
    from liaison.mail import transports
    from liaison.mail.transports import Envelope
    from liaison.settings import Settings

    settings = Settings().replace(fax={"gateway": GW}, relay={"port": 1})
    null = transports.load("null", settings)
    assert (await null.send(Envelope("b@x", "a@y", b"x", "t"))).status == "sent"
    fax = transports.load("fax", settings)
    refused = await fax.send(Envelope("b@x", "someone@example.org", b"x", "t"))
    assert refused.status == "permanent" and "RFC 3192" in refused.text
    other_gateway = await fax.send(Envelope("b@x", "FAX=+8631187654321@other.example", b"x", "t"))
    assert other_gateway.status == "permanent"
    unreachable = await fax.send(Envelope("b@x", f"FAX=+8631187654321@{GW}", b"x", "t"))
    assert unreachable.status == "temporary" and unreachable.code == 421  # nothing listens on port 1
    await fax.aclose()
