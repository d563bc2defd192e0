"""The immutable in-memory read model of the directory.

Owns: ``Snapshot`` (regions with paths and children, offices with their contacts, the live aliases of retired region
codes, and derived indexes that faces register, e.g. search indexes or pre-encoded LDAP entries) and ``SnapshotHolder``,
which rebuilds the Snapshot when the store's change counter moves and swaps it in atomically. Readers never touch the
database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from directory import buildcaches, clock
from directory.startimage import Image, ImageFile, Stamp
from directory.store import ChangeListener, Store
from directory.validate import display_phone

log = logging.getLogger(__name__)
T = TypeVar("T")
Builder = Callable[["Snapshot"], Any]


def _by_fields(view: Any) -> tuple[type, tuple[Any, ...]]:
    """Pickled as the constructor's arguments: read back at several times the speed of the dataclass default (a
    Python-level ``__setstate__`` per object), which matters for a start-up image of 15,000 offices or more."""
    cls = type(view)
    return cls, tuple(getattr(view, name) for name in cls.__slots__)


@dataclass(frozen=True, slots=True)
class RegionView:
    code: str
    name: str
    level: str
    parent_code: str | None
    province_code: str
    path: tuple[str, ...]  # names from the province down to this region
    children: tuple[str, ...]

    @property
    def path_text(self) -> str:
        return " ".join(self.path)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True, slots=True)
class ContactView:
    id: int
    name: str
    position: str
    phone: str
    email: str
    demo: bool

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True, slots=True)
class OfficeView:
    id: int
    region_code: str
    unit_name: str
    contact_name: str
    position: str
    phone: str
    fax: str
    email: str
    address: str
    postal_code: str
    liaison: bool
    email_status: str
    email_status_note: str
    verified_at: dt.datetime | None
    demo: bool
    version: int
    updated_at: dt.datetime
    updated_by: str
    contacts: tuple[ContactView, ...] = ()
    verified_by: str = ""
    phone_public: bool = False  # its mobile is a public work number (see directory.privacy)

    @property
    def phone_display(self) -> str:
        return display_phone(self.phone)

    @property
    def fax_display(self) -> str:
        return display_phone(self.fax)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return _by_fields(self)

    def routing_address(self, domain: str) -> str:
        """The stable role address of this office: ``<region code>@<liaison domain>`` ("" without a domain)."""
        return f"{self.region_code}@{domain}" if domain else ""


@dataclass
class Snapshot:
    generation: int
    regions: Mapping[str, RegionView]
    offices: Mapping[str, OfficeView]  # by region code
    built_at: dt.datetime = field(default_factory=clock.now)
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # code → retired codes that lead to it

    def sharing(self, *keys: str) -> Snapshot:
        """A new Snapshot of the same data that carries this one's derived values for ``keys`` (immutable indexes,
        which are costly to build) and computes the others afresh (caches that fill as they are used)."""
        carried = {key: self._derived[key] for key in keys if key in self._derived}
        return Snapshot(self.generation, self.regions, self.offices, self.built_at, carried, aliases=self.aliases)

    def derived(self, key: str, builder: Callable[[Snapshot], T]) -> T:
        """A value computed once per Snapshot (indexes, encoded entries); registered builders run before swap."""
        try:
            return self._derived[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with self._lock:
            if key not in self._derived:
                self._derived[key] = builder(self)
            return self._derived[key]  # type: ignore[no-any-return]

    def region(self, code: str) -> RegionView | None:
        return self.regions.get(code)

    def office(self, code: str) -> OfficeView | None:
        return self.offices.get(code)

    def ancestors(self, code: str) -> list[RegionView]:
        """The region's ancestors from the province down, without the region itself."""
        out: list[RegionView] = []
        current = self.regions.get(code)
        while current is not None and current.parent_code:
            current = self.regions.get(current.parent_code)
            if current is not None:
                out.append(current)
        return out[::-1]

    def descendants(self, code: str) -> Iterator[RegionView]:
        """The region and everything below it, depth first."""
        stack = [code]
        while stack:
            region = self.regions.get(stack.pop())
            if region is None:
                continue
            yield region
            stack.extend(reversed(region.children))

    def provinces(self) -> list[RegionView]:
        return [r for r in self.regions.values() if r.level == "province"]

    def liaison_officer(self, province_code: str) -> OfficeView | None:
        prefix = province_code[:2]
        for office in self.offices.values():
            if office.liaison and office.region_code.startswith(prefix):
                return office
        return None


def build(
    regions: Sequence[Mapping[Any, Any]],
    offices: Sequence[Mapping[Any, Any]],
    contacts: Sequence[Mapping[Any, Any]],
    generation: int,
) -> Snapshot:
    shared: dict[object, Any] = {}
    share = shared.setdefault  # one object per equal string in the whole Snapshot (codes, levels, names …)
    children: dict[str, list[str]] = {}
    for r in regions:
        if r["parent_code"]:
            children.setdefault(r["parent_code"], []).append(share(r["code"], r["code"]))
    by_code = {r["code"]: r for r in regions}
    paths: dict[str, tuple[str, ...]] = {}
    for r in regions:  # sorted by code: parents come first
        parent = r["parent_code"]
        name = share(r["name"], r["name"])
        paths[r["code"]] = (*paths.get(parent, ()), name) if parent and parent in by_code else (name,)
    region_views = {}
    for r in regions:
        code = share(r["code"], r["code"])
        region_views[code] = RegionView(
            code,
            share(r["name"], r["name"]),
            share(r["level"], r["level"]),
            share(r["parent_code"], r["parent_code"]),
            share(r["province_code"], r["province_code"]),
            paths[code],
            tuple(children.get(code, ())),
        )
    return Snapshot(generation, region_views, _office_views(offices, contacts, shared))


def _office_views(
    offices: Sequence[Mapping[Any, Any]], contacts: Sequence[Mapping[Any, Any]], shared: dict[object, Any]
) -> dict[str, OfficeView]:
    """OfficeViews whose equal strings and timestamps are one object (``shared``): 15,000 offices repeat a few
    positions, statuses, postal codes and import times, and their region codes are the RegionViews' own."""
    share = shared.setdefault

    def value(v: Any) -> Any:
        return share(v, v) if isinstance(v, str | dt.datetime) else v

    by_office: dict[int, list[ContactView]] = {}
    for c in contacts:
        by_office.setdefault(c["office_id"], []).append(
            ContactView(c["id"], value(c["name"]), value(c["position"]), c["phone"], c["email"], c["demo"])
        )
    views = {}
    for o in offices:
        values = {k: value(o[k]) for k in OfficeView.__slots__ if k in o and k != "contacts"}
        views[values["region_code"]] = OfficeView(**values, contacts=tuple(by_office.get(o["id"], ())))
    return views


def patch(
    previous: Snapshot,
    offices: Sequence[Mapping[Any, Any]],
    contacts: Sequence[Mapping[Any, Any]],
    removed: Sequence[str],
    generation: int,
) -> Snapshot:
    """A new Snapshot sharing the previous one's regions and every unchanged OfficeView object (identity), so
    derived builders can tell what changed with ``is``; ``removed`` offices are dropped."""
    views = dict(previous.offices)
    for code in removed:
        views.pop(code, None)
    views.update(_office_views(offices, contacts, {code: code for code in previous.regions}))
    return Snapshot(generation, previous.regions, views, aliases=previous.aliases)


class SnapshotHolder:
    """Holds the current Snapshot; ``refresh`` rebuilds it when the store's generation moved."""

    def __init__(self, store: Store, current: Snapshot | None = None, image: ImageFile | None = None) -> None:
        """``current``: a Snapshot built earlier from the same data, taken instead of a full load when its generation
        is still the store's (another holder's, on a copy of this database made before any write). ``image``: the
        start-up image to read instead of building (when it matches; see ``directory.startimage``) and to save."""
        self.store = store
        self.image = image
        self.image_generation: int | None = None  # the generation of the Snapshot the image file holds, if known
        self._builders: dict[str, Builder] = {}
        self._carried: dict[str, tuple[str, Any, Snapshot]] = {}  # image values not yet taken by a builder
        self._refresh_lock = asyncio.Lock()
        self.changed = asyncio.Event()
        self.listener: ChangeListener | None = None  # set by watch()
        taken = self._take_image(image) if image is not None and current is None else None
        if current is not None and current.generation == store.generation():
            self.current = current
        elif taken is not None:
            self.current = taken
        else:
            self.current = self._load()
        self._settles = False

    def register(self, key: str, builder: Builder) -> None:
        """Have ``builder`` computed for every new Snapshot before it is swapped in (and now)."""
        self._builders[key] = builder
        adopt = getattr(builder, "adopt", None)
        carried = self._carried.pop(key, None)
        if carried is not None:
            signature, value, source = carried
            if signature == getattr(builder, "image_key", None) and adopt is not None:
                adopt(value, source)  # the current Snapshot (or the one it was patched from) already has it
            elif source is self.current:
                self.current._derived.pop(key, None)  # made by a builder of another configuration: build afresh
        value = self.current.derived(key, builder)
        buildcaches.release()  # what the build cached of every phone and name: not held into the next build
        # A builder that patches its previous result must start from the value it did not build itself (one the
        # Snapshot carried in), or its first patch would be a full build.
        if adopt is not None:
            adopt(value, self.current)

    def _take_image(self, image: ImageFile) -> Snapshot | None:
        """The image's Snapshot brought up to the store's generation, or None when it is not this data's."""
        store = self.store
        found = image.read(Stamp(store.data_epoch(), store.regions_generation()), store.generation())
        if found is None:
            return None
        saved = snap = Snapshot(found.generation, found.regions, found.offices, found.built_at)
        for key, (_, value) in found.derived.items():
            saved._derived[key] = value
        if snap.generation < store.generation():
            snap = patch(snap, *store.load_changes(snap.generation))
            checksum = (len(snap.offices), sum(o.version for o in snap.offices.values()))
        else:
            checksum = found.checksum
        if checksum != store.office_checksum():
            log.warning("start-up image %s not used: it does not hold the offices of the database", image.path)
            return None
        snap.aliases = store.live_aliases()
        self._carried = {key: (signature, value, saved) for key, (signature, value) in found.derived.items()}
        self.image_generation = saved.generation
        log.info("snapshot generation %d taken from the start-up image %s", snap.generation, image.path)
        return snap

    def save_image(self) -> bool:
        """Write the current Snapshot and its registered indexes to the image (blocking; run it off the event loop).
        False when there is no image or it already holds this generation."""
        snap = self.current
        if self.image is None or self.image_generation == snap.generation:
            return False
        signatures = {key: sig for key, b in self._builders.items() if (sig := getattr(b, "image_key", None))}
        stamp = Stamp(self.store.data_epoch(), self.store.regions_generation())
        if self.store.generation() != snap.generation or stamp.regions_generation > snap.generation:
            return False  # a change is on its way in: the next save takes it
        derived = {key: (sig, snap._derived[key]) for key, sig in signatures.items() if key in snap._derived}
        self.image.write(Image(snap.generation, snap.regions, snap.offices, snap.built_at, derived), stamp)
        self.image_generation = snap.generation
        log.info("start-up image %s saved at generation %d", self.image.path, snap.generation)
        return True

    def _load(self, previous: Snapshot | None = None) -> Snapshot:
        """A full load, or (given the current Snapshot) only the offices written since its generation."""
        if previous is None or self.store.regions_generation() > previous.generation:  # the tree itself changed
            snap = build(*self.store.load_all())
            snap.aliases = self.store.live_aliases()
        else:
            snap = patch(previous, *self.store.load_changes(previous.generation))
        for key, builder in self._builders.items():
            snap.derived(key, builder)
        return snap

    def settle_memory(self) -> None:
        """Keep the cyclic garbage collector off the Snapshot loaded at start-up (for a service).

        A Snapshot with its search and LDAP indexes is one to two million long-lived objects. Left in the collector's
        oldest generation, every full collection walks all of them: 150-300 ms with the event loop stopped, several
        times a minute under load (a spreadsheet upload, a flood of requests). So this collects once and freezes what
        is alive; full collections skip it from then on. Later Snapshots share most of their objects with this one
        (unchanged offices and index entries are reused), so little is left for the collector to walk. Frozen objects
        are still freed by reference counting once a swap drops them; the read model holds no reference cycles, so
        nothing of it leaks (``test_replaced_snapshots_are_freed``). Not redone at each swap: a full collection
        there would stop the loop for as long as the ones avoided.
        """
        if self.image_generation is None:  # built: the build's garbage goes first (an image read leaves none)
            gc.collect()
        gc.freeze()
        self._settles = True

    def unsettle_memory(self) -> None:
        """Hand everything frozen back to the collector (when the service stops, so that its cycles can go)."""
        if self._settles:
            self._settles = False
            gc.unfreeze()

    def refresh_sync(self) -> bool:
        """Blocking refresh (CLI use)."""
        if self.store.generation() == self.current.generation:
            return False
        self.current = self._load(self.current)
        return True

    async def refresh(self, *, force: bool = False) -> bool:
        """Rebuild off the event loop if the directory changed; True if a new Snapshot was swapped in."""
        async with self._refresh_lock:
            generation = await self.store.run(self.store.generation)
            if not force and generation == self.current.generation:
                return False
            snap = await asyncio.to_thread(self._load, None if force else self.current)
            self.current = snap
            self.changed.set()
            self.changed = asyncio.Event()
            log.info("snapshot generation %d: %d offices", snap.generation, len(snap.offices))
            return True

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Refresh on every change until ``stop`` is set: woken by PostgreSQL NOTIFY, else by polling the counter."""
        listener = self.listener = ChangeListener(self.store)
        listener.start()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                try:
                    await self.refresh()
                except Exception as exc:  # a lost database must not kill the watcher; readers keep the last one
                    log.warning("snapshot refresh failed: %s", exc)
                notified = asyncio.create_task(listener.wait(interval))
                await asyncio.wait({notified, stopping}, return_when=asyncio.FIRST_COMPLETED)
                notified.cancel()
        finally:
            stopping.cancel()
            await listener.aclose()
