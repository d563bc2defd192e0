"""Server-rendered SVG pictures of how true the directory is: per province (or per city of one province) the share
of offices confirmed within 180 days, missing e-mail and bouncing mailboxes; a campaign's response over time; and a
schematic tile map of the ten regions (or of one province's cities) coloured by the share confirmed.

Owns: the figures (from the Snapshot via :mod:`directory.quality`, and a campaign's answer times) and their SVG
text. Pure: no I/O. The pictures are plain SVG with presentation attributes (no scripts, no styles, no external
references, so the page's Content-Security-Policy holds and they print in black and white: every bar and tile
carries its number as text); each page puts the same numbers in a table beside the picture. A tile map is a grid of
equal squares placed roughly where the regions lie — no boundaries are drawn: a map with administrative boundaries
needs an approval number (审图号) to be published.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

from directory import clock
from directory.quality import STALE_DAYS, subtree_counts
from directory.snapshot import Snapshot

# (column, row) of each province's tile: north-east China and the Bohai rim, schematically
PROVINCE_TILES = {
    "15": (1, 0), "23": (4, 0), "14": (1, 1), "11": (2, 1), "21": (3, 1),
    "22": (4, 1), "41": (1, 2), "13": (2, 2), "12": (3, 2), "37": (2, 3),
}  # fmt: skip
# light to dark: the darker, the more of the offices confirmed their entry within STALE_DAYS
PALETTE = ("#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d")
FONT = 'font-family="WenQuanYi Micro Hei, Microsoft YaHei, PingFang SC, sans-serif"'


@dataclass(frozen=True)
class Row:
    code: str
    name: str
    offices: int
    confirmed: int  # within STALE_DAYS
    no_email: int
    bouncing: int

    @property
    def confirmed_share(self) -> float:
        return self.confirmed / self.offices if self.offices else 0.0

    @property
    def no_email_share(self) -> float:
        return self.no_email / self.offices if self.offices else 0.0


def rows(snap: Snapshot, today: dt.date, parent: str = "") -> list[Row]:
    """The provinces (``parent`` empty) or the regions directly under ``parent``, with their subtree totals."""
    counts = subtree_counts(snap, today)
    regions = [r for r in snap.regions.values() if r.parent_code == parent] if parent else snap.provinces()
    out = []
    for r in sorted(regions, key=lambda r: r.code):
        c = counts[r.code]
        out.append(Row(r.code, r.name, c.offices, c.offices - c.stale, c.no_email, c.bouncing))
    return out


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def colour(share: float) -> str:
    return PALETTE[min(len(PALETTE) - 1, int(share * len(PALETTE)))]


def _svg(width: int, height: int, title: str, body: Iterable[str], ident: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="{ident}-t" {FONT} font-size="13">'
        f'<title id="{ident}-t">{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def bars(
    ident: str, title: str, data: Sequence[Row], value: Callable[[Row], float], label: Callable[[Row], str]
) -> str:
    """Horizontal bars, one per row, scaled to 100 % (``value`` is a share) with the label at the bar's end."""
    left, width, step = 120, 300, 26
    height = step * len(data) + 10
    parts = []
    for i, r in enumerate(data):
        y = 5 + i * step
        w = round(width * max(0.0, min(1.0, value(r))), 1)
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(r.name)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{width}" height="18" fill="#f0f4f8" stroke="#d9e2ec"/>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w}" height="18" fill="#2b8cbe"/>')
        parts.append(f'<text x="{left + width + 8}" y="{y + 16}">{escape(label(r))}</text>')
    return _svg(left + width + 110, height, title, parts, ident)


def tiles(ident: str, title: str, data: Sequence[Row], positions: dict[str, tuple[int, int]] | None = None) -> str:
    """A tile map: one square per region at ``positions`` (by code), else in code order in a near-square grid;
    each tile coloured by the share confirmed, with the name and the percentage written on it."""
    size, gap = 92, 6
    if positions is None:
        cols = max(1, math.ceil(math.sqrt(len(data))))
        positions = {r.code: (i % cols, i // cols) for i, r in enumerate(data)}
    width = (max((p[0] for p in positions.values()), default=0) + 1) * (size + gap) + gap
    height = (max((p[1] for p in positions.values()), default=0) + 1) * (size + gap) + gap
    parts = []
    for r in data:
        col, row = positions.get(r.code, positions.get(r.code[:2], (0, 0)))
        x, y = gap + col * (size + gap), gap + row * (size + gap)
        fill = colour(r.confirmed_share)
        ink = "#ffffff" if r.confirmed_share >= 0.6 else "#1f2933"
        name = r.name if len(r.name) <= 6 else r.name[:5] + "…"
        parts.append(
            f"<g><title>{escape(r.name)}：{percent(r.confirmed_share)}（{r.confirmed}/{r.offices}）</title>"
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="6" fill="{fill}" stroke="#52606d"/>'
            f'<text x="{x + size / 2}" y="{y + 40}" text-anchor="middle" fill="{ink}">{escape(name)}</text>'
            f'<text x="{x + size / 2}" y="{y + 64}" text-anchor="middle" font-size="17" font-weight="bold" '
            f'fill="{ink}">{percent(r.confirmed_share)}</text></g>'
        )
    legend_y = height + 4
    for i, c in enumerate(PALETTE):
        low, high = i * 100 // len(PALETTE), (i + 1) * 100 // len(PALETTE)
        x = gap + i * 70
        parts.append(f'<rect x="{x}" y="{legend_y}" width="16" height="16" fill="{c}" stroke="#52606d"/>')
        parts.append(f'<text x="{x + 20}" y="{legend_y + 13}" font-size="11">{low}–{high}%</text>')
    return _svg(max(width, gap + len(PALETTE) * 70), legend_y + 24, title, parts, ident)


@dataclass(frozen=True)
class Response:
    """A campaign's answers per day since it started: (Beijing date, answered that day, answered so far)."""

    title: str
    offices: int
    days: tuple[tuple[dt.date, int, int], ...]


def day_bounds(started: dt.date, until: dt.date) -> list[dt.datetime]:
    """The Beijing midnights from ``started`` to the day after ``until`` (at most 400 days), as aware UTC."""
    days = min(400, max(0, (until - started).days + 1))
    return [
        dt.datetime.combine(started + dt.timedelta(days=i), dt.time(0), tzinfo=clock.ZONE).astimezone(dt.UTC)
        for i in range(days + 1)
    ]


def response(title: str, offices: int, started: dt.date, per_day: Sequence[int]) -> Response:
    """The series from the answers of each day since ``started`` (see :func:`day_bounds`)."""
    days: list[tuple[dt.date, int, int]] = []
    total = 0
    for i, n in enumerate(per_day):
        total += n
        days.append((started + dt.timedelta(days=i), n, total))
    return Response(title, offices, tuple(days))


def response_chart(ident: str, r: Response) -> str:
    """The share of the campaign's offices that answered, day by day (a step line from 0 to 100 %)."""
    left, top, width, height = 50, 10, 420, 160
    n = max(1, len(r.days) - 1)
    parts = [
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#52606d"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#52606d"/>',
    ]
    for pct in (0, 50, 100):
        y = top + height - height * pct / 100
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" font-size="11">{pct}%</text>')
        parts.append(f'<line x1="{left}" y1="{y}" x2="{left + width}" y2="{y}" stroke="#d9e2ec"/>')
    points = []
    for i, (_, _, total) in enumerate(r.days):
        share = total / r.offices if r.offices else 0.0
        points.append(f"{left + width * i / n:.1f},{top + height - height * share:.1f}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#045a8d" stroke-width="2.5"/>')
    if r.days:
        first, last = r.days[0], r.days[-1]
        parts.append(f'<text x="{left}" y="{top + height + 16}" font-size="11">{clock.shown(first[0])}</text>')
        parts.append(
            f'<text x="{left + width}" y="{top + height + 16}" text-anchor="end" font-size="11">'
            f"{clock.shown(last[0])}：{percent(last[2] / r.offices if r.offices else 0)}</text>"
        )
    return _svg(left + width + 20, top + height + 26, r.title, parts, ident)


@dataclass(frozen=True)
class Pictures:
    """Everything one dashboard page shows: the SVG text of each picture and the rows of its table."""

    scope: str  # "" for the ten regions, else a province's code
    rows: tuple[Row, ...]
    confirmed_svg: str
    no_email_svg: str
    bouncing_svg: str
    tiles_svg: str
    response: Response | None
    response_svg: str


def pictures(snap: Snapshot, today: dt.date, scope: str = "", answers: Response | None = None) -> Pictures:
    data = rows(snap, today, scope)
    where = "各省" if not scope else f"{snap.regions[scope].name}各市"
    confirmed = bars(
        "confirmed", f"{where}{STALE_DAYS}天内确认过的单位比例", data, lambda r: r.confirmed_share,
        lambda r: f"{percent(r.confirmed_share)}（{r.confirmed}/{r.offices}）",
    )  # fmt: skip
    no_email = bars(
        "noemail", f"{where}缺电子邮箱的单位比例", data, lambda r: r.no_email_share,
        lambda r: f"{percent(r.no_email_share)}（{r.no_email}）",
    )  # fmt: skip
    most = max((r.bouncing for r in data), default=0) or 1
    bouncing = bars(
        "bouncing", f"{where}邮箱退信的单位数", data, lambda r: r.bouncing / most, lambda r: f"{r.bouncing}"
    )
    tile_title = f"{where}{STALE_DAYS}天内确认比例（示意方块图，非行政区划地图）"
    tile_map = tiles("tiles", tile_title, data, None if scope else PROVINCE_TILES)
    response_svg = response_chart("response", answers) if answers is not None else ""
    return Pictures(scope, tuple(data), confirmed, no_email, bouncing, tile_map, answers, response_svg)
