"""The reads of the JSON API under ``/api/v1``.

Owns: the read API for scripts and the search page's live results — search, regions, offices, an office's history,
export of a region's subtree (JSON or vCard) — and serves ``/api/v1/openapi.json`` (``web.openapi``); per Snapshot,
the search responses already sent (``SearchCache``) and the offices' encoded JSON (``OfficeJson``, each on first
use), so answering a new search is ranking plus a join of bytes; the ETag of an office. Reading follows ``[web]
anonymous_read``; scripts authenticate with ``Authorization: Bearer <token>`` (``bohai user token add``); writes are
``web.writes``. Every error has the shape ``{ok: false, error, errors, status}`` (mapped once in ``app.py``);
successes carry ``ok: true``. Editors' user names (an office's ``updated_by``, the ``actor`` of history rows) are
given to logged-in staff only; anonymous readers get null.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from typing import Any

from aiohttp import web

from directory import clock, quality
from directory.errors import FieldError, NotFound, ValidationFailed
from directory.exchange.export import Watermark
from directory.exchange.export import render as render_export
from directory.privacy import EVERYTHING, Viewer, hider, office_for, shown_phone, viewer_of
from directory.search import MAX_TERMS, OWN_EXACT, index, office_public
from directory.snapshot import OfficeView, RegionView, Snapshot
from directory.validate import display_phone
from directory.web import openapi
from directory.web.auth import current_user, require_user
from directory.web.context import CTX
from directory.web.reads import charge_reads, check_reads

MAX_PAGE = 1000
EXPORT_FORMATS = ("json", "vcard")


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    body = json.dumps({"ok": True, **data}, ensure_ascii=False, default=str, separators=(",", ":"))
    return web.Response(text=body, status=status, content_type="application/json")


def etag(version: int) -> str:
    """An office's ETag: its version, which every edit raises (the precondition of a write, ``web.writes``)."""
    return f'"v{version}"'


def _snap(request: web.Request) -> Snapshot:
    return request.app[CTX].holder.current


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationFailed(
            [FieldError(name, f"应为 {low} 到 {high} 之间的整数", value=raw[:40])], f"参数 {name} 不正确"
        )
    return value


def _region(snap: Snapshot, code: str) -> RegionView:
    region = snap.region(code)
    if region is None:
        raise NotFound(f"区划代码 {code} 不存在")
    return region


def region_json(region: RegionView, snap: Snapshot) -> dict[str, Any]:
    return {
        "code": region.code,
        "name": region.name,
        "level": region.level,
        "parent_code": region.parent_code,
        "path": list(region.path),
        "has_office": region.code in snap.offices,
    }


def office_json(office: OfficeView, region: RegionView, domain: str, *, staff: bool = False) -> dict[str, Any]:
    """An office for the API; ``updated_by`` (an editor's user name) is given to logged-in staff only, else null."""
    return {
        **office_public(office, region),
        "routing_address": office.routing_address(domain),
        "email_status": office.email_status,
        "verified_at": office.verified_at.isoformat() if office.verified_at else None,
        "verified_by": office.verified_by,
        "updated_at": office.updated_at.isoformat(),
        "updated_by": office.updated_by if staff else None,
        "contacts": [
            {
                "name": c.name,
                "position": c.position,
                "phone": display_phone(c.phone),
                "email": c.email,
            }
            for c in office.contacts
        ],
    }


class SearchCache:
    """Encoded search responses of one Snapshot (a new Snapshot starts empty, so edits show at once).

    Typing produces the same prefixes from many staff; a hit skips ranking and JSON encoding. An LRU bounded by
    entries and by bytes (a response of 50 hits is ~30 KB, so 4,096 of them would be 120 MB).
    """

    def __init__(self, size: int = 4096, max_bytes: int = 8 << 20) -> None:
        self.size, self.max_bytes = size, max_bytes
        self.bytes = 0
        self.entries: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()

    def get(self, key: tuple[str, int, str]) -> bytes | None:
        body = self.entries.get(key)
        if body is not None:
            self.entries.move_to_end(key)
        return body

    def put(self, key: tuple[str, int, str], body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        old = self.entries.pop(key, None)
        self.bytes += len(body) - (len(old) if old is not None else 0)
        self.entries[key] = body
        while len(self.entries) > self.size or self.bytes > self.max_bytes:
            self.bytes -= len(self.entries.popitem(last=False)[1])


class OfficeJson:
    """One Snapshot's offices encoded as JSON without the opening brace, by region code, each on first use: the
    encodings a service answering only LDAP or a few searches never needs cost it no memory. An office that is the
    very same OfficeView object as in the previous Snapshot takes that Snapshot's encoding (one generation back
    only, so old Snapshots are not kept alive through a chain)."""

    __slots__ = ("_done", "_offices", "_previous", "_regions")

    def __init__(self, snap: Snapshot, previous: OfficeJson | None = None) -> None:
        self._offices, self._regions = snap.offices, snap.regions
        self._done: dict[str, bytes] = {}
        self._previous = (previous._offices, previous._done) if previous is not None else None

    def __getitem__(self, code: str) -> bytes:
        encoded = self._done.get(code)
        if encoded is None:
            office = self._offices[code]
            if self._previous is not None and self._previous[0].get(code) is office:
                encoded = self._previous[1].get(code)
            if encoded is None:
                encoded = _office_bytes(office, self._regions[code])
            self._done[code] = encoded
        return encoded


class OfficeJsonIndexer:
    """A Snapshot builder (registered as ``web.office_json``): each Snapshot's ``OfficeJson``, linked to the
    previous one so that unchanged offices are not encoded again."""

    def __init__(self) -> None:
        self._previous: OfficeJson | None = None
        self._lock = threading.Lock()

    def __call__(self, snap: Snapshot) -> OfficeJson:
        with self._lock:
            self._previous = OfficeJson(snap, self._previous)
            return self._previous


def _office_bytes(office: OfficeView, region: RegionView) -> bytes:
    text = json.dumps(office_public(office, region), ensure_ascii=False, separators=(",", ":"))
    return text[1:].encode()


_SCORE_HEADS = [b'{"score":%d,' % score for score in range(OWN_EXACT * MAX_TERMS + 1)]  # the highest score
_string = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept (the C encoder when available)


def search_body(snap: Snapshot, q: str, limit: int, viewer: Viewer = EVERYTHING) -> bytes:
    """The JSON answer to one search, from the Snapshot's response cache or ``search_json`` (per viewer class)."""
    cache: SearchCache = snap.derived("web.search_cache", lambda s: SearchCache())
    key = (q, limit, viewer.key)
    body = cache.get(key)
    if body is None:
        body = search_json(snap, q, limit, viewer)
        cache.put(key, body)
    return body


def search_json(snap: Snapshot, q: str, limit: int, viewer: Viewer = EVERYTHING) -> bytes:
    """Ranked by the search index, hits joined from the pre-encoded offices: the bytes json.dumps(...,
    ensure_ascii=False, separators=(",", ":")) would write for ok, query, terms, total and hits (each hit its score,
    then ``office_public``). Offices with a number masked for ``viewer`` are encoded as they see them, and the
    hidden digits find nothing."""
    found = index(snap)
    terms, ranked, total = found.rank(q, limit, None if viewer.everything else hider(found.offices, snap, viewer))
    encoded: OfficeJson = snap.derived("web.office_json", OfficeJson)
    codes = found.codes

    def one(i: int) -> bytes:
        code = codes[i]
        whole = snap.offices[code]
        shown = office_for(whole, viewer)
        return encoded[code] if shown is whole else _office_bytes(shown, snap.regions[code])

    head = f'{{"ok":true,"query":{_string(q)},"terms":[{",".join(map(_string, terms))}],"total":{total},"hits":['
    hits = b",".join(_SCORE_HEADS[score] + one(i) for i, score in ranked)
    return b"%s%s]}" % (head.encode(), hits)


async def api_search(request: web.Request) -> web.Response:
    limit_max = request.app[CTX].settings.web.search_limit
    q = request.query.get("q", "")
    if len(q) > 200:
        raise ValidationFailed([FieldError("q", "查询词过长（最多200个字符）")], "参数 q 不正确")
    limit = _int(request, "limit", min(20, limit_max), 1, limit_max)
    reader = check_reads(request)
    body = search_body(_snap(request), q, limit, viewer_of(current_user(request)))
    charge_reads(request, reader, body.count(b'{"score":'))  # one per hit ("{" cannot start a JSON string's text)
    return web.Response(body=body, content_type="application/json")


async def api_regions(request: web.Request) -> web.Response:
    snap = _snap(request)
    provinces = sorted(snap.provinces(), key=lambda r: r.code)
    return _json({"regions": [region_json(r, snap) for r in provinces]})


async def api_region(request: web.Request) -> web.Response:
    snap = _snap(request)
    region = _region(snap, request.match_info["code"])
    counts = quality.subtree_counts(snap, clock.today())[region.code]
    children = [region_json(snap.regions[c], snap) for c in region.children if c in snap.regions]
    return _json({"region": region_json(region, snap), "children": children, "quality": vars(counts)})


def _subtree_offices(snap: Snapshot, code: str) -> list[tuple[OfficeView, RegionView]]:
    out = []
    for region in snap.descendants(code):
        office = snap.offices.get(region.code)
        if office is not None:
            out.append((office, region))
    return out


async def api_offices(request: web.Request) -> web.Response:
    snap = _snap(request)
    code = request.query.get("region", "")
    if not code:
        raise ValidationFailed([FieldError("region", "缺少参数 region（12位区划代码）")], "参数 region 不正确")
    _region(snap, code)
    limit = _int(request, "limit", 100, 1, MAX_PAGE)
    offset = _int(request, "offset", 0, 0, 10_000_000)
    reader = check_reads(request)
    found = _subtree_offices(snap, code)
    domain = request.app[CTX].settings.routing_domain
    user = current_user(request)
    viewer = viewer_of(user)
    page = [
        office_json(office_for(o, viewer), r, domain, staff=user is not None) for o, r in found[offset : offset + limit]
    ]
    charge_reads(request, reader, len(page))
    return _json({"region": code, "total": len(found), "offset": offset, "offices": page})


async def api_office(request: web.Request) -> web.Response:
    snap = _snap(request)
    code = request.match_info["code"]
    region = _region(snap, code)
    user = current_user(request)
    charge_reads(request, check_reads(request), 1)
    office = snap.office(code)
    if office is None:
        raise NotFound(f"{region.path_text} 没有单位记录")
    office = office_for(office, viewer_of(user))
    domain = request.app[CTX].settings.routing_domain
    response = _json({"office": office_json(office, region, domain, staff=user is not None)})
    response.headers["ETag"] = etag(office.version)
    return response


async def api_history(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    snap = _snap(request)
    _region(snap, code)
    store = request.app[CTX].store
    rows = await store.run(store.history, "office", code)
    user = current_user(request)
    if user is None:  # who changed what is for staff only
        rows = [{**row, "actor": None} for row in rows]
    office = snap.office(code)
    public = bool(office and office.phone_public)
    rows = [_masked_history(row, code, public, viewer_of(user)) for row in rows]
    return _json({"region_code": code, "history": rows})


def _masked_history(row: dict[str, Any], code: str, public: bool, viewer: Viewer) -> dict[str, Any]:
    """An audit row with its old and new phone numbers as ``viewer`` may see them."""
    out = dict(row)
    for side in ("before", "after"):
        values = row.get(side)
        if isinstance(values, dict) and isinstance(values.get("phone"), str):
            out[side] = {**values, "phone": shown_phone(values["phone"], code, public, viewer)}
    return out


async def api_export(request: web.Request) -> web.Response:
    snap = _snap(request)
    code = request.query.get("region", "")
    fmt = request.query.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(
            [FieldError("format", f"支持的格式：{'、'.join(EXPORT_FORMATS)}", value=fmt[:20])], "参数 format 不正确"
        )
    user = require_user(request)  # bulk exports are accountable: never anonymous
    region = _region(snap, code)
    viewer = viewer_of(user)
    reader = check_reads(request)
    found = [(office_for(o, viewer), r) for o, r in _subtree_offices(snap, region.code)]
    charge_reads(request, reader, len(found))
    mark = Watermark(user.actor, clock.now())
    store = request.app[CTX].store
    name = mark.filename(region.code, "vcard") if fmt == "vcard" else mark.filename(region.code, "csv")[:-4] + ".json"
    await store.run(store.record_export, user.actor, region.code, fmt, name, viewer.key)
    if fmt == "vcard":
        body = render_export(snap, "vcard", root=region.code, viewer=viewer, watermark=mark)
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return web.Response(body=body, content_type="text/vcard", charset="utf-8", headers=headers)
    domain = request.app[CTX].settings.routing_domain
    offices = [office_json(o, r, domain, staff=True) for o, r in found]
    exported = {"by": user.actor, "at": mark.at.isoformat()}
    return _json({"region": region_json(region, snap), "offices": offices, "exported": exported})


async def api_me(request: web.Request) -> web.Response:
    user = current_user(request)
    if user is None:
        return _json({"user": None})
    return _json({"user": {"username": user.username, "role": user.role, "province_code": user.province_code}})


async def _register_office_json(app: web.Application) -> None:
    await asyncio.to_thread(app[CTX].holder.register, "web.office_json", OfficeJsonIndexer())


def setup(app: web.Application) -> None:
    app.on_startup.append(_register_office_json)
    r = app.router
    r.add_get("/api/v1/search", api_search)
    r.add_get("/api/v1/regions", api_regions)
    r.add_get("/api/v1/regions/{code:\\d{12}}", api_region)
    r.add_get("/api/v1/offices", api_offices)
    r.add_get("/api/v1/offices/{code:\\d{12}}", api_office)
    r.add_get("/api/v1/offices/{code:\\d{12}}/history", api_history)
    r.add_get("/api/v1/export", api_export)
    r.add_get("/api/v1/me", api_me)
    r.add_get("/api/v1/openapi.json", openapi.document)
