"""Inbound faults found in review, against the real inbound SMTP face and a real sink (SQLite and PostgreSQL):
auto-replies are no bounces and no replies, a reply counts only from the office written to, a DSN counts only for the
recipient we sent to, role mail is forwarded re-headed (the rest unchanged), and a bounced forward does not flag the
office."""

from __future__ import annotations

from email.message import EmailMessage

import sqlalchemy as sa

from liaison.mail.models import inbound_t, outbox_t
from tests.support.letters import DOMAIN, EMAIL_ONLY, SENDER, World, at_nine, dsn, reply


def office_status(w: World, code: str) -> str:
    office = w.store.get_office(code)
    assert office is not None
    return str(office["email_status"])


def last_note(w: World) -> str:
    with w.store.read() as conn:
        return str(conn.execute(sa.select(inbound_t.c.note).order_by(inbound_t.c.id.desc())).scalars().first())


def auto_reply(to: str, header: tuple[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "jdk@beijing.example"
    msg["To"] = to
    msg["Subject"] = "自动回复：我正在休假"
    if header:
        msg[header[0]] = header[1]
    msg.set_content("本人休假至下周一。")
    return msg


async def test_auto_reply_with_null_sender_is_no_bounce(world: World) -> None:
    sent = world.send(EMAIL_ONLY)
    (mail,) = await world.drain()
    await world.smtp_in(auto_reply(mail.mail_from), mail.mail_from, mail_from="")
    assert world.delivery(sent.deliveries[0].id)["state"] == "queued"
    assert office_status(world, EMAIL_ONLY) == "ok" and "仅存档" in last_note(world)


async def test_dsn_for_another_recipient_is_no_bounce(world: World) -> None:
    sent = world.send(EMAIL_ONLY)
    (mail,) = await world.drain()
    await world.smtp_in(dsn(mail.mail_from, "victim@elsewhere.example"), mail.mail_from, mail_from="")
    assert world.delivery(sent.deliveries[0].id)["state"] == "queued"
    assert office_status(world, EMAIL_ONLY) == "ok" and "不符" in last_note(world)


async def test_auto_mail_and_strangers_are_no_replies(world: World) -> None:
    sent = world.send(EMAIL_ONLY)
    (mail,) = await world.drain()
    role, mid = f"{SENDER}@{DOMAIN}", str(mail.message["Message-ID"])
    for name, value in (("X-Autoreply", "yes"), ("X-Autorespond", "1"), ("Precedence", "auto_reply")):
        msg = auto_reply(role, (name, value))
        msg["In-Reply-To"] = mid
        await world.smtp_in(msg, role, mail_from="jdk@beijing.example")
    forged = reply(role, mid)
    forged.replace_header("From", "someone@evil.example")
    await world.smtp_in(forged, role, mail_from="someone@evil.example")
    assert world.delivery(sent.deliveries[0].id)["replied_at"] is None
    await world.smtp_in(reply(role, mid), role, mail_from="jdk@beijing.example")  # the office itself
    assert world.delivery(sent.deliveries[0].id)["state"] == "replied"


async def test_a_reply_whose_from_name_decodes_to_a_line_break_counts_and_is_forwarded(world: World) -> None:
    """Python's address parser raises on an encoded CR/LF in a display name; the reply still counts by its address
    and the role mail is still forwarded, instead of a temporary failure the sender would retry for days."""
    sent = world.send(EMAIL_ONLY)
    (mail,) = await world.drain()
    role, mid = f"{SENDER}@{DOMAIN}", str(mail.message["Message-ID"])
    raw = (
        b"From: =?utf-8?q?=E5=BC=A0=0D=0ABcc=3A_x=40evil=2Eexample?= <jdk@beijing.example>\r\n"
        + f"To: {role}\r\nIn-Reply-To: {mid}\r\nSubject: Re\r\n\r\n已核查。\r\n".encode()
    )
    await world.smtp_in(raw, role, mail_from="jdk@beijing.example")
    assert world.delivery(sent.deliveries[0].id)["state"] == "replied"
    (forwarded,) = await world.drain()
    assert forwarded.rcpt_tos == ["sjz@hebei.example"]
    head = forwarded.data.partition(b"\r\n\r\n")[0].split(b"\r\n")
    assert not [line for line in head if line.lower().startswith(b"bcc")]  # the encoded break adds no header
    assert any(line.startswith(b"Reply-To: ") and line.endswith(b"<jdk@beijing.example>") for line in head)


async def test_role_mail_with_a_message_id_the_parser_cannot_read_is_stored_and_forwarded(world: World) -> None:
    role = f"{SENDER}@{DOMAIN}"
    await world.smtp_in(RAW.replace(b"<fwd-1@example.org>", b"<<>>"), role, mail_from="zhang@example.org")
    (forwarded,) = await world.drain()
    assert forwarded.rcpt_tos == ["sjz@hebei.example"] and b"Message-ID: <<>>\r\n" in forwarded.data
    with world.store.read() as conn:
        assert conn.execute(sa.select(inbound_t.c.message_id)).scalars().all() == ["<<>>"]


async def test_reminders_are_marked_auto_generated(world: World) -> None:
    sent = world.send(EMAIL_ONLY, reply_within=5)
    await world.drain()
    world.clock.now = at_nine(world.delivery(sent.deliveries[0].id)["remind_on"])
    (reminder,) = await world.drain()
    assert "回复提醒" in reminder.message["Subject"] and reminder.message["Auto-Submitted"] == "auto-generated"


RAW = (
    b"From: =?utf-8?b?5byg5LiJ?= <zhang@example.org>\r\n"
    b"To: 130100000000@liaison.bohai.example\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel;\r\n"
    b"\th=from:to:subject; bh=abc=; b=def=\r\n"
    b"Subject:   spaced    subject\r\n"
    b"Message-ID: <fwd-1@example.org>\r\n"
    b"\r\n"
    b"line one  \r\n"
    b"line two\r\n"
)


async def test_role_mail_is_forwarded_with_the_rest_unchanged_and_its_bounce_does_not_flag(world: World) -> None:
    """The forward has our From (the sender in Reply-To) and no DKIM signature that could no longer verify; every
    other header line and the body come through byte for byte."""
    role = f"{SENDER}@{DOMAIN}"
    await world.smtp_in(RAW, role, mail_from="zhang@example.org")
    (forwarded,) = await world.drain()
    assert forwarded.rcpt_tos == ["sjz@hebei.example"]
    assert forwarded.data.startswith(f"Delivered-To: {role}\r\nX-Original-To: {role}\r\nFrom:".encode())
    assert forwarded.data.endswith(RAW[RAW.index(b"Subject:") :])
    assert b"\r\nTo: 130100000000@liaison.bohai.example\r\n" in forwarded.data
    assert b"DKIM-Signature" not in forwarded.data
    assert forwarded.message["Reply-To"].addresses[0].addr_spec == "zhang@example.org"
    await world.smtp_in(dsn(forwarded.mail_from, "sjz@hebei.example"), forwarded.mail_from, mail_from="")
    with world.store.read() as conn:
        state = conn.execute(sa.select(outbox_t.c.state).where(outbox_t.c.kind == "forward")).scalar_one()
    assert state == "bounced" and office_status(world, SENDER) == "ok"
