"""Exports are accountable: refused to anonymous readers, audited, and watermarked with who exported and when in a
way that keeps each format valid and re-importable unchanged (xlsx document properties, a ``#`` comment line in
LDIF, ``X-BOHAI-EXPORTED`` in every vCard, the CSV's file name)."""

from __future__ import annotations

import io
import re

import openpyxl
import vobject

from directory import exchange
from directory.exchange.export import render
from tests.support.web import WebFactory

HEBEI = "130000000000"
SJZ = "130100000000"


async def test_exports_need_a_login_carry_a_watermark_and_reimport_unchanged(
    web: WebFactory, sqlite_demo_url: str
) -> None:
    w = await web(sqlite_demo_url)
    c = w.client
    for fmt in ("csv", "xlsx", "vcard", "ldif"):
        refused = await c.get(f"/export/{SJZ}/{fmt}", allow_redirects=False)
        assert refused.status == 303 and refused.headers["Location"].startswith("/login"), fmt
    assert (await c.get("/api/v1/export", params={"region": SJZ})).status == 401
    assert w.store.history("export", SJZ) == [], "a refused export leaves no audit row"

    w.add_user("hebei-editor", "editor", "13")
    await w.login("hebei-editor")
    snap = w.holder.current
    count = sum(1 for r in snap.descendants(SJZ) if r.code in snap.offices)
    assert count > 10
    got: dict[str, tuple[bytes, str]] = {}
    for fmt in ("csv", "xlsx", "vcard", "ldif"):
        resp = await c.get(f"/export/{SJZ}/{fmt}")
        assert resp.status == 200, fmt
        got[fmt] = (await resp.read(), resp.headers["Content-Disposition"])

    csv_body, csv_name = got["csv"]
    assert re.search(rf'filename="{SJZ}-hebei-editor-\d{{8}}T\d{{6}}\.csv"', csv_name), csv_name
    xlsx_body, _ = got["xlsx"]
    props = openpyxl.load_workbook(io.BytesIO(xlsx_body)).properties
    assert props.description.startswith("X-BOHAI-EXPORTED: hebei-editor 20") and props.creator == "hebei-editor"
    for fmt, body, name in (("csv", csv_body, "a.csv"), ("xlsx", xlsx_body, "a.xlsx")):
        plan = exchange.check_rows(exchange.read_rows(body, name), snap.regions, HEBEI)
        assert plan.ok, (fmt, plan.errors[:3])
        result = exchange.preview(w.store, plan)
        assert (result.created, result.updated, result.unchanged) == (0, 0, count), fmt

    cards = list(vobject.readComponents(got["vcard"][0].decode("utf-8")))
    assert len(cards) == count
    assert all(card.contents["x-bohai-exported"][0].value.startswith("hebei-editor 20") for card in cards)

    ldif = got["ldif"][0].decode("utf-8")
    first, rest = ldif.split("\n", 1)
    assert re.fullmatch(r"# X-BOHAI-EXPORTED: hebei-editor \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", first), first
    assert rest.encode() == render(snap, "ldif", root=SJZ, base_dn=w.settings.ldap.base_dn), "only a comment added"

    rows = w.store.history("export", SJZ)
    assert sorted(r["after"]["format"] for r in rows) == ["csv", "ldif", "vcard", "xlsx"]
    assert {r["actor"] for r in rows} == {"hebei-editor"}
    assert any(r["after"]["file"] in csv_name for r in rows if r["after"]["format"] == "csv")
