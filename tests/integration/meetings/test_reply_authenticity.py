"""Meeting replies are believed only from senders that prove who they are: through the real inbound SMTP face with
SPF, DKIM and DMARC checked against a table of DNS answers (no network). A forged reply (From an attendee's address,
failing SPF and without DKIM, domain without DMARC) is not counted and is shown to the organiser as unverified; a
genuine DKIM-signed one is counted; under DMARC p=reject an unaligned signature does not help; mail relayed by our
configured Postfix is judged by its Authentication-Results, and nobody else's such header is believed. Outgoing
mail is DKIM-signed with the configured key and verifies."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from liaison import service
from liaison.mail.authcheck import check
from liaison.mail.models import inbound_t
from liaison.mail.transports import Envelope
from liaison.mail.transports.smtp import DkimSigner, SmtpTransport
from liaison.meetings import rules
from liaison.meetings import store as meeting_store
from liaison.meetings.rules import MeetingInput
from tests.support.mailauth import calendar_reply, dkim_key, dkim_sign, dns_table
from tests.support.mailauth import send_raw as send_to
from tests.support.mailsink import mail_sink
from tests.support.meetings import START
from tests.support.settings import service_settings

ATTENDEE = "liaison@hebei.example.org"  # a liaison officer; example.org publishes SPF but no DMARC
STRICT = "officer@strict.gov.cn"  # a domain with DMARC p=reject
RELAY = "mx.bohai.example"
ORGANISER = "meetings@liaison.bohai.example"


def reply_message(sender: str, attendee: str, uid: str, partstat: str) -> Any:
    return calendar_reply(sender, attendee, uid, partstat, ORGANISER)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("dkim")
    return {name: dkim_key(folder, name) for name in ("hebei", "other")}


def dns(keys: dict[str, tuple[Path, str]]) -> Any:
    return dns_table(
        {
            ("TXT", "hebei.example.org"): ["v=spf1 ip4:203.0.113.0/24 -all"],
            ("TXT", "s1._domainkey.hebei.example.org"): [keys["hebei"][1]],
            ("TXT", "strict.gov.cn"): ["v=spf1 ip4:203.0.113.0/24 -all"],
            ("TXT", "_dmarc.strict.gov.cn"): ["v=DMARC1; p=reject; rua=mailto:d@strict.gov.cn"],
            ("TXT", "s1._domainkey.other.example.net"): [keys["other"][1]],
        }
    )


async def started(db_url: str, keys: dict[str, tuple[Path, str]], **smtp: Any) -> service.Running:
    s = service_settings(
        db_url, http={"enabled": False}, ldap={"enabled": False}, smtp={"check_senders": True, **smtp},
        liaison={"transport": "null"}, meetings={"scheduler_enabled": False},
    )  # fmt: skip
    return await service.start(s, report=lambda line: None, dns=dns(keys))


@pytest.fixture
async def running(db_url: str, keys: dict[str, tuple[Path, str]]) -> AsyncIterator[service.Running]:
    r = await started(db_url, keys)
    yield r
    await r.aclose()


def meeting(r: service.Running) -> tuple[str, int]:
    data = MeetingInput(title="联席会议", host="13", start=START, end=START + dt.timedelta(hours=8),
                        attendees=[ATTENDEE, STRICT])  # fmt: skip
    made = rules.create_meeting(r.store, None, r.settings, data, "t")
    return made.meeting.uid, made.meeting.id


def partstat(r: service.Running, mid: int, email: str) -> str:
    return {a.email: a.partstat for a in meeting_store.get_meeting(r.store, mid).attendees}[email]


def unverified(r: service.Running, mid: int) -> list[dict[str, Any]]:
    return [h for h in r.store.history("meeting", str(mid)) if h["action"] == "reply_unverified"]


def stored_headers(r: service.Running) -> list[str]:
    with r.store.read() as conn:
        raw = conn.execute(sa.select(inbound_t.c.raw).order_by(inbound_t.c.id.desc())).scalars().first()
    head = bytes(raw).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return [line for line in head.splitlines() if line.lower().startswith("authentication-results")]


async def test_forged_reply_is_not_counted_and_a_signed_one_is(
    running: service.Running, keys: dict[str, tuple[Path, str]]
) -> None:
    uid, mid = meeting(running)
    forged = reply_message(ATTENDEE, ATTENDEE, uid, "DECLINED")
    # the forger also writes a header claiming our own checks passed; it is removed, not believed
    forged["Authentication-Results"] = "liaison.bohai.example; spf=pass; dkim=pass; dmarc=pass"
    assert "handled" in await send_raw(running, forged.as_bytes(), ATTENDEE)
    assert partstat(running, mid, ATTENDEE) == "NEEDS-ACTION"
    [row] = unverified(running, mid)
    assert row["after"]["email"] == ATTENDEE and row["after"]["partstat"] == "DECLINED"
    assert "spf=fail" in row["after"]["authentication"] and "dkim=none" in row["after"]["authentication"]
    recorded = stored_headers(running)
    assert len(recorded) == 1 and "spf=fail" in recorded[0] and "dmarc=none" in recorded[0]

    genuine = dkim_sign(
        reply_message(ATTENDEE, ATTENDEE, uid, "ACCEPTED").as_bytes(), keys["hebei"][0], "hebei.example.org"
    )
    assert "handled" in await send_raw(running, genuine, ATTENDEE)
    assert partstat(running, mid, ATTENDEE) == "ACCEPTED"
    assert "dkim=pass header.d=hebei.example.org" in stored_headers(running)[0]
    assert len(unverified(running, mid)) == 1

    # DMARC p=reject: a valid signature of another domain is not aligned with From, SPF fails: not counted
    unaligned = dkim_sign(
        reply_message(STRICT, STRICT, uid, "ACCEPTED").as_bytes(), keys["other"][0], "other.example.net"
    )
    assert "handled" in await send_raw(running, unaligned, STRICT)
    assert partstat(running, mid, STRICT) == "NEEDS-ACTION"
    assert "dmarc=fail (p=reject)" in unverified(running, mid)[0]["after"]["authentication"]


async def send_raw(r: service.Running, raw: bytes, envelope: str) -> str:
    return await send_to(r.urls["smtp"], raw, envelope, ORGANISER)


async def test_relayed_reply_is_judged_by_the_relays_header(db_url: str, keys: dict[str, tuple[Path, str]]) -> None:
    r = await started(db_url, keys, trusted_relays="127.0.0.1", relay_authserv_id=RELAY)
    try:
        uid, mid = meeting(r)
        passed = f"Authentication-Results: {RELAY}; spf=pass smtp.mailfrom={ATTENDEE}; dkim=none; dmarc=none\r\n"
        raw = reply_message(ATTENDEE, ATTENDEE, uid, "ACCEPTED").as_bytes()
        assert "handled" in await send_raw(r, passed.encode() + raw, ATTENDEE)
        assert partstat(r, mid, ATTENDEE) == "ACCEPTED"  # our own SPF check would have failed for 127.0.0.1
        assert "(via trusted relay 127.0.0.1) spf=pass" in stored_headers(r)[0]

        # the relay's verdict on top wins over a "pass" the sender wrote beneath it
        failed = (
            f"Authentication-Results: {RELAY}; spf=fail smtp.mailfrom={STRICT}; dkim=none;"
            " dmarc=fail (p=reject) header.from=strict.gov.cn\r\n"
        )
        forged = f"Authentication-Results: {RELAY}; spf=pass; dkim=pass; dmarc=pass\r\n"
        raw = reply_message(STRICT, STRICT, uid, "ACCEPTED").as_bytes()
        assert "handled" in await send_raw(r, (failed + forged).encode() + raw, STRICT)
        assert partstat(r, mid, STRICT) == "NEEDS-ACTION"
        assert len(unverified(r, mid)) == 1

        # from any other address, a relay's header is not believed: our own checks judge
        assert r.inbound is not None
        fake = f"Authentication-Results: {RELAY}; spf=pass; dkim=pass; dmarc=pass\r\n".encode()
        raw = reply_message(ATTENDEE, ATTENDEE, uid, "DECLINED").as_bytes()
        answer = await r.inbound.deliver(fake + raw, ATTENDEE, ["meetings@liaison.bohai.example"], client="192.0.2.9")
        assert "handled" in answer
        assert partstat(r, mid, ATTENDEE) == "ACCEPTED" and len(unverified(r, mid)) == 2
    finally:
        await r.aclose()


async def test_outgoing_mail_is_dkim_signed(keys: dict[str, tuple[Path, str]]) -> None:
    records = {("TXT", "s1._domainkey.liaison.bohai.example"): [keys["hebei"][1]]}
    msg = reply_message("meetings@liaison.bohai.example", ATTENDEE, "uid-1", "ACCEPTED")
    async with mail_sink() as sink:
        settings = service_settings(relay={"host": sink.host, "port": sink.port, "timeout": 10}).relay
        transport = SmtpTransport(settings, DkimSigner(str(keys["hebei"][0]), "s1", "liaison.bohai.example"))
        try:
            outcome = await transport.send(Envelope("meetings@liaison.bohai.example", ATTENDEE, msg.as_bytes(), "t1"))
            assert outcome.status == "sent"
            got = await sink.get()
        finally:
            await transport.aclose()
    assert got.data.lower().startswith(b"dkim-signature:")
    verdict = check(dns_table(records), got.data, got.message, "192.0.2.1", "meetings@liaison.bohai.example")
    assert (verdict.dkim, verdict.dkim_domain) == ("pass", "liaison.bohai.example")
