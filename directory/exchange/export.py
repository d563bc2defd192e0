"""Export of the directory (or one region's subtree) from a Snapshot into file bytes.

Owns: the list of formats, choosing the offices of a subtree in region-code order, and dispatching to the format
modules. Pure: the caller builds the Snapshot and writes the bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from directory import dit
from directory.errors import NotFound
from directory.exchange import csvfile, ldif, vcard, xlsx
from directory.exchange.table import EXPORT_HEADER, office_row
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


def render(snap: Snapshot, fmt: str, *, root: str | None = None, base_dn: str = "dc=bohai,dc=example") -> bytes:
    """The file content of one export; ``root`` limits it to one region's subtree."""
    renderers: dict[str, Callable[[], bytes]] = {
        "csv": lambda: csvfile.write((office_row(o) for o in offices_of(snap, root)), EXPORT_HEADER),
        "xlsx": lambda: xlsx.write((office_row(o) for o in offices_of(snap, root)), EXPORT_HEADER),
        "vcard": lambda: vcard.vcards_30(snap, offices_of(snap, root)),
        "vcard-outlook": lambda: vcard.vcards_outlook(snap, offices_of(snap, root)),
        "ldif": lambda: "".join(ldif.render(dit.entries(snap, base_dn, root))).encode("utf-8"),
    }
    if fmt not in renderers:
        raise NotFound(f"未知的导出格式 {fmt}：可选 {', '.join(FORMATS)}")
    return renderers[fmt]()
