"""The inbound SMTP face under abuse (real aiosmtpd server on 127.0.0.1:0, raw sockets): binary junk, overlong lines,
pipelined garbage, unknown commands, oversized messages and too many connections are refused cleanly, and the
server goes on serving well-behaved clients."""

from __future__ import annotations

from email.message import EmailMessage

import sqlalchemy as sa

from liaison.mail.models import inbound_t
from tests.support.letters import DOMAIN, EMAIL_ONLY, Client, World

ROLE = f"{EMAIL_ONLY}@{DOMAIN}"


def stored(w: World) -> int:
    with w.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(inbound_t)).scalar_one())


def mail(subject: str = "正常来信") -> bytes:
    msg = EmailMessage()
    msg["From"] = "someone@beijing.example"
    msg["To"] = ROLE
    msg["Subject"] = subject
    msg.set_content("正文")
    return msg.as_bytes()


async def test_garbage_is_refused_and_others_are_served(world: World) -> None:
    junk = await Client.open(world.smtp_port)
    assert (await junk.reply()).startswith("220")
    assert (await junk.say(b"\x00\xff\xfe\x80garbage\x01\r\n")).startswith("500")
    assert (await junk.say(b"FOO bar\r\n")).startswith("500")
    assert (await junk.say(b"MAIL FROM:<a@b.example>\r\n")).startswith("503")  # before HELO/EHLO
    assert (await junk.say(b"EHLO " + b"x" * 5000 + b"\r\n")).startswith("500")  # overlong line
    other = await Client.open(world.smtp_port)  # meanwhile another client is served normally
    assert (await other.reply()).startswith("220")
    assert (await other.say(b"EHLO ok.example\r\n")).startswith("250")
    pipelined = b"MAIL FROM:<a@beijing.example>\r\nRCPT TO:<" + ROLE.encode() + b">\r\nDATA\r\n"
    other.writer.write(pipelined)  # no PIPELINING offered: still answered one by one, in order
    assert (await other.reply()).startswith("250")
    assert (await other.reply()).startswith("250")
    assert (await other.reply()).startswith("354")
    assert (await other.say(mail() + b"\r\n.\r\n")).startswith("250")
    await other.close()
    assert stored(world) == 1
    assert (await junk.say(b"NOOP\r\n")).startswith("250")  # the junk session itself is still sane
    await junk.close()


async def test_oversized_message_is_refused_and_nothing_stored(world: World) -> None:
    async with world.inbound_server(max_message_size=2000) as (_, port):
        c = await Client.open(port)
        await c.reply()
        assert (await c.say(b"EHLO ok.example\r\n")).startswith("250")
        assert (await c.say(b"MAIL FROM:<a@beijing.example> SIZE=999999\r\n")).startswith("552")  # declared
        assert (await c.say(b"MAIL FROM:<a@beijing.example>\r\n")).startswith("250")
        assert (await c.say(b"RCPT TO:<" + ROLE.encode() + b">\r\n")).startswith("250")
        assert (await c.say(b"DATA\r\n")).startswith("354")
        assert (await c.say(mail() + (b"x" * 70 + b"\r\n") * 100 + b".\r\n")).startswith("552")  # undeclared
        assert stored(world) == 0
        assert (await c.say(b"MAIL FROM:<a@beijing.example>\r\n")).startswith("250")  # the session goes on
        assert (await c.say(b"RCPT TO:<" + ROLE.encode() + b">\r\n")).startswith("250")
        assert (await c.say(b"DATA\r\n")).startswith("354")
        assert (await c.say(mail() + b"\r\n.\r\n")).startswith("250")
        assert stored(world) == 1
        await c.close()


async def test_connections_beyond_the_limit_get_421(world: World) -> None:
    async with world.inbound_server(max_connections=2) as (server, port):
        first, second = await Client.open(port), await Client.open(port)
        assert (await first.reply()).startswith("220") and (await second.reply()).startswith("220")
        third = await Client.open(port)
        assert (await third.reply()).startswith("421") and await third.closed_by_server()
        assert (server.active, server.refused) == (2, 1)
        assert (await first.say(b"QUIT\r\n")).startswith("221") and await first.closed_by_server()
        fourth = await Client.open(port)  # a slot is free again
        assert (await fourth.reply()).startswith("220")
        assert (await fourth.say(b"EHLO ok.example\r\n")).startswith("250")
        for c in (second, third, fourth, first):
            await c.close()
