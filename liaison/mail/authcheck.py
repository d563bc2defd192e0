"""Whether inbound mail comes from whom its From line says: SPF, DKIM and DMARC, or a trusted relay's verdict.

Owns: the DNS seam (:class:`Dns`; dnspython in service, a table in tests, so no test needs the network), a small SPF
evaluator (``ip4``, ``ip6``, ``a``, ``mx``, ``include``, ``redirect``, ``all``; at most 10 lookups as RFC 7208 asks),
DKIM through dkimpy with that seam, DMARC (the ``_dmarc`` record of the From domain or its organisational domain,
relaxed alignment), the verdict of a relay of ours read from its ``Authentication-Results`` header (``authres``)
for the configured relay addresses only, the one ``Authentication-Results`` header we record, and :func:`trusted`:
a message fails when DMARC fails under ``p=reject`` or ``p=quarantine``, or, where the domain publishes no DMARC
record (common for government mail), when neither SPF nor DKIM passes.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Protocol

from liaison.mail.headers import from_addresses, raw_values
from liaison.settings import Settings, SmtpSettings

log = logging.getLogger(__name__)
MAX_LOOKUPS = 10


class Dns(Protocol):
    """The DNS answers the checks need; a missing name or record is an empty list."""

    def txt(self, name: str) -> list[str]: ...
    def addresses(self, name: str) -> list[str]: ...
    def mx(self, name: str) -> list[str]: ...


class SystemDns:
    """The resolver of the host (dnspython), with a short timeout; any failure is "no record"."""

    def _ask(self, name: str, kind: str) -> list[str]:
        import dns.exception
        import dns.resolver

        try:
            answer = dns.resolver.resolve(name, kind, lifetime=5.0)
        except (dns.exception.DNSException, ValueError):
            return []
        if kind == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        if kind == "MX":
            return [str(r.exchange).rstrip(".") for r in answer]
        return [r.to_text() for r in answer]

    def txt(self, name: str) -> list[str]:
        return self._ask(name, "TXT")

    def addresses(self, name: str) -> list[str]:
        return self._ask(name, "A") + self._ask(name, "AAAA")

    def mx(self, name: str) -> list[str]:
        return self._ask(name, "MX")


@dataclass(frozen=True)
class TableDns:
    """DNS answers from a table (tests, and a documented seam): ``{("TXT", name): [...], ("A", name): [...]}``."""

    records: Mapping[tuple[str, str], Sequence[str]]

    def txt(self, name: str) -> list[str]:
        return list(self.records.get(("TXT", name.lower().rstrip(".")), ()))

    def addresses(self, name: str) -> list[str]:
        key = name.lower().rstrip(".")
        return list(self.records.get(("A", key), ())) + list(self.records.get(("AAAA", key), ()))

    def mx(self, name: str) -> list[str]:
        return list(self.records.get(("MX", name.lower().rstrip(".")), ()))


@dataclass(frozen=True)
class Verdict:
    spf: str  # pass | fail | softfail | neutral | none | permerror
    dkim: str  # pass | fail | none
    dkim_domain: str
    dmarc: str  # pass | fail | none (no record)
    policy: str  # the DMARC p= of the From domain ("" without a record)
    from_domain: str
    mail_from: str
    via: str = ""  # the relay whose header was trusted ("" when checked here)

    def trusted(self) -> bool:
        if self.dmarc == "fail" and self.policy in ("reject", "quarantine"):
            return False
        if self.dmarc == "none":
            return self.spf == "pass" or self.dkim == "pass"
        return True

    def header(self, authserv_id: str) -> str:
        """The ``Authentication-Results`` value we record (RFC 8601)."""
        parts = [
            f"spf={self.spf} smtp.mailfrom={self.mail_from or '<>'}",
            f"dkim={self.dkim}" + (f" header.d={self.dkim_domain}" if self.dkim_domain else ""),
            f"dmarc={self.dmarc}" + (f" (p={self.policy})" if self.policy else "") + f" header.from={self.from_domain}",
        ]
        via = f" (via trusted relay {self.via})" if self.via else ""
        return f"{authserv_id};{via} " + "; ".join(parts)


# -- SPF -----------------------------------------------------------------------------------------------------------


def spf(dns: Dns, client: str, domain: str) -> str:
    """The SPF result of ``client`` sending for ``domain`` (RFC 7208, the common mechanisms)."""
    if not domain:
        return "none"
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return "none"
    budget = [MAX_LOOKUPS]
    return _spf(dns, ip, domain.lower(), budget) or "neutral"


def _record(dns: Dns, domain: str) -> str | None:
    found = [t for t in dns.txt(domain) if t.lower().startswith("v=spf1")]
    return found[0] if len(found) == 1 else None


_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


def _spf(dns: Dns, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, budget: list[int]) -> str | None:
    record = _record(dns, domain)
    if record is None:
        return "none"
    redirect = ""
    for term in record.split()[1:]:
        if term.lower().startswith("redirect="):
            redirect = term.split("=", 1)[1]
            continue
        if "=" in term:
            continue  # other modifiers (exp=) change no result
        qualifier = _QUALIFIERS.get(term[0], "")
        mech = term[1:] if qualifier else term
        matched = _matches(dns, ip, domain, mech, budget)
        if matched == "permerror":
            return "permerror"
        if matched:
            return qualifier or "pass"
    if redirect:
        budget[0] -= 1
        return "permerror" if budget[0] < 0 else _spf(dns, ip, redirect.lower(), budget)
    return "neutral"


def _matches(
    dns: Dns, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, mech: str, budget: list[int]
) -> bool | str:
    name, _, arg = mech.partition(":")
    name = name.lower()
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        try:
            return ip in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return "permerror"
    if name in ("a", "mx", "include"):
        budget[0] -= 1
        if budget[0] < 0:
            return "permerror"
        target = (arg or domain).split("/")[0].lower()
        if name == "include":
            inner = _spf(dns, ip, target, budget)
            return "permerror" if inner in ("permerror", "none") else inner == "pass"
        hosts = dns.mx(target) if name == "mx" else [target]
        return any(_same(ip, a) for host in hosts[:MAX_LOOKUPS] for a in dns.addresses(host))
    return False


def _same(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ip == ipaddress.ip_address(text)
    except ValueError:
        return False


# -- DKIM and DMARC ------------------------------------------------------------------------------------------------


def dkim_check(dns: Dns, raw: bytes) -> tuple[str, str]:
    """(result, signing domain) of the message's first valid DKIM signature (dkimpy, DNS through ``dns``)."""
    import dkim

    if b"dkim-signature:" not in raw[:65536].lower():
        return "none", ""

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        found = dns.txt(name.decode("ascii", "replace").rstrip("."))
        return found[0].encode() if found else b""

    verifier = dkim.DKIM(raw)
    try:
        ok = verifier.verify(dnsfunc=lookup)
    except dkim.DKIMException as exc:
        log.info("DKIM verification error: %s", exc)
        ok = False
    domain = (verifier.domain or b"").decode("ascii", "replace").lower()
    return ("pass" if ok else "fail"), domain


def org_domain(domain: str) -> str:
    """The organisational domain, approximated by the registrable part: the last two labels, three under a
    second-level public suffix (``gov.cn``, ``com.cn``, ``org.cn``, ``edu.cn``, ``net.cn``)."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and ".".join(labels[-2:]) in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


_SECOND_LEVEL = {"gov.cn", "com.cn", "org.cn", "edu.cn", "net.cn", "ac.cn"}


def dmarc_policy(dns: Dns, from_domain: str) -> str | None:
    """The p= of the DMARC record of ``from_domain`` (or its organisational domain); None without a record."""
    for name in dict.fromkeys((from_domain, org_domain(from_domain))):
        for text in dns.txt(f"_dmarc.{name}"):
            if text.replace(" ", "").lower().startswith("v=dmarc1"):
                tags = dict(t.strip().split("=", 1) for t in text.split(";") if "=" in t)
                return tags.get("p", "none").strip().lower()
    return None


def aligned(a: str, b: str) -> bool:
    return bool(a) and bool(b) and org_domain(a) == org_domain(b)


def check(dns: Dns, raw: bytes, message: Message, client: str, mail_from: str) -> Verdict:
    """SPF of the envelope sender for ``client``, DKIM of the message, DMARC of the From domain."""
    senders = from_addresses(message)
    from_domain = senders[0].rpartition("@")[2] if len(senders) == 1 else ""
    envelope = mail_from.strip().strip("<>").lower()
    spf_domain = envelope.rpartition("@")[2] if envelope else ""
    spf_result = spf(dns, client, spf_domain)
    dkim_result, dkim_domain = dkim_check(dns, raw)
    policy = dmarc_policy(dns, from_domain) if from_domain else None
    if policy is None:
        dmarc = "none"
    else:
        ok = (spf_result == "pass" and aligned(spf_domain, from_domain)) or (
            dkim_result == "pass" and aligned(dkim_domain, from_domain)
        )
        dmarc = "pass" if ok else "fail"
    return Verdict(spf_result, dkim_result, dkim_domain, dmarc, policy or "", from_domain, envelope)


# -- a trusted relay's verdict -------------------------------------------------------------------------------------

_POLICY = re.compile(r"\bp=(none|quarantine|reject)\b", re.IGNORECASE)


def relayed(message: Message, relay_id: str, relay: str, mail_from: str) -> Verdict | None:
    """The verdict in the topmost ``Authentication-Results`` of ``relay_id`` (our relay adds it above anything a
    sender wrote), or None when there is none."""
    import authres

    senders = from_addresses(message)
    from_domain = senders[0].rpartition("@")[2] if len(senders) == 1 else ""
    for value in raw_values(message, "Authentication-Results"):
        try:
            header = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + " ".join(value.split()))
        except Exception:  # authres raises its own and builtin errors for malformed headers
            continue
        if (header.authserv_id or "").lower() != relay_id.lower():
            continue
        found = {r.method.lower(): r for r in header.results}
        dmarc = found.get("dmarc")
        policy_match = _POLICY.search(value) if dmarc is not None else None
        dkim = found.get("dkim")
        dkim_domain = ""
        if dkim is not None:
            dkim_domain = next((p.value for p in dkim.properties if p.name.lower() == "d"), "")
        return Verdict(
            spf=found["spf"].result.lower() if "spf" in found else "none",
            dkim=dkim.result.lower() if dkim is not None else "none",
            dkim_domain=str(dkim_domain).lower(),
            dmarc=dmarc.result.lower() if dmarc is not None else "none",
            policy=policy_match.group(1).lower() if policy_match else ("none" if dmarc is not None else ""),
            from_domain=from_domain,
            mail_from=mail_from.strip().strip("<>").lower(),
            via=relay,
        )
    return None


def recorded(message: Message, authserv_id: str) -> Verdict | None:
    """Our own verdict, read back from the header :func:`stamp` put first (for hooks further on)."""
    values = raw_values(message, "Authentication-Results")
    if not values or not values[0].strip().lower().startswith(authserv_id.lower() + ";"):
        return None
    text = values[0]
    result = {k: v for k, v in re.findall(r"\b(spf|dkim|dmarc)=(\w+)", text)}
    policy = _POLICY.search(text)
    return Verdict(
        result.get("spf", "none"),
        result.get("dkim", "none"),
        "",
        result.get("dmarc", "none"),
        policy.group(1) if policy else "",
        "",
        "",
    )


def stamp(message: Message, verdict: Verdict, authserv_id: str) -> bytes:
    """Record ``verdict`` as the first header, after removing any header that claims to be ours (a sender may
    write one to pass as checked); returns the header line to put before the stored raw message."""
    kept = [v for v in message.get_all("Authentication-Results", []) if not _ours(str(v), authserv_id)]
    del message["Authentication-Results"]
    value = verdict.header(authserv_id)
    message["Authentication-Results"] = value
    for v in kept:
        message["Authentication-Results"] = v
    return f"Authentication-Results: {value}\r\n".encode()


def _ours(value: str, authserv_id: str) -> bool:
    return value.strip().lower().startswith(authserv_id.lower() + ";") or value.strip().lower() == authserv_id.lower()


def judge(dns: Dns, smtp: SmtpSettings, raw: bytes, msg: Message, mail_from: str, client: str) -> Verdict:
    """Whether the message is from whom it says: a trusted relay's verdict for mail it passed on, else ours."""
    if client and client in {a.strip() for a in smtp.trusted_relays.split(",") if a.strip()}:
        verdict = relayed(msg, smtp.relay_authserv_id, client, mail_from)
        if verdict is not None:
            return verdict
        log.warning("relay %s sent no Authentication-Results of %s", client, smtp.relay_authserv_id)
        return Verdict("none", "none", "", "none", "", "", mail_from, via=client)
    return check(dns, raw, msg, client, mail_from)


def authserv_id(settings: Settings) -> str:
    """The name our ``Authentication-Results`` header carries."""
    return settings.smtp.authserv_id or settings.liaison.domain.lower()


def checked(dns: Dns, settings: Settings, raw: bytes, msg: Message, mail_from: str, client: str) -> bytes:
    """Judge the message and record the verdict in ``msg`` and in front of ``raw``; returns the new raw bytes."""
    verdict = judge(dns, settings.smtp, raw, msg, mail_from, client)
    ours = authserv_id(settings)
    return stamp(msg, verdict, ours) + _without_ours(raw, ours)


def _without_ours(raw: bytes, ours: str) -> bytes:
    """``raw`` without the header fields (continuation lines included) that claim to be our verdict."""
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") + 1 if end < 0 else end + 2  # the header block with its last line's end
    if end <= 0:
        return raw
    lines = raw[:end].splitlines(keepends=True)
    kept: list[bytes] = []
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        name, _, value = line.partition(b":")
        text = value.decode("utf-8", "replace")
        dropping = name.strip().lower() == b"authentication-results" and _ours(text, ours)
        if not dropping:
            kept.append(line)
    return b"".join(kept) + raw[end:]
