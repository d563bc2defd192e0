"""The dashboard counts "not confirmed in 180 days" in Beijing dates, also between 00:00 and 08:00 Beijing time."""

from __future__ import annotations

import datetime as dt
import re

from directory import clock
from directory.validate import OfficeData
from tests.support.web import CHANGAN, Web, WebFactory

QIAOXI = "130104000000"  # 河北省 石家庄市 桥西区
NUMBER_CELL = re.compile(r'<td class="num[^"]*">(\d+)</td>')


def beijing(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=clock.ZONE)


def office(code: str, name: str) -> OfficeData:
    return OfficeData(code, name, "张伟", "主任", "+8631187654321", "", "", "河北省石家庄市", "050000")


async def hebei_stale(w: Web) -> tuple[int, str]:
    """The 河北 row's "not confirmed" count on the overview, and the stale list of 河北's own page."""
    overview = await (await w.client.get("/dashboard")).text()
    row = overview.split('href="/dashboard/130000000000"')[1].split("</tr>")[0]
    offices, _no_email, _no_fax, stale, _bouncing = (int(n) for n in NUMBER_CELL.findall(row))
    assert offices == 2
    page = await (await w.client.get("/dashboard/130000000000")).text()
    return stale, page.split("天未确认")[1].split("</details>")[0]


async def test_days_since_confirmation_count_in_beijing_dates(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    manual = clock.ManualClock(beijing(2025, 9, 1, 10, 0))  # 02:00 UTC, the same date in both zones
    with clock.use(manual):
        w.store.upsert_offices([office(CHANGAN, "长安区中心")], "test")
        manual.set(beijing(2025, 9, 1, 1, 0))  # still 31 August in UTC
        w.store.upsert_offices([office(QIAOXI, "桥西区中心")], "test")
        await w.holder.refresh()

        manual.set(beijing(2026, 2, 28, 23, 0))  # 180 days after 1 September: not yet overdue
        stale, listed = await hebei_stale(w)
        assert stale == 0 and CHANGAN not in listed and QIAOXI not in listed

        manual.set(beijing(2026, 3, 1, 1, 30))  # 181 days, though UTC still says 28 February
        stale, listed = await hebei_stale(w)
        assert stale == 2 and CHANGAN in listed and QIAOXI in listed
