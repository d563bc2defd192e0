"""Letters end to end against a real aiosmtpd sink and the real inbound SMTP face, on SQLite and PostgreSQL.

A letter to three offices (e-mail / fax only / neither → parent office) gives the right three messages; a bounce
report marks the delivery and flags the office; a reply stops the reminders and an overdue notice goes to the
sender the working day after the deadline; unknown addresses and other domains are refused at RCPT."""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
import sqlalchemy as sa

from directory.errors import NotFound
from directory.store import Store
from liaison.letters import compose
from liaison.letters import store as letter_store
from liaison.mail.models import inbound_t
from tests.support.letters import DOMAIN, EMAIL_ONLY, FAX_ONLY, NEITHER, PARENT, SENDER, World, at_nine, dsn, reply
from tests.support.need import need


async def test_three_offices_email_fax_and_parent(world: World) -> None:
    font = world.settings.liaison.fax_font
    need(
        Path(font).is_file(), f"the font {font} (Debian package fonts-wqy-microhei: apt-get install fonts-wqy-microhei)"
    )
    sent = world.send(EMAIL_ONLY, FAX_ONLY, NEITHER)
    assert sent.number.startswith("渤联〔")
    got = {m.rcpt_tos[0]: m for m in await world.drain()}
    assert set(got) == {"jdk@beijing.example", "FAX=+861064001234@fax.gw.example", "dc@beijing.example"}

    mail = got["jdk@beijing.example"].message
    assert mail["From"].addresses[0].addr_spec == f"{SENDER}@{DOMAIN}"
    assert sent.number in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "交道口街道流动人口服务站：" in text and "请协助核查" in text and "转交" not in text

    fax = got["FAX=+861064001234@fax.gw.example"].message
    pdf = next(p for p in fax.iter_attachments() if p.get_content_type() == "application/pdf").get_content()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/MediaBox [0 0 595.28 841.89]" in pdf

    routed = got["dc@beijing.example"].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "经东城区流动人口服务管理办公室转交东华门街道" in routed and "无可用电子邮箱和传真" in routed

    letter = letter_store.get_letter(world.store, sent.number)
    states = {d.region_code: (d.channel, d.via_code, d.effective_state) for d in letter.deliveries}
    assert states == {
        EMAIL_ONLY: ("email", EMAIL_ONLY, "sent"),
        FAX_ONLY: ("fax", FAX_ONLY, "sent"),
        NEITHER: ("email", PARENT, "sent"),
    }
    assert all(d.deadline is not None for d in letter.deliveries)


async def test_liaison_officer_copied_when_set(world: World) -> None:
    world.settings = world.settings.replace(liaison={"copy_liaison_officer": True})
    sent = world.send(EMAIL_ONLY, FAX_ONLY)
    got = sorted(m.rcpt_tos[0] for m in await world.drain())
    assert got == sorted(["jdk@beijing.example", "FAX=+861064001234@fax.gw.example", "bj@beijing.example"])
    copies = [d for d in sent.deliveries if d.is_copy]
    assert len(copies) == 1 and copies[0].deadline is None


async def test_bounce_marks_the_delivery_and_flags_the_office(world: World) -> None:
    sent = world.send(EMAIL_ONLY)
    (mail,) = await world.drain()
    bounce_to = mail.mail_from
    assert bounce_to.startswith("bounces+") and bounce_to.endswith("@" + DOMAIN)

    await world.smtp_in(dsn(bounce_to, "jdk@beijing.example", "delayed", "4.4.1"), bounce_to, mail_from="")
    assert world.delivery(sent.deliveries[0].id)["state"] == "queued"  # a delay report is not a bounce

    await world.smtp_in(dsn(bounce_to, "jdk@beijing.example"), bounce_to, mail_from="")
    d = world.delivery(sent.deliveries[0].id)
    assert d["state"] == "bounced" and "5.1.1" in str(d["state_note"]) and "User unknown" in str(d["state_note"])
    office = world.store.get_office(EMAIL_ONLY)
    assert office is not None and office["email_status"] == "bouncing" and "5.1.1" in office["email_status_note"]
    assert letter_store.get_letter(world.store, str(sent.id)).deliveries[0].effective_state == "bounced"

    await world.holder.refresh()  # the next letter to that office goes by its parent now
    again = world.send(EMAIL_ONLY)
    assert again.deliveries[0].via_code == PARENT and "退信" in again.deliveries[0].note


async def test_reply_stops_reminders_and_the_other_gets_reminder_then_overdue(world: World) -> None:
    sent = world.send(EMAIL_ONLY, PARENT, reply_within=5)
    first = {m.rcpt_tos[0]: m for m in await world.drain()}
    answered, silent = sent.deliveries
    role = f"{SENDER}@{DOMAIN}"

    # an out-of-office answer is not a reply
    await world.smtp_in(reply(role, str(first["jdk@beijing.example"].message["Message-ID"]), "auto-replied"), role)
    assert world.delivery(answered.id)["replied_at"] is None
    await world.smtp_in(reply(role, str(first["jdk@beijing.example"].message["Message-ID"])), role)
    assert world.delivery(answered.id)["state"] == "replied"
    forwarded = await world.drain()  # role mail is forwarded to the sender office's current e-mail
    assert [m.rcpt_tos for m in forwarded] == [["sjz@hebei.example"]] * 2
    assert forwarded[1].message["Delivered-To"] == role

    row = world.delivery(silent.id)
    world.clock.now = at_nine(row["remind_on"])
    reminders = await world.drain()
    assert [m.rcpt_tos[0] for m in reminders] == ["dc@beijing.example"]
    assert "回复提醒" in reminders[0].message["Subject"]
    assert reminders[0].message["In-Reply-To"] == row["message_id"]
    world.clock.advance(3600)
    assert await world.drain() == []  # sent once

    world.clock.now = at_nine(row["overdue_on"])
    notices = await world.drain()
    assert [m.rcpt_tos[0] for m in notices] == ["sjz@hebei.example"]
    assert "逾期" in notices[0].message["Subject"]
    assert world.delivery(silent.id)["state"] == "overdue"
    assert (
        world.delivery(answered.id)["state"] == "replied" and world.delivery(answered.id)["reminded_at"] is None
    )
    board = letter_store.board(world.store, "110000000000", at_nine(row["overdue_on"]).date())
    assert [d.id for d in board["answered"]] == [answered.id]
    assert [d.id for d in board["overdue"]] == [silent.id]


@pytest.mark.parametrize(
    "rcpt",
    [
        "someone@example.org",
        f"999999999999@{DOMAIN}",
        f"nobody@{DOMAIN}",
        f"bounces+deadbeef@{DOMAIN}",
        f"{NEITHER}@{DOMAIN}",
    ],
)
async def test_refused_at_rcpt(world: World, rcpt: str) -> None:
    msg = EmailMessage()
    msg["Subject"] = "x"
    msg.set_content("x")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await world.smtp_in(msg, rcpt)
    assert info.value.recipients[0].code == 550
    with world.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbound_t)).scalar_one() == 0


async def test_size_limit(world: World) -> None:
    world.inbound.settings = world.settings  # same object; the server was built with the default limit
    msg = EmailMessage()
    msg["Subject"] = "big"
    msg.set_content("x" * (world.settings.smtp.max_message_size + 10))
    with pytest.raises(aiosmtplib.SMTPResponseException) as info:
        await world.smtp_in(msg, f"{EMAIL_ONLY}@{DOMAIN}")
    assert info.value.code == 552


async def test_hook_handles_before_default(world: World) -> None:
    seen: list[str] = []

    async def meetings_reply(store: Store, message: EmailMessage, mail_from: str, rcpt_tos: list[str]) -> bool:
        seen.append(str(message["Subject"]))
        return rcpt_tos == [f"meetings@{DOMAIN}"]

    world.inbound.hooks.append(meetings_reply)
    world.inbound.local_parts.add("meetings")
    msg = EmailMessage()
    msg["Subject"] = "Accepted: 联席会议"
    msg.set_content("ok")
    await world.smtp_in(msg, f"meetings@{DOMAIN}")
    assert seen == ["Accepted: 联席会议"]
    with world.store.read() as conn:
        assert conn.execute(sa.select(inbound_t.c.kind)).scalars().all() == ["hook"]


async def test_answer_letter_is_threaded_and_carries_attachments(world: World) -> None:
    first = world.send(EMAIL_ONLY)
    (original,) = await world.drain()
    answer = compose.Draft(
        EMAIL_ONLY,
        [SENDER],
        "关于核查结果的复函",
        "经核查，情况属实。",
        attachments=[compose.Attachment("核查结果.csv", "text/csv", "姓名,结果\n张三,属实\n".encode())],
        in_reply_to=first.number,
    )
    compose.send_letter(world.store, world.settings, world.holder.current, answer, now=world.clock())
    (reply_mail,) = await world.drain()
    msg = reply_mail.message
    letter_root = letter_store.get_letter(world.store, str(first.id)).message_id
    received = original.message["Message-ID"]
    assert msg["In-Reply-To"] == received  # the answering office's mail client threads it under what it got
    assert msg["References"].split() == [letter_root, received]
    assert world.delivery(first.deliveries[0].id)["state"] == "replied"  # answered through the service
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "核查结果.csv" and "张三" in part.get_content()
    with pytest.raises(NotFound):
        compose.send_letter(
            world.store, world.settings, world.holder.current, dataclasses.replace(answer, in_reply_to="nope")
        )
