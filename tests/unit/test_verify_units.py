"""Pure parts of verification campaigns: the fast plain-text builder against the email package's own parser,
encoded-words, reminder days, short codes bound to their office, and the SVG pictures (well-formed, self-contained,
numbers written on them)."""

from __future__ import annotations

import datetime as dt
import email.policy
import xml.etree.ElementTree as ET
from email import message_from_bytes
from email.message import EmailMessage

import pytest

from directory.errors import ValidationFailed
from liaison.mail import bulk, headers
from liaison.verify import campaign, pictures

SVG = "{http://www.w3.org/2000/svg}"


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize(
    "subject",
    ["【信息核对】请核对本单位通讯录信息（石家庄市长安区建北街道流动人口服务站）", "ascii", "混合 mixed 𠀀 字" * 6],
)
def test_fast_plain_message_reads_back_like_the_email_package_wrote_it(subject: str) -> None:
    sender = headers.mailbox("环渤海通讯联络服务", "noreply@liaison.bohai.example")
    template = bulk.PlainTemplate(sender, domain="x.example")
    body = "您好：\n请打开 https://bohai.example/check?t=abc_DEF-123 核对。\n" * 30
    raw, message_id = template.build("r130102001000@demo.bohai.example", subject, body)
    msg = parse(raw)
    assert msg["Subject"] == subject
    assert msg["To"] == "r130102001000@demo.bohai.example"
    assert msg["From"].addresses[0].display_name == "环渤海通讯联络服务"
    assert msg["Message-ID"] == message_id and message_id.endswith("@x.example>")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content() == body
    assert all(len(line) <= 78 for line in raw.split(b"\r\n")), "folded lines"
    assert b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize("to", ["a@b.example\r\nBcc: x@y.example", "two@a.example, b@c.example", "名字@例子.中国", ""])
def test_fast_builder_refuses_what_is_not_one_plain_address(to: str) -> None:
    template = bulk.PlainTemplate("noreply@liaison.bohai.example", domain="x.example")
    with pytest.raises(ValueError):
        template.build(to, "标题", "正文")
    with pytest.raises(ValueError):
        template.build("a@b.example", "标题\r\nBcc: x@y.example", "正文")


def test_remind_days_and_codes() -> None:
    assert campaign.parse_remind_days("3, 1，5") == (5, 3, 1)
    with pytest.raises(ValidationFailed):
        campaign.parse_remind_days("3, x")
    code = campaign.new_code()
    assert len(code) == 8 and set(code) <= set(campaign.CODE_ALPHABET)
    assert campaign.hash_code("130102004000", code) == campaign.hash_code("130102004000", code.lower())
    assert campaign.hash_code("130102004000", code) != campaign.hash_code("130102005000", code)
    assert len(campaign.new_token()) >= 32  # 24 random bytes, URL-safe base64


def rows() -> list[pictures.Row]:
    return [
        pictures.Row("110000000000", "北京市", 400, 380, 10, 2),
        pictures.Row("130000000000", "河北省", 2567, 1000, 130, 0),
        pictures.Row("150000000000", "内蒙古<自治区>", 10, 0, 10, 1),
    ]


def test_pictures_are_self_contained_svg_with_their_numbers() -> None:
    for svg in (
        pictures.tiles("t", "示意图", rows(), pictures.PROVINCE_TILES),
        pictures.tiles("t", "示意图", rows()),
        pictures.bars("b", "比例", rows(), lambda r: r.confirmed_share, lambda r: pictures.percent(r.confirmed_share)),
    ):
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        assert root.find(f"{SVG}title") is not None
        texts = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
        assert "95%" in texts and "39%" in texts and "0%" in texts
        assert "href" not in svg and "<script" not in svg and "style=" not in svg and "http://" not in svg.replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        )
        assert "内蒙古<" not in svg, "names are escaped"
    assert pictures.colour(0.0) == pictures.PALETTE[0] and pictures.colour(1.0) == pictures.PALETTE[-1]


def test_response_series_is_cumulative_by_beijing_day() -> None:
    bounds = pictures.day_bounds(dt.date(2026, 9, 29), dt.date(2026, 10, 2))
    assert len(bounds) == 5 and bounds[0] == dt.datetime(2026, 9, 28, 16, tzinfo=dt.UTC)
    r = pictures.response("核对", 10, dt.date(2026, 9, 29), [2, 0, 3, 1])
    assert [total for _, _, total in r.days] == [2, 2, 5, 6]
    root = ET.fromstring(pictures.response_chart("r", r))
    assert "2026年10月02日：60%" in "".join(t.text or "" for t in root.iter(f"{SVG}text"))
