"""Search and Compare over the backend index, with limits and the paged results, sort and VLV controls.

Owns: the Root DSE and ``cn=Subschema`` entries, attribute selection (``*``, ``+``, ``1.1``, names and aliases,
typesOnly), size and time limits (result codes 4 and 3), paged results (RFC 2696, always answered with the paged
response control), server-side sort (RFC 2891) and VLV (draft-ietf-ldapext-ldapv3-vlv), and critical-control
checks (12). Produces encoded protocol ops; the server frames and sends them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from directory.ldap import messages as m
from directory.ldap import schema
from directory.ldap.backend import DirectoryIndex, IndexedEntry, Layout
from directory.ldap.ber import BerError, header
from directory.ldap.dn import DnError, normalize_dn
from directory.ldap.filters import compile_filter, prepare, prepare_entry

T = TypeVar("T")
SUPPORTED_CONTROLS = (m.OID_PAGED, m.OID_SORT_REQ, m.OID_VLV_REQ)
SUBSCHEMA_DN = "cn=Subschema"
MAX_PAGED_SETS = 8  # open paged result sets per connection


@dataclass(frozen=True)
class Limits:
    size_limit: int
    time_limit: int


@dataclass
class Outcome:
    """What a search answers: entry ops, then SearchResultDone with ``code``/``text`` and response controls."""

    entries: list[bytes] = field(default_factory=list)
    code: int = m.SUCCESS
    text: str = ""
    matched: str = ""
    controls: list[bytes] = field(default_factory=list)


class SearchError(Exception):
    def __init__(self, code: int, text: str, matched: str = "") -> None:
        super().__init__(text)
        self.code, self.text, self.matched = code, text, matched


@dataclass
class PagedSet:
    key: tuple[object, ...]
    ids: list[int]
    index: DirectoryIndex
    sent: int = 0


def root_dse(base_dn: str, tls: bool) -> dict[str, list[str]]:
    extensions = [m.OID_WHOAMI] + ([m.OID_STARTTLS] if tls else [])
    return {
        "objectClass": ["top"],
        "namingContexts": [base_dn],
        "subschemaSubentry": [SUBSCHEMA_DN],
        "supportedLDAPVersion": ["2", "3"],
        "supportedControl": list(SUPPORTED_CONTROLS),
        "supportedExtension": extensions,
        "supportedFeatures": ["1.3.6.1.4.1.4203.1.5.1"],
        "vendorName": ["Bohai Liaison 环渤海通讯联络服务"],
        "vendorVersion": ["0.1"],
    }


# -- attribute selection -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    all_user: bool
    operational: bool
    keys: frozenset[str]
    types_only: bool

    @classmethod
    def of(cls, attributes: tuple[str, ...], types_only: bool) -> Selection:
        names = [a.strip() for a in attributes]
        keys = set()
        for name in names:
            if name in ("*", "+", "1.1"):
                continue
            at = schema.lookup(name)
            keys.add(at.key if at else name.split(";", 1)[0].lower())
        only_none = bool(names) and all(n == "1.1" for n in names)
        all_user = not only_none and (not names or "*" in names)
        return cls(all_user, "+" in names, frozenset(keys), types_only)

    @property
    def cache_key(self) -> tuple[bool, bool, frozenset[str], bool]:
        return (self.all_user, self.operational, self.keys, self.types_only)

    @property
    def plain(self) -> bool:
        return self.all_user and not self.operational and not self.types_only and not (self.keys & _OPERATIONAL)

    def encode(self, index: DirectoryIndex, i: int) -> bytes:
        return self.encode_all(index, [i])[0]

    def encode_all(self, index: DirectoryIndex, ids: Iterable[int]) -> list[bytes]:
        """The SearchResultEntry ops of these entries for this selection (remembered per index, within a budget)."""
        entries = index.entries
        if self.plain:
            return [entries[i].full for i in ids]
        cache = index.encoded(self.cache_key)
        out = []
        for i in ids:
            op = cache.get(i)
            if op is None:
                op = self._encode(index, i)
                index.remember(cache, i, op)
            out.append(op)
        return out

    def _encode(self, index: DirectoryIndex, i: int) -> bytes:
        e = index.entries[i]
        if self.types_only:
            body = b"".join(
                m.encode_attribute(n, (), True)
                for n, k in zip(e.layout.names, e.layout.keys, strict=True)
                if self.all_user or k in self.keys
            )
        else:
            body = e.all_parts() if self.all_user else e.parts(self._columns(e.layout))
        if self.operational or self.keys & _OPERATIONAL:
            body += b"".join(self._operational(index, i, e))
        dn_enc = e.dn_enc
        inner = header(0x30, len(body))
        return b"".join((header(m.SEARCH_ENTRY, len(dn_enc) + len(inner) + len(body)), dn_enc, inner, body))

    def _columns(self, layout: Layout) -> tuple[int, ...]:
        """Positions of the selected attributes in an entry layout (few layouts, so remembered)."""
        key = (self.keys, layout)
        found = _COLUMNS.get(key)
        if found is None:
            if len(_COLUMNS) > 4096:
                _COLUMNS.clear()
            found = _COLUMNS[key] = tuple(j for j, k in enumerate(layout.keys) if k in self.keys)
        return found

    def _operational(self, index: DirectoryIndex, i: int, e: IndexedEntry) -> list[bytes]:
        values = {
            "entrydn": ("entryDN", [e.dn]),
            "subschemasubentry": ("subschemaSubentry", [SUBSCHEMA_DN]),
            "hassubordinates": ("hasSubordinates", ["TRUE" if index.children[i] else "FALSE"]),
        }
        return [
            m.encode_attribute(name, vals, self.types_only)
            for key, (name, vals) in values.items()
            if self.operational or key in self.keys
        ]

    def encode_special(self, dn: str, attrs: dict[str, list[str]]) -> bytes:
        """Root DSE and subschema: every attribute is operational, so no list, ``*`` and ``+`` all give all."""
        chosen = [
            m.encode_attribute(name, values, self.types_only)
            for name, values in attrs.items()
            if self.all_user or self.operational or name.lower() in self.keys
        ]
        return m.entry_op(dn, b"".join(chosen))


_OPERATIONAL = frozenset({"entrydn", "subschemasubentry", "hassubordinates"})
_COLUMNS: dict[tuple[frozenset[str], Layout], tuple[int, ...]] = {}


def _key(name: str) -> str:
    at = schema.lookup(name)
    return at.key if at else name.lower()


# -- the search operation ------------------------------------------------------------------------------------------


@dataclass
class Searcher:
    """Answers searches against whichever index ``current`` returns (the Snapshot of the moment)."""

    current: Callable[[], DirectoryIndex]
    limits: Limits
    tls_available: bool = False
    clock: Callable[[], float] = time.monotonic

    def search(self, req: m.SearchRequest, controls: tuple[m.Control, ...], paged: dict[bytes, PagedSet]) -> Outcome:
        try:
            return self._search(req, controls, paged)
        except SearchError as exc:
            out = Outcome(code=exc.code, text=exc.text, matched=exc.matched)
            if any(c.oid == m.OID_PAGED for c in controls):
                out.controls.append(m.paged_control(0, b""))
            return out

    def _search(self, req: m.SearchRequest, controls: tuple[m.Control, ...], paged: dict[bytes, PagedSet]) -> Outcome:
        wanted = _controls(controls)
        sel = Selection.of(req.attributes, req.types_only)
        special = self._special(req, sel)
        if special is not None:
            return special
        index = self.current()
        base = self._base(index, req.base)
        limits = [t for t in (req.time_limit, self.limits.time_limit) if t > 0]
        deadline = self.clock() + min(limits) if limits else float("inf")
        sizes = [n for n in (req.size_limit, self.limits.size_limit) if n > 0]
        size = min(sizes) if sizes else len(index.entries)
        if not wanted:
            ids, more, late = index.evaluate(base, req.scope, req.filter, None, size, deadline, self.clock)
            return _done(index, sel, ids, more, late)
        if m.OID_PAGED in wanted:
            return self._paged(index, req, wanted, paged, base, deadline, sel)
        ids, _, late = index.evaluate(base, req.scope, req.filter, None, len(index.entries), deadline, self.clock)
        if late:
            return _done(index, sel, [], False, True)
        return _sorted_view(index, sel, ids, wanted, size)

    def _special(self, req: m.SearchRequest, sel: Selection) -> Outcome | None:
        if req.scope != 0:
            return None
        if req.base.strip() == "":
            dn, attrs = "", root_dse(self.current().base_dn, self.tls_available)
        elif _is_subschema(req.base):
            dn, attrs = SUBSCHEMA_DN, schema.subschema_attributes()
        else:
            return None
        match = compile_filter(req.filter)(prepare_entry(attrs, {}))
        return Outcome([sel.encode_special(dn, attrs)] if match is True else [])

    def _base(self, index: DirectoryIndex, base: str) -> int:
        if base.strip() == "":
            return 0  # Apple Contacts: an empty base searches the whole directory
        try:
            found = index.find(base)
            if found is None:
                raise SearchError(m.NO_SUCH_OBJECT, f"条目不存在 (no such object): {base}", index.matched(base))
        except DnError as exc:
            raise SearchError(m.INVALID_DN_SYNTAX, f"DN 语法错误 (invalid DN syntax): {exc}") from exc
        return found

    def _paged(
        self,
        index: DirectoryIndex,
        req: m.SearchRequest,
        wanted: dict[str, m.Control],
        paged: dict[bytes, PagedSet],
        base: int,
        deadline: float,
        sel: Selection,
    ) -> Outcome:
        page_size, cookie = _decode(m.decode_paged, wanted[m.OID_PAGED])
        key = (req.base, req.scope, req.filter, req.attributes, req.types_only)
        if cookie:
            state = paged.get(cookie)
            if state is None or state.key != key:
                raise SearchError(m.UNWILLING_TO_PERFORM, "分页 cookie 无效或已过期 (unknown paged results cookie)")
            del paged[cookie]
        else:
            ids, _, late = index.evaluate(
                base, req.scope, req.filter, None, len(index.entries), deadline, self.clock
            )
            if late:
                return _done(index, sel, [], False, True)
            if m.OID_SORT_REQ in wanted:
                ids = _sort(index, ids, _decode(m.decode_sort, wanted[m.OID_SORT_REQ]))
            state = PagedSet(key, ids, index)
        if page_size <= 0:
            return Outcome(controls=[m.paged_control(0, b"")])
        return _next_page(state, sel, paged, min(page_size, self.limits.size_limit or page_size), req.size_limit)

    def compare(self, req: m.CompareRequest) -> tuple[int, str, str]:
        index = self.current()
        try:
            i = index.find(req.dn)
        except DnError as exc:
            return m.INVALID_DN_SYNTAX, f"DN 语法错误 (invalid DN syntax): {exc}", ""
        if i is None:
            return m.NO_SUCH_OBJECT, f"条目不存在 (no such object): {req.dn}", index.matched(req.dn)
        at = schema.lookup(req.attr)
        if at is None:
            return m.UNDEFINED_ATTRIBUTE_TYPE, f"未知属性 (undefined attribute type): {req.attr}", ""
        values = index.entries[i].prepared.get(at.key)
        if values is None:
            return m.NO_SUCH_ATTRIBUTE, f"条目没有该属性 (no such attribute): {req.attr}", ""
        return (m.COMPARE_TRUE if prepare(at.kind, req.value) in values else m.COMPARE_FALSE), "", ""


def _is_subschema(base: str) -> bool:
    if "subschema" not in base.lower():
        return False
    try:
        return normalize_dn(base) == "cn=subschema"
    except DnError:
        return False


def _controls(controls: tuple[m.Control, ...]) -> dict[str, m.Control]:
    wanted: dict[str, m.Control] = {}
    for c in controls:
        if c.oid in SUPPORTED_CONTROLS:
            wanted[c.oid] = c
        elif c.critical:
            raise SearchError(
                m.UNAVAILABLE_CRITICAL_EXTENSION, f"不支持的关键控件 (unsupported critical control) {c.oid}"
            )
    if m.OID_VLV_REQ in wanted and m.OID_SORT_REQ not in wanted:
        raise SearchError(m.SORT_CONTROL_MISSING, "VLV 需要同时使用排序控件 (VLV needs the sort control)")
    if m.OID_VLV_REQ in wanted and m.OID_PAGED in wanted:
        raise SearchError(m.PROTOCOL_ERROR, "VLV 与分页控件不能同时使用 (VLV and paged results together)")
    return wanted


def _decode(decoder: Callable[[bytes | None], T], control: m.Control) -> T:
    try:
        return decoder(control.value)
    except BerError as exc:
        raise SearchError(m.PROTOCOL_ERROR, f"控件值格式错误 (bad control value) {control.oid}: {exc}") from exc


def _done(index: DirectoryIndex, sel: Selection, ids: list[int], more: bool, late: bool) -> Outcome:
    out = Outcome(sel.encode_all(index, ids))
    if late:
        out.code, out.text = m.TIME_LIMIT, "超出时间限制 (time limit exceeded)"
    elif more:
        out.code, out.text = m.SIZE_LIMIT, f"超出条目数限制 (size limit exceeded): {len(ids)}"
    return out


def _sort(index: DirectoryIndex, ids: list[int], keys: tuple[m.SortKey, ...]) -> list[int]:
    ordered = list(ids)
    for k in reversed(keys):
        at = schema.lookup(k.attr)
        if at is None:
            raise SearchError(m.UNWILLING_TO_PERFORM, f"无法按未知属性排序 (cannot sort by) {k.attr}")
        ordered.sort(key=lambda i, key=at.key: index.sort_key(i, key), reverse=k.reverse)  # type: ignore[misc]
    return ordered


def _sorted_view(
    index: DirectoryIndex, sel: Selection, ids: list[int], wanted: dict[str, m.Control], size: int
) -> Outcome:
    keys = _decode(m.decode_sort, wanted[m.OID_SORT_REQ])
    try:
        ordered = _sort(index, ids, keys)
    except SearchError as exc:
        if wanted[m.OID_SORT_REQ].critical:
            raise
        ordered, sort_code = ids, exc.code
    else:
        sort_code = m.SUCCESS
    sort_ctl = m.sort_control(sort_code)
    if m.OID_VLV_REQ in wanted:
        return _vlv(index, sel, ordered, _decode(m.decode_vlv, wanted[m.OID_VLV_REQ]), keys[0], size, sort_ctl)
    out = _done(index, sel, ordered[:size], len(ordered) > size, False)
    out.controls.append(sort_ctl)
    return out


def _vlv(
    index: DirectoryIndex,
    sel: Selection,
    ordered: list[int],
    vlv: m.VlvRequest,
    key: m.SortKey,
    size: int,
    sort_ctl: bytes,
) -> Outcome:
    count = len(ordered)
    if vlv.offset is not None:
        if vlv.offset < 1:
            out = Outcome(code=m.OFFSET_RANGE_ERROR, text="VLV 偏移量必须从 1 开始 (offset must be ≥ 1)")
            out.controls += [sort_ctl, m.vlv_control(0, count, m.OFFSET_RANGE_ERROR, vlv.context)]
            return out
        target = vlv.offset if vlv.content_count == 0 else round(vlv.offset * count / max(vlv.content_count, 1))
        target = max(1, min(target, count + 1 if count else 1))
    else:
        at = schema.lookup(key.attr)
        wanted = prepare(at.kind, vlv.value or "") if at else ""
        sort_keys = [index.sort_key(i, at.key if at else "") for i in ordered]
        target = next((n + 1 for n, k in enumerate(sort_keys) if (k[0], k[1]) >= (0, wanted)), count + 1)
    first = max(0, target - 1 - vlv.before)
    window = ordered[first : min(count, target + vlv.after)][: max(size, 1)]
    out = Outcome(sel.encode_all(index, window))
    out.controls += [sort_ctl, m.vlv_control(target, count, m.SUCCESS, vlv.context)]
    return out


def _next_page(
    state: PagedSet, sel: Selection, paged: dict[bytes, PagedSet], page_limit: int, total_limit: int
) -> Outcome:
    start = state.sent
    stop = min(start + page_limit, len(state.ids))
    if total_limit:
        stop = min(stop, total_limit)
    out = Outcome(sel.encode_all(state.index, state.ids[start:stop]))
    state.sent = stop
    if total_limit and stop >= total_limit and len(state.ids) > total_limit:
        out.code, out.text = m.SIZE_LIMIT, f"超出条目数限制 (size limit exceeded): {total_limit}"
        out.controls.append(m.paged_control(0, b""))
        return out
    cookie = b""
    if stop < len(state.ids):
        cookie = os.urandom(8)
        while len(paged) >= MAX_PAGED_SETS:
            paged.pop(next(iter(paged)))
        paged[cookie] = state
    out.controls.append(m.paged_control(len(state.ids), cookie))
    return out
