"""An uploaded spreadsheet that describes millions of blank rows is refused by the row budget with an error naming
the limit, and while it is read the office pages (which query the store) keep answering: reading an upload never
holds the store's thread (on SQLite its only one). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

from directory.exchange import xlsx
from directory.validate import OfficeData
from tests.support.spreadsheets import deflated, workbook
from tests.support.web import CHANGAN, WebFactory, upload

PAGE_BOUND = 10.0  # seconds; generous for two busy cores, far below a read that holds the store


async def test_blank_row_spreadsheet_is_refused_and_office_pages_keep_answering(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    w.store.upsert_offices([OfficeData(CHANGAN, "长安区流动人口服务管理中心", email="ca@example.org")], "test")
    w.add_user("hebei", "editor", "130000000000")
    await w.login("hebei")
    data = deflated(workbook([b"<row/>" * 100_000] * 20))  # 2,000,000 blank rows in ~30 KB
    started = time.monotonic()
    posting = asyncio.ensure_future(w.client.post("/import", data=upload(await w.csrf("/import"), "a.xlsx", data)))
    waits: list[float] = []
    while not posting.done():  # office pages, one after another, for as long as the upload is being read
        asked = time.monotonic()
        page = await w.client.get(f"/office/{CHANGAN}")
        assert page.status == 200
        waits.append(time.monotonic() - asked)
    answer = await posting
    text = await answer.text()
    assert answer.status == 400 and "MAX_SCANNED_ROWS" in text and str(xlsx.MAX_SCANNED_ROWS) in text
    assert time.monotonic() - started < xlsx.TIME_BUDGET
    assert len(waits) >= 2 and max(waits) < PAGE_BOUND, waits
