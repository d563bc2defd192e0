"""The bytes of the CardDAV face: reading request bodies safely and writing multistatus answers.

Owns: the namespaces, parsing a request body with ``defusedxml`` (no DTDs, no entities, no external references:
an XML bomb is refused before it expands) into an ElementTree, and the writers of ``multistatus`` responses,
``propstat`` blocks (the 200 block always first: Thunderbird reads only the first status) and ``DAV:error``
bodies. Answers are written as text, not built as trees: a multiget of 15,000 cards is one string join.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from directory.errors import FieldError, ValidationFailed

DAV = "DAV:"
CARD = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
PREFIXES = {DAV: "d", CARD: "card", CS: "cs"}
ROOT_XMLNS = " ".join(f"xmlns:{p}={quoteattr(ns)}" for ns, p in PREFIXES.items())
HEADER = '<?xml version="1.0" encoding="utf-8"?>\n'
STATUS_TEXT = {200: "OK", 403: "Forbidden", 404: "Not Found", 507: "Insufficient Storage"}


def qname(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def parse(body: bytes) -> ET.Element | None:
    """The request body as a tree, None for an empty body; ``ValidationFailed`` naming the fault otherwise."""
    if not body.strip():
        return None
    try:
        root: ET.Element = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _bad(f"请求正文含有不允许的 XML 结构（{type(exc).__name__}：DTD、实体或外部引用）") from None
    except ET.ParseError as exc:
        raise _bad(f"请求正文不是合法的 XML：{exc}") from None
    return root


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("body", message)], message)


def split(tag: str) -> tuple[str, str]:
    """``{ns}name`` → (ns, name); a tag without a namespace has ns ""."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def element(tag: str, inner: str = "") -> str:
    """``tag`` (``{ns}name``) written with the root's prefix, or with its own xmlns for foreign namespaces."""
    ns, name = split(tag)
    prefix = PREFIXES.get(ns)
    if prefix is not None:
        full, attr = f"{prefix}:{name}", ""
    else:
        full, attr = (f"x:{name}", f" xmlns:x={quoteattr(ns)}") if ns else (name, "")
    return f"<{full}{attr}>{inner}</{full}>" if inner else f"<{full}{attr}/>"


def text(value: str) -> str:
    return escape(value)


def href(path: str) -> str:
    return f"<d:href>{escape(path)}</d:href>"


def status(code: int) -> str:
    return f"<d:status>HTTP/1.1 {code} {STATUS_TEXT.get(code, '')}</d:status>"


def propstats(found: Mapping[str, str], missing: Iterable[str]) -> str:
    """The 200 propstat with ``found`` (tag → inner XML) first, then a 404 one for ``missing`` tags."""
    out = []
    if found:
        props = "".join(element(tag, inner) for tag, inner in found.items())
        out.append(f"<d:propstat><d:prop>{props}</d:prop>{status(200)}</d:propstat>")
    absent = "".join(element(tag) for tag in missing)
    if absent:
        out.append(f"<d:propstat><d:prop>{absent}</d:prop>{status(404)}</d:propstat>")
    return "".join(out)


def response(path: str, body: str) -> str:
    return f"<d:response>{href(path)}{body}</d:response>"


def gone(path: str) -> str:
    """A member that is not (or no longer) there: a sync-collection removal or a multiget miss."""
    return f"<d:response>{href(path)}{status(404)}</d:response>"


def multistatus(parts: Iterable[str], tail: str = "") -> bytes:
    return (HEADER + f"<d:multistatus {ROOT_XMLNS}>" + "".join(parts) + tail + "</d:multistatus>").encode("utf-8")


def error(condition: str, message: str) -> bytes:
    """A ``DAV:error`` body naming the failed precondition, with the message as a comment for people."""
    comment = message.replace("--", "—")
    return (HEADER + f"<d:error {ROOT_XMLNS}>{element(condition)}<!-- {comment} --></d:error>").encode("utf-8")
