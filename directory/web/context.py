"""The shared state of the web face's aiohttp app: ``WebContext`` and the typed app keys every handler reads.

Owns: what the app is built from (settings, store, Snapshot holder) under ``CTX``, the request metrics under
``METRICS``, the health checks of background workers under ``HEALTH``, and the ``Extension`` type. Handler modules
(``pages``, ``api``, ``imports``) and upper layers import these from here, and ``app`` assembles the app from those
modules, so that no handler module needs to import ``app``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from directory.readlimits import ReadBudget
from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.web import metrics


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    store: Store
    holder: SnapshotHolder


CTX = web.AppKey("ctx", WebContext)
METRICS = web.AppKey("metrics", metrics.Metrics)
READS = web.AppKey("reads", ReadBudget)  # the scraping limit of the API, exports and CardDAV (``readlimits``)
# Upper layers (liaison) plug their pages, routes and health checks in through extensions, called once each by
# ``make_app`` after the web face's own routes.
Extension = Callable[[web.Application], None]
# Health of background workers other layers run (liaison: the outbox worker): name -> () -> {"ok": bool, ...};
# extensions add theirs, ``/healthz`` shows each and is ok (200) only if every one is (else 503).
HealthCheck = Callable[[], dict[str, object]]
HEALTH = web.AppKey("health", dict[str, HealthCheck])
