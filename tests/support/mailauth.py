"""Mail authenticity in tests: a real RSA key for DKIM made with the openssl program, its DNS record, DKIM signing
with dkimpy, and the table of DNS answers the sender checks read instead of the network."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import subprocess
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from liaison.mail.authcheck import TableDns
from tests.support.need import need


def dkim_key(directory: Path, name: str = "dkim") -> tuple[Path, str]:
    """A new 2048-bit RSA key (PEM file) and the TXT record publishing its public half."""
    need(shutil.which("openssl") is not None, "openssl (Debian package openssl)")
    key = directory / f"{name}.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")


def dkim_sign(raw: bytes, key: Path, domain: str, selector: str = "s1") -> bytes:
    import dkim

    headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    signature: bytes = dkim.sign(raw, selector.encode(), domain.encode(), key.read_bytes(), include_headers=headers)
    return signature + raw


def dns_table(records: dict[tuple[str, str], list[str]]) -> TableDns:
    return TableDns(records)


def calendar_reply(sender: str, attendee: str, uid: str, partstat: str, organiser: str) -> EmailMessage:
    """An iMIP REPLY from ``sender`` answering ``partstat`` for ``attendee`` (SEQUENCE 0)."""
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//")
    cal.add("version", "2.0")
    cal.add("method", "REPLY")
    ev = icalendar.Event()
    ev.add("uid", uid)
    ev.add("sequence", 0)
    ev.add("dtstamp", dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    person = icalendar.vCalAddress(f"mailto:{attendee}")
    person.params["PARTSTAT"] = partstat
    ev.add("attendee", person)
    cal.add_component(ev)
    msg = EmailMessage()
    msg["From"] = formataddr(("参会人", sender))
    msg["To"] = organiser
    msg["Subject"] = "答复：联席会议"
    msg["Date"] = formatdate()
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    msg.set_content("答复")
    msg.add_alternative(cal.to_ical(), maintype="text", subtype="calendar", params={"method": "REPLY"})
    return msg


async def send_raw(url: str, raw: bytes, envelope: str, rcpt: str) -> str:
    """Send ``raw`` as it is to the SMTP face at ``url`` (``smtp://host:port``); the server's answer."""
    import aiosmtplib

    host, _, port = url.removeprefix("smtp://").rpartition(":")
    errors, answer = await aiosmtplib.send(
        raw, hostname=host, port=int(port), sender=envelope, recipients=[rcpt], timeout=30
    )
    assert errors == {}
    return answer
