"""One publish run: plan from our change log (or a full read of the target), check the gates, apply with ldap3.

Owns: which offices a target wants (its ``regions``), when a run must be full (first run, ``--full``, a changed
target, the daily reconciliation), reading only the entries a plan needs, the delete gates (``--no-delete``, and
``max_delete_share`` of our entries), applying in the order add → modify → delete, and recording the result.
The state moves on only after every operation succeeded, so what a failed run left undone is planned again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from directory import clock
from directory.dit import Entry
from directory.errors import SyncFailed
from directory.snapshot import Snapshot
from directory.store import Store
from directory.sync import state as st
from directory.sync.connect import Endpoint, Remote, RemoteEntry, connect
from directory.sync.plan import Plan, diff
from directory.sync.shapes import FLAVOURS, Flavour, entry
from directory.sync.targets import PublishTarget

log = logging.getLogger(__name__)
FULL_EVERY = dt.timedelta(days=1)
OR_CHUNK = 200  # region codes per search filter in an incremental read
Connect = Callable[[Endpoint, str], Remote]
Show = Callable[[Plan], None]


def _quiet(plan: Plan) -> None:
    """The default ``show``: nothing (the scheduler logs results instead)."""


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    no_delete: bool = False
    full: bool = False


@dataclass(frozen=True)
class Job:
    """A target and what it is published from: its name, options, our own base DN (the source key of AD entries)."""

    name: str
    target: PublishTarget
    source_base: str

    @property
    def flavour(self) -> Flavour:
        return FLAVOURS[self.target.flavour]

    def fingerprint(self) -> str:
        t = self.target
        return st.fingerprint(t.url, t.base_dn.lower(), t.flavour, sorted(t.regions), self.source_base.lower())


def run(
    store: Store, snap: Snapshot, job: Job, options: Options, *, opener: Connect = connect, show: Show = _quiet
) -> Plan:
    """Plan, ``show`` the plan, and (unless a dry run) apply; records the result. Raises ``SyncFailed`` with what
    was done."""
    previous = st.load(store, "publish", job.name)
    full = _is_full(previous, job, options)
    since = previous.last_gen or 0
    if not full and snap.generation < since:  # this instance's Snapshot has not caught up with the last run yet
        show(Plan())
        return Plan()
    changed, gen = ({}, snap.generation) if full else store.office_changes(since)
    reached = snap.generation if full else min(snap.generation, gen)
    try:
        plan = _plan_and_apply(snap, job, options, full, changed, opener, show)
    except SyncFailed as exc:
        _record(store, job, previous, None, st.Result(_now(), full, options.dry_run, error=str(exc)))
        raise
    if not options.dry_run:
        result = st.Result(_now(), full, False, len(plan.adds), len(plan.modifies), len(plan.deletes))
        _record(store, job, previous, (reached, full), result)
    return plan


def _plan_and_apply(
    snap: Snapshot,
    job: Job,
    options: Options,
    full: bool,
    changed: Mapping[str, bool],
    opener: Connect,
    show: Show,
) -> Plan:
    roots = _roots(job.target)
    codes = None if full else sorted(c for c in changed if in_scope(snap, c, roots))
    if codes == []:
        show(Plan())
        return Plan()
    remote = opener(job.target, f"publish.{job.name}")
    try:
        wanted = _wanted(snap, job, codes)
        plan = diff(job.flavour, wanted, _present(remote, job, codes), job.source_base)
        if options.no_delete:
            plan.held_back, plan.deletes = len(plan.deletes), []
        show(plan)
        _gate(remote, job, plan)
        if not options.dry_run:
            apply(remote, plan)
        return plan
    finally:
        remote.close()


def _is_full(previous: st.State, job: Job, options: Options) -> bool:
    if options.full or previous.last_gen is None or previous.fingerprint != job.fingerprint():
        return True
    last_full = dt.datetime.fromisoformat(previous.last_full_at) if previous.last_full_at else None
    return last_full is None or clock.now() - last_full >= FULL_EVERY


def in_scope(snap: Snapshot, code: str, roots: frozenset[str]) -> bool:
    """Whether the office of region ``code`` is published by a target limited to ``roots`` (empty: everything)."""
    if not roots:
        return True
    return code in roots or any(r.code in roots for r in snap.ancestors(code))


def _roots(target: PublishTarget) -> frozenset[str]:
    return frozenset(code.ljust(12, "0") for code in target.regions)


def _wanted(snap: Snapshot, job: Job, codes: Iterable[str] | None) -> dict[str, Entry]:
    roots = _roots(job.target)
    candidates = snap.offices.keys() if codes is None else [c for c in codes if c in snap.offices]
    return {
        code: entry(job.flavour, snap, snap.offices[code], job.target.base_dn, job.source_base)
        for code in candidates
        if in_scope(snap, code, roots)
    }


def _present(remote: Remote, job: Job, codes: list[str] | None) -> dict[str, tuple[str, RemoteEntry]]:
    """The target's entries under the base with our kind of RDN: all of them, or those of ``codes``."""
    flavour = job.flavour
    attributes = [*flavour.managed, flavour.marker_attr, "objectClass"]
    if codes is None:
        filters = ["(objectClass=*)"]
    else:
        filters = [
            "(|" + "".join(f"({flavour.rdn}={c})" for c in codes[i : i + OR_CHUNK]) + ")"
            for i in range(0, len(codes), OR_CHUNK)
        ]
    out: dict[str, tuple[str, RemoteEntry]] = {}
    for flt in filters:
        for dn, attrs in remote.read(job.target.base_dn, flt, attributes):
            code = flavour.key_of(dn)
            if code:
                out[code] = (dn, attrs)
    return out


def _gate(remote: Remote, job: Job, plan: Plan) -> None:
    """More deletes than ``max_delete_share`` of our entries at the target refuse the whole run."""
    if not plan.deletes:
        return
    owned = sum(1 for _ in remote.read(job.target.base_dn, job.flavour.owned_filter(), ["1.1"]))
    share = job.target.max_delete_share
    if len(plan.deletes) > share * owned:
        raise SyncFailed(
            f"publish.{job.name}：本次将删除 {len(plan.deletes)} 个条目，超过本服务在目标中现有 {owned} 个条目的 "
            f"{share:.0%}（max_delete_share）；未执行任何操作。"
            "核对无误后可调高 max_delete_share，或用 --no-delete 只新增和修改"
        )


def apply(remote: Remote, plan: Plan) -> None:
    """Add, then modify, then delete; the first failure stops the run, saying how far it got."""
    try:
        remote.add_many(plan.adds)
    except SyncFailed as exc:
        raise SyncFailed(f"{exc}（新增阶段中止，修改和删除未执行；下次运行将重新核对并补齐）") from None
    steps: list[Callable[[], None]] = [
        *(functools.partial(remote.modify, m.dn, m.changes) for m in plan.modifies),
        *(functools.partial(remote.delete, dn) for dn in plan.deletes),
    ]
    for done, step in enumerate(steps):
        try:
            step()
        except SyncFailed as exc:
            total = len(plan.adds) + len(steps)
            message = f"{exc}（共 {total} 项已完成 {len(plan.adds) + done} 项；下次运行将重新核对并补齐）"
            raise SyncFailed(message) from None


def _record(store: Store, job: Job, previous: st.State, reached: tuple[int, bool] | None, result: st.Result) -> None:
    """Keep the result; on success also the generation reached (and the time, for a full run)."""
    if result.dry_run:
        return
    new = dataclasses.replace(previous, last=result)
    if reached is not None:
        last_full_at = result.at if reached[1] else previous.last_full_at
        new = st.State(reached[0], last_full_at, job.fingerprint(), result)
    st.save(store, "publish", job.name, new)
    log.info("publish %s: %s", job.name, result)


def _now() -> str:
    return clock.now().isoformat()
