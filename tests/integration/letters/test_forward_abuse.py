"""Role-address forwarding cannot be turned into a spam amplifier (real inbound SMTP face on port 0, real aiosmtplib
client, real aiosmtpd sink; SQLite and PostgreSQL): a forward never carries the sender's From, a message to many role
addresses is stored once, and the hourly forward quotas per sender and per client hold, across a restart too."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage

import aiosmtplib
import sqlalchemy as sa

from directory.validate import OfficeData
from liaison.mail.inbound import Inbound, InboundServer
from liaison.mail.models import inbound_t, outbox_body_t, outbox_t
from tests.support.letters import DOMAIN, SENDER, World

ROLE = f"{SENDER}@{DOMAIN}"


def letter(sender: str = "zhang@example.org", name: str = "张三", size: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = Address(display_name=name, addr_spec=sender)
    msg["To"] = ROLE
    msg["Subject"] = "来信"
    msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=example.org; s=sel; h=from:to:subject; bh=abc=; b=def="
    msg.set_content("正文\n" + "x" * size)
    return msg


async def role_offices(w: World, count: int) -> list[str]:
    """``count`` more offices with e-mail (towns of Hebei) and their role addresses."""
    snap = w.holder.current
    codes = sorted(c for c, r in snap.regions.items() if r.level == "township" and c.startswith("13"))[:count]
    offices = [OfficeData(c, f"测试服务站{i}", email=f"town{i}@hebei.example") for i, c in enumerate(codes)]
    w.store.upsert_offices(offices, "test")
    await w.holder.refresh()
    return [f"{c}@{DOMAIN}" for c in codes]


async def send(port: int, msg: EmailMessage, rcpts: list[str], source: str = "127.0.0.1") -> dict[str, str]:
    """Send with a real client from ``source``; the refused recipients with their answers."""
    sender = str(msg["From"].addresses[0].addr_spec)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, source_address=(source, 0)) as client:
        try:
            refused, _ = await client.sendmail(sender, rcpts, msg.as_bytes())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return {e.recipient: f"{e.code} {e.message}" for e in exc.recipients}
        except aiosmtplib.SMTPDataError as exc:
            return {r: f"{exc.code} {exc.message}" for r in rcpts}
    return {r: f"{code} {text}" for r, (code, text) in refused.items()}


def count(w: World, table: sa.Table) -> int:
    with w.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


async def test_forward_cannot_impersonate_its_sender(world: World) -> None:
    spoof = letter("gb@gov.example", name="国务院办公厅")
    assert await send(world.smtp_port, spoof, [ROLE]) == {}
    (forwarded,) = await world.drain()
    msg = forwarded.message
    (shown,) = msg["From"].addresses
    assert shown.addr_spec == f"noreply@{DOMAIN}" and shown.display_name.endswith("via 渤海联络")
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["gb@gov.example"]
    assert msg["X-Original-From"] is not None and msg["DKIM-Signature"] is None
    assert msg["Delivered-To"] == ROLE and msg["Subject"] == "来信"
    assert msg.get_content().startswith("正文")


async def test_message_to_many_role_addresses_is_stored_once(world: World) -> None:
    roles = await role_offices(world, 20)
    size = 400_000
    assert await send(world.smtp_port, letter(size=size), roles) == {}
    received = await world.drain()
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(f"town{i}@hebei.example" for i in range(20))
    assert all(r.message.get_content().replace("\r\n", "\n") == "正文\n" + "x" * size + "\n" for r in received)
    with world.store.read() as conn:
        own = conn.execute(sa.select(sa.func.sum(sa.func.length(outbox_t.c.body)))).scalar_one()
        shared = conn.execute(sa.select(sa.func.sum(sa.func.length(outbox_body_t.c.data)))).scalar_one()
        archived = conn.execute(sa.select(sa.func.sum(sa.func.length(inbound_t.c.raw)))).scalar_one()
    assert own < 20 * 200, "each forward keeps only its own trace lines"
    assert size < shared < 2 * size and size < archived < 2 * size, "one copy archived, one re-headed copy to send"


async def test_forward_quota_per_sender_holds_across_a_restart(world: World) -> None:
    roles = await role_offices(world, 6)
    quota = world.settings.replace(smtp={"max_forwards_per_sender": 4, "max_forwards_per_client": 100})
    core = Inbound(world.store, quota, lambda: world.holder.current)
    server = InboundServer(core)
    _, port = await server.start()
    try:
        assert await send(port, letter(), roles[:3]) == {}
        refused = await send(port, letter(), roles[3:6])
        assert sorted(refused) == roles[4:6] and all(a.startswith("450 4.7.1") for a in refused.values())
        assert "max_forwards_per_sender" in refused[roles[4]]
        assert await send(port, letter("li@example.org"), roles[:2]) == {}  # another sender is not held up
    finally:
        await server.aclose()
    restarted = InboundServer(Inbound(world.store, quota, lambda: world.holder.current))
    _, port = await restarted.start()
    try:
        refused = await send(port, letter(), roles[:1])  # the count lives in the database
        assert list(refused) == roles[:1] and refused[roles[0]].startswith("450 4.7.1")
    finally:
        await restarted.aclose()
    assert count(world, outbox_t) == 6


async def test_forward_quota_per_client_address(world: World) -> None:
    roles = await role_offices(world, 4)
    quota = world.settings.replace(smtp={"max_forwards_per_sender": 100, "max_forwards_per_client": 3})
    server = InboundServer(Inbound(world.store, quota, lambda: world.holder.current))
    _, port = await server.start()
    try:
        for i in range(3):
            assert await send(port, letter(f"s{i}@example.org"), roles[i : i + 1]) == {}
        refused = await send(port, letter("s9@example.org"), roles[3:4])
        assert "max_forwards_per_client" in refused[roles[3]]
        assert await send(port, letter("s9@example.org"), roles[3:4], source="127.0.0.2") == {}
    finally:
        await server.aclose()


async def test_message_beyond_the_quota_at_data_leaves_nothing(world: World) -> None:
    """Two sessions may both pass RCPT; the quota is checked again where the message is stored."""
    roles = await role_offices(world, 3)
    quota = world.settings.replace(smtp={"max_forwards_per_sender": 2})
    core = Inbound(world.store, quota, lambda: world.holder.current)
    raw = letter().as_bytes()
    assert (await core.deliver(raw, "zhang@example.org", roles[:2], "127.0.0.1")).startswith("250")
    before = (count(world, inbound_t), count(world, outbox_t), count(world, outbox_body_t))
    answer = await core.deliver(raw, "zhang@example.org", roles[2:3], "127.0.0.9")
    assert answer.startswith("450 4.7.1") and "max_forwards_per_sender" in answer
    assert (count(world, inbound_t), count(world, outbox_t), count(world, outbox_body_t)) == before
