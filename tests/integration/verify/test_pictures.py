"""The dashboard pictures over real HTTP: inline SVG (no script, no external request) with the same numbers in a
table beside each, the ten regions and one province's cities, and the newest campaign's answers by Beijing day.
SQLite and PostgreSQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from directory import clock
from directory.snapshot import SnapshotHolder
from directory.store import Store
from liaison.verify import answers, campaign
from liaison.verify import store as vstore
from tests.support.verify import COUNTY, EMAIL_A, EMAIL_B, add_world, pages, settings_for

SVG_RE = re.compile(r"<svg .*?</svg>", re.S)


async def test_pictures_pages(store: Store) -> None:
    add_world(store)
    settings = settings_for(store.url)
    started = campaign.start_campaign(
        store, settings, SnapshotHolder(store).current, region_code=COUNTY, due_within=10, actor="test"
    )
    with store.read() as conn:
        items = {i.region_code: i for i in vstore.items(conn, started.id)}
    answers.confirm(store, items[EMAIL_A].id, clock.now())
    answers.confirm(store, items[EMAIL_B].id, clock.now())
    async with pages(store, settings) as p:
        resp = await p.client.get("/dashboard/pictures")
        page = await resp.text()
        assert resp.status == 200
        svgs = SVG_RE.findall(page)
        assert len(svgs) == 5  # tiles, confirmed, response, no e-mail, bouncing
        for svg in svgs:
            root = ET.fromstring(svg)
            assert root.get("role") == "img"
        assert "<script" not in page and "src=\"http" not in page and "href=\"http" not in page
        # the ten regions as tiles; 河北 has 8 offices in this world, all confirmed within 180 days on creation
        assert page.count("<rect x=") >= 10
        assert re.search(r'<a href="/dashboard/pictures/130000000000">河北省</a></th><td class="num">7</td>', page)
        today = clock.shown(clock.today())
        assert re.search(rf"<th scope=\"row\">{today}</th><td class=\"num\">2</td><td class=\"num\">2</td>", page)
        assert "（共 6 个单位）" in page and "33%" in page

        resp = await p.client.get("/dashboard/pictures/130000000000")
        page = await resp.text()
        assert resp.status == 200 and "河北省各市" in page and "石家庄市" in page
        assert len(SVG_RE.findall(page)) == 5
        assert (await p.client.get("/dashboard/pictures/130100000000")).status == 404
