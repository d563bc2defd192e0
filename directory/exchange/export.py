"""Export of the directory (or one region's subtree) from a Snapshot into file bytes.

Owns: the list of formats, choosing the offices of a subtree in region-code order, dispatching to the format
modules, and the watermark naming who exported and when, carried so that every format stays valid and
re-importable: xlsx document properties, a ``#`` comment line in LDIF, an ``X-BOHAI-EXPORTED`` property in every
vCard, and for CSV (which has no comments) the file name (and the caller's audit row). Mobiles are shown as the
exporting viewer may see them (``directory.privacy``). Pure: the caller builds the Snapshot and writes the bytes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from directory import clock, dit
from directory.errors import NotFound
from directory.exchange import csvfile, ldif, vcard, xlsx
from directory.exchange.table import EXPORT_HEADER, office_row
from directory.privacy import EVERYTHING, Viewer, snapshot_for
from directory.regions import normalize_code
from directory.snapshot import OfficeView, Snapshot

FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "vcard": "text/vcard; charset=utf-8",
    "vcard-outlook": "text/x-vcard; charset=utf-8",
    "ldif": "text/x-ldif; charset=utf-8",
}
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "vcard": "vcf", "vcard-outlook": "vcf", "ldif": "ldif"}
BINARY = frozenset({"xlsx"})


def resolve_region(snap: Snapshot, text: str | None) -> str | None:
    """The 12-digit code of a ``--region`` argument (2/4/6/9/12 digits); None for everything."""
    if text is None:
        return None
    code = normalize_code(text)
    if code is None or code not in snap.regions:
        raise NotFound(f"区划代码 {text} 不存在")
    return code


def offices_of(snap: Snapshot, root: str | None) -> list[OfficeView]:
    """The offices in ``root``'s subtree (all when None), in region-code order."""
    if root is None:
        codes = sorted(snap.offices)
    else:
        codes = sorted(r.code for r in snap.descendants(root) if r.code in snap.offices)
    return [snap.offices[c] for c in codes]


_UNSAFE = re.compile(r"[^\w.@:+-]", re.ASCII)


@dataclass(frozen=True)
class Watermark:
    """Who exported and when."""

    by: str
    at: dt.datetime

    @property
    def text(self) -> str:
        """``by`` and the Beijing time in ISO 8601 (one line, no controls)."""
        who = "".join(ch for ch in self.by if ch.isprintable()).replace(" ", "_")[:100]
        return f"{who} {clock.local(self.at).isoformat(timespec='seconds')}"

    def filename(self, stem: str, fmt: str) -> str:
        """A file name naming the exporter and the time: ``130000000000-alice-20261206T143000.csv``."""
        who = _UNSAFE.sub("_", self.by)[:40] or "unknown"
        return f"{stem}-{who}-{clock.local(self.at).strftime('%Y%m%dT%H%M%S')}.{EXTENSIONS[fmt]}"


def render(
    snap: Snapshot,
    fmt: str,
    *,
    root: str | None = None,
    base_dn: str = "dc=bohai,dc=example",
    viewer: Viewer = EVERYTHING,
    watermark: Watermark | None = None,
) -> bytes:
    """The file content of one export, as ``viewer`` may see it; ``root`` limits it to one region's subtree."""
    snap = snapshot_for(snap, viewer)
    mark = watermark.text if watermark is not None else ""
    renderers: dict[str, Callable[[], bytes]] = {
        "csv": lambda: csvfile.write((office_row(o) for o in offices_of(snap, root)), EXPORT_HEADER),
        "xlsx": lambda: xlsx.write((office_row(o) for o in offices_of(snap, root)), EXPORT_HEADER, exported=mark),
        "vcard": lambda: _mark_cards(vcard.vcards_30(snap, offices_of(snap, root)), mark),
        "vcard-outlook": lambda: _mark_cards(vcard.vcards_outlook(snap, offices_of(snap, root)), mark),
        "ldif": lambda: _mark_ldif("".join(ldif.render(dit.entries(snap, base_dn, root))), mark).encode("utf-8"),
    }
    if fmt not in renderers:
        raise NotFound(f"未知的导出格式 {fmt}：可选 {', '.join(FORMATS)}")
    return renderers[fmt]()


def _mark_cards(data: bytes, mark: str) -> bytes:
    """An ``X-BOHAI-EXPORTED`` property before each card's END (a line start; values never hold a bare CRLF)."""
    if not mark:
        return data
    line = vcard.property_line("X-BOHAI-EXPORTED", mark)
    return data.replace(b"\r\nEND:VCARD\r\n", f"\r\n{line}END:VCARD\r\n".encode())


def _mark_ldif(text: str, mark: str) -> str:
    """A comment line first (RFC 2849: a line starting with ``#`` is ignored by every reader)."""
    return f"# X-BOHAI-EXPORTED: {mark}\n{text}" if mark else text
