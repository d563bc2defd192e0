"""Prometheus-style request metrics of the web face.

Owns: counting requests by route and status, a latency histogram per route, and the ``/metrics`` text (format
0.0.4) which adds the Snapshot's size and generation. Routes are the registered patterns (``/office/{code}``), not
raw paths, so the label set stays bounded; unmatched paths count under ``unmatched``.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: defaultdict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: defaultdict[str, float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        self.buckets[route][bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[route] += seconds

    def render(self, extra: dict[str, float]) -> str:
        out = [
            "# HELP bohai_http_requests_total HTTP requests by method, route and status.",
            "# TYPE bohai_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            out.append(f'bohai_http_requests_total{{method="{method}",route="{_label(route)}",status="{status}"}} {n}')
        out += [
            "# HELP bohai_http_request_seconds Request latency by route.",
            "# TYPE bohai_http_request_seconds histogram",
        ]
        for route, counts in sorted(self.buckets.items()):
            label = _label(route)
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(f'bohai_http_request_seconds_bucket{{route="{label}",le="{le}"}} {running}')
            out.append(f'bohai_http_request_seconds_sum{{route="{label}"}} {self.sums[route]:.6f}')
            out.append(f'bohai_http_request_seconds_count{{route="{label}"}} {running}')
        for name, value in extra.items():
            out += [f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(out) + "\n"


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def route_of(request: web.Request) -> str:
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return "unmatched"
    return info.route.resource.canonical


def middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe(request.method, route_of(request), status, time.perf_counter() - start)

    return measure
