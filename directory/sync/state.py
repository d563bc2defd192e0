"""Each publish target's and pull source's state, kept in the directory's ``meta`` table (one JSON value each).

Owns: the last generation a target was published at (an incremental run plans from the change log after it), when
its last full reconciliation ran, a fingerprint of the options that decide where entries go (a change forces a full
run), and the last result — time, counts, error — that the dashboard and ``/metrics`` show.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from directory.store import Store

PREFIXES = ("publish:", "pull:")


@dataclass(frozen=True)
class Result:
    """One run: when it ended, what it did (or would do, in a dry run) and the error that stopped it, if any."""

    at: str
    full: bool = False
    dry_run: bool = False
    added: int = 0
    modified: int = 0
    deleted: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class State:
    last_gen: int | None = None  # the generation of the last successful run
    last_full_at: str = ""
    fingerprint: str = ""
    last: Result | None = None


def key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def load(store: Store, kind: str, name: str) -> State:
    raw = store.get_meta(key(kind, name))
    return decode(raw) if raw else State()


def decode(raw: str) -> State:
    data = json.loads(raw)
    last = Result(**data["last"]) if data.get("last") else None
    return State(data.get("last_gen"), data.get("last_full_at", ""), data.get("fingerprint", ""), last)


def save(store: Store, kind: str, name: str, state: State) -> None:
    store.set_meta(key(kind, name), json.dumps(dataclasses.asdict(state), ensure_ascii=False))


def all_states(store: Store) -> dict[str, State]:
    """Every target's state by ``kind:name`` (for the dashboard and ``/metrics``)."""
    out: dict[str, State] = {}
    for prefix in PREFIXES:
        for k, raw in sorted(store.meta_with_prefix(prefix).items()):
            out[k] = decode(raw)
    return out


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


GAUGES = (
    ("bohai_sync_last_run_timestamp_seconds", "End of the last run (Unix time)."),
    ("bohai_sync_last_run_ok", "1 if the last run succeeded, 0 if it failed."),
    ("bohai_sync_last_run_added", "Entries (publish) or offices (pull) added by the last run."),
    ("bohai_sync_last_run_modified", "Entries or offices modified by the last run."),
    ("bohai_sync_last_run_deleted", "Entries or offices deleted by the last run."),
    ("bohai_sync_generation", "The directory generation the last successful publish reached."),
)


def metrics_text(states: dict[str, State]) -> str:
    """The last run of every publish target and pull source as Prometheus gauges (``kind``, ``target`` labels)."""
    out: list[str] = []
    for name, help_text in GAUGES:
        rows = [(k, v) for k, s in states.items() if (v := _gauge(name, s)) is not None]
        if rows:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            out += [f'{name}{{kind="{k.split(":", 1)[0]}",target="{k.split(":", 1)[1]}"}} {v:g}' for k, v in rows]
    return "\n".join(out) + "\n" if out else ""


def _gauge(name: str, state: State) -> float | None:
    last = state.last
    if name == "bohai_sync_generation":
        return float(state.last_gen) if state.last_gen is not None else None
    if last is None:
        return None
    values = {
        "bohai_sync_last_run_timestamp_seconds": dt.datetime.fromisoformat(last.at).timestamp(),
        "bohai_sync_last_run_ok": 1.0 if last.ok else 0.0,
        "bohai_sync_last_run_added": float(last.added),
        "bohai_sync_last_run_modified": float(last.modified),
        "bohai_sync_last_run_deleted": float(last.deleted),
    }
    return values[name]
