"""Search and Compare over the backend index, with limits and the paged results, sort and VLV controls.

Owns: ``Searcher``: size and time limits (result codes 4 and 3), paged results (RFC 2696, always answered with the
paged response control; the open sets are kept in ``paging.PagedResults``), server-side sort (RFC 2891) and VLV
(draft-ietf-ldapext-ldapv3-vlv), and critical-control checks (12). A search is a generator of steps
(``Searcher.steps``) that yields whenever ``due()`` says its slice of the event loop is used up (see ``pacing``);
the time limit is checked while the filter is evaluated and while results are sorted (encoding a page is bounded by
the page and size limits instead). ``Searcher.search`` runs one to
its end. Produces encoded protocol ops; the server frames and sends them. Attribute selection is in ``selection``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from array import array
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from directory.ldap import controlvalues as cv
from directory.ldap import messages as m
from directory.ldap import schema
from directory.ldap.backend import DirectoryIndex
from directory.ldap.ber import BerError
from directory.ldap.dn import DnError, normalize_dn
from directory.ldap.filters import compile_filter, prepare, prepare_entry
from directory.ldap.pacing import run
from directory.ldap.paging import PagedResults, PagedSet
from directory.ldap.query import evaluate_steps
from directory.ldap.selection import SUBSCHEMA_DN, SUPPORTED_CONTROLS, Selection, root_dse

__all__ = ["Limits", "Outcome", "SearchError", "Searcher", "Selection"]
T = TypeVar("T")
SORT_CHUNK = 2048  # entries whose sort keys are read between looks at the clock
_GONE = "分页结果已过期或无效，请重新查询 (paged results cookie unknown, expired or dropped; start the search again)"
Steps = Generator[None, None, "Outcome"]


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
class Search:
    """One search under way: its request and what was worked out from it."""

    req: m.SearchRequest
    index: DirectoryIndex
    sel: Selection
    base: int
    deadline: float
    size: int
    wanted: dict[str, m.Control]
    owner: object


def _never() -> bool:
    return False


def _late(paged: bool = False) -> Outcome:
    out = Outcome(code=m.TIME_LIMIT, text="超出时间限制 (time limit exceeded)")
    if paged:
        out.controls.append(cv.paged_control(0, b""))
    return out


# -- the search operation ------------------------------------------------------------------------------------------


@dataclass
class Searcher:
    """Answers searches against whichever index ``current`` returns (the Snapshot of the moment)."""

    current: Callable[[], DirectoryIndex]
    limits: Limits
    tls_available: bool = False
    clock: Callable[[], float] = time.monotonic
    paged: PagedResults = field(default_factory=lambda: PagedResults(16 << 20, 8, 300.0))
    due: Callable[[], bool] = _never  # the event loop wants a turn (see ``pacing``)
    # The index a connection (``owner``) may see (mobiles masked per its bind, see ``masking``); None: ``current``.
    index_of: Callable[[object], DirectoryIndex] | None = None

    def _index(self, owner: object) -> DirectoryIndex:
        return self.index_of(owner) if self.index_of is not None else self.current()

    def search(self, req: m.SearchRequest, controls: tuple[m.Control, ...], owner: object = None) -> Outcome:
        """Run a search to its end in one go; ``owner`` (the connection) holds its paged result sets."""
        return run(self.steps(req, controls, owner))

    def steps(self, req: m.SearchRequest, controls: tuple[m.Control, ...], owner: object) -> Steps:
        try:
            return (yield from self._search(req, controls, owner))
        except SearchError as exc:
            out = Outcome(code=exc.code, text=exc.text, matched=exc.matched)
            if any(c.oid == m.OID_PAGED for c in controls):
                out.controls.append(cv.paged_control(0, b""))
            return out

    def _search(self, req: m.SearchRequest, controls: tuple[m.Control, ...], owner: object) -> Steps:
        wanted = _controls(controls)
        sel = Selection.of(req.attributes, req.types_only)
        special = self._special(req, sel)
        if special is not None:
            return special
        index = self._index(owner)
        base = self._base(index, req.base)
        limits = [t for t in (req.time_limit, self.limits.time_limit) if t > 0]
        deadline = self.clock() + min(limits) if limits else float("inf")
        sizes = [n for n in (req.size_limit, self.limits.size_limit) if n > 0]
        size = min(sizes) if sizes else len(index.entries)
        s = Search(req, index, sel, base, deadline, size, wanted, owner)
        if not wanted:
            ids, more, late = yield from self._evaluate(s, index, base, size)
            return (yield from self._done(s, ids, more, late))
        if m.OID_PAGED in wanted:
            return (yield from self._paged(s))
        ids, _, late = yield from self._evaluate(s, index, base, len(index.entries))
        if late:
            return _late()
        return (yield from self._sorted_view(s, ids))

    def _evaluate(
        self, s: Search, index: DirectoryIndex, base: int, limit: int, start: int = 0
    ) -> Generator[None, None, tuple[list[int], bool, bool]]:
        return (
            yield from evaluate_steps(
                index, base, s.req.scope, s.req.filter, None, limit, s.deadline, self.clock, start=start, due=self.due
            )
        )

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

    def _done(
        self, s: Search, ids: Sequence[int], more: bool, late: bool, index: DirectoryIndex | None = None
    ) -> Steps:
        out = Outcome((yield from s.sel.encode_steps(index or s.index, ids, self.due)))
        if late:
            out.code, out.text = m.TIME_LIMIT, "超出时间限制 (time limit exceeded)"
        elif more:
            out.code, out.text = m.SIZE_LIMIT, f"超出条目数限制 (size limit exceeded): {len(ids)}"
        return out

    # -- sort and VLV ----------------------------------------------------------------------------------------------

    def _sort(
        self, s: Search, index: DirectoryIndex, ids: list[int], keys: tuple[cv.SortKey, ...]
    ) -> Generator[None, None, list[int]]:
        """``ids`` ordered by the sort keys, stable, one key at a time from the last. Each key is sorted in runs of
        ``SORT_CHUNK`` entries that are then merged, with a look at the clock between pieces: sorting ~30,000 entries
        in one call held the event loop for up to 160 ms."""
        types = [schema.lookup(k.attr) for k in keys]
        for k, at in zip(keys, types, strict=True):
            if at is None:
                raise SearchError(m.UNWILLING_TO_PERFORM, f"无法按未知属性排序 (cannot sort by) {k.attr}")
        ordered = list(ids)
        for k, at in reversed(list(zip(keys, types, strict=True))):
            assert at is not None
            by_id: dict[int, tuple[int, str]] = {}
            runs: list[list[int]] = []
            for n in range(0, len(ordered), SORT_CHUNK):
                chunk = ordered[n : n + SORT_CHUNK]
                by_id.update(zip(chunk, [index.sort_key(i, at.key) for i in chunk], strict=True))
                chunk.sort(key=by_id.__getitem__, reverse=k.reverse)
                runs.append(chunk)
                yield from self._checkpoint(s)
            ordered = yield from self._merge(s, runs, by_id.__getitem__, k.reverse)
        return ordered

    def _merge(
        self, s: Search, runs: list[list[int]], key: Callable[[int], tuple[int, str]], reverse: bool
    ) -> Generator[None, None, list[int]]:
        """The sorted ``runs`` as one list; ties keep the order of the runs, so the sort stays stable."""
        if len(runs) <= 1:
            return runs[0] if runs else []
        merged = heapq.merge(*runs, key=key, reverse=reverse)
        out: list[int] = []
        while True:
            piece = list(itertools.islice(merged, SORT_CHUNK))
            out += piece
            if len(piece) < SORT_CHUNK:
                return out
            yield from self._checkpoint(s)

    def _checkpoint(self, s: Search) -> Generator[None, None, None]:
        """Give the loop its turn when this search's slice is used up; stop at the time limit."""
        if self.due():
            yield
        if self.clock() > s.deadline:
            raise _TimeUp

    def _sorted_view(self, s: Search, ids: list[int]) -> Steps:
        sort = s.wanted[m.OID_SORT_REQ]
        keys = _decode(cv.decode_sort, sort)
        try:
            ordered = yield from self._sort(s, s.index, ids, keys)
        except _TimeUp:
            return _late()
        except SearchError as exc:
            if sort.critical:
                raise
            ordered, sort_code = ids, exc.code
        else:
            sort_code = m.SUCCESS
        sort_ctl = cv.sort_control(sort_code)
        if m.OID_VLV_REQ in s.wanted:
            return (
                yield from self._vlv(s, ordered, _decode(cv.decode_vlv, s.wanted[m.OID_VLV_REQ]), keys[0], sort_ctl)
            )
        out = yield from self._done(s, ordered[: s.size], len(ordered) > s.size, False)
        out.controls.append(sort_ctl)
        return out

    def _vlv(self, s: Search, ordered: list[int], vlv: cv.VlvRequest, key: cv.SortKey, sort_ctl: bytes) -> Steps:
        count = len(ordered)
        if vlv.offset is not None:
            if vlv.offset < 1:
                out = Outcome(code=m.OFFSET_RANGE_ERROR, text="VLV 偏移量必须从 1 开始 (offset must be ≥ 1)")
                out.controls += [sort_ctl, cv.vlv_control(0, count, m.OFFSET_RANGE_ERROR, vlv.context)]
                return out
            target = vlv.offset if vlv.content_count == 0 else round(vlv.offset * count / max(vlv.content_count, 1))
            target = max(1, min(target, count + 1 if count else 1))
        else:
            target = yield from self._vlv_target(s, ordered, vlv, key)
        first = max(0, target - 1 - vlv.before)
        window = ordered[first : min(count, target + vlv.after)][: max(s.size, 1)]
        out = Outcome((yield from s.sel.encode_steps(s.index, window, self.due)))
        out.controls += [sort_ctl, cv.vlv_control(target, count, m.SUCCESS, vlv.context)]
        return out

    def _vlv_target(
        self, s: Search, ordered: list[int], vlv: cv.VlvRequest, key: cv.SortKey
    ) -> Generator[None, None, int]:
        """The 1-based position of the first entry whose sort key is at least the VLV assertion value."""
        at = schema.lookup(key.attr)
        wanted = (0, prepare(at.kind, vlv.value or "") if at else "")
        attr = at.key if at else ""
        for n in range(0, len(ordered), SORT_CHUNK):
            for j, i in enumerate(ordered[n : n + SORT_CHUNK], n + 1):
                if s.index.sort_key(i, attr) >= wanted:
                    return j
            if self.due():
                yield
        return len(ordered) + 1

    # -- paged results ---------------------------------------------------------------------------------------------

    def _paged(self, s: Search) -> Steps:
        page_size, cookie = _decode(cv.decode_paged, s.wanted[m.OID_PAGED])
        sort = s.wanted.get(m.OID_SORT_REQ)
        req = s.req
        key = hash((req.base, req.scope, req.filter, req.attributes, req.types_only, sort and sort.value))
        first: list[int] | None = None
        if cookie:
            state = self.paged.take(s.owner, cookie)
            if state is None or state.key != key:
                raise SearchError(m.UNWILLING_TO_PERFORM, _GONE)
        else:
            if page_size <= 0:
                return Outcome(controls=[cv.paged_control(0, b"")])
            first, _, late = yield from self._evaluate(s, s.index, s.base, len(s.index.entries))
            if late:
                return _late(paged=True)
            state = PagedSet(s.owner, key, s.index, s.base, len(first))
            if sort is not None:
                try:
                    state.ordered = array(
                        "I", (yield from self._sort(s, s.index, first, _decode(cv.decode_sort, sort)))
                    )
                except _TimeUp:
                    return _late(paged=True)
        if page_size <= 0:  # the client abandons the paged search (RFC 2696 §3)
            return Outcome(controls=[cv.paged_control(0, b"")])
        return (yield from self._next_page(s, state, first, min(page_size, self.limits.size_limit or page_size)))

    def _next_page(self, s: Search, state: PagedSet, first: list[int] | None, page_limit: int) -> Steps:
        total_limit = s.req.size_limit
        start = state.sent
        stop = min(start + page_limit, state.total)
        if total_limit:
            stop = min(stop, total_limit)
        ids: Sequence[int]
        if state.ordered is not None:
            ids = state.ordered[start:stop]
        elif first is not None:
            ids = first[start:stop]
        else:  # DIT order: this page evaluated again from where the last one ended, over the same index
            ids, _, late = yield from self._evaluate(s, state.index, state.base, stop - start, state.resume)
            if late:
                return _late(paged=True)
            if len(ids) < stop - start:  # cannot happen over the same index; never promise more than there is
                stop = state.total = start + len(ids)
        if ids and state.ordered is None:
            state.resume = ids[-1] + 1
        out = yield from self._done(s, ids, False, False, state.index)
        state.sent = stop
        if total_limit and stop >= total_limit and state.total > total_limit:
            out.code, out.text = m.SIZE_LIMIT, f"超出条目数限制 (size limit exceeded): {total_limit}"
            out.controls.append(cv.paged_control(0, b""))
            return out
        cookie = self.paged.put(state) if stop < state.total else b""
        out.controls.append(cv.paged_control(state.total, cookie))
        return out

    def compare(self, req: m.CompareRequest, owner: object = None) -> tuple[int, str, str]:
        index = self._index(owner)
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


class _TimeUp(Exception):
    """The time limit passed while sorting."""


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
