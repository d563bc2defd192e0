"""Upload import and export downloads: access, CSRF and size limits; the whole flow once directory.exchange is there.

``directory.exchange`` comes from branch core. Without it the pages must say so (503) and write nothing; with it
(after the merge) the same test runs the real dry-run report → apply flow and the export downloads.
"""

from __future__ import annotations

import csv
import importlib.util
import io

from directory.validate import FIELD_LABELS
from tests.support.web import CHANGAN, LIXIA, Web, WebFactory, upload

HAVE_EXCHANGE = importlib.util.find_spec("directory.exchange") is not None


def template_csv(rows: list[dict[str, str]]) -> bytes:
    from directory.exchange import HEADER  # type: ignore[import-not-found,unused-ignore]

    by_label = {label: key for key, label in FIELD_LABELS.items()}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(by_label.get(col, col), "") for col in HEADER])
    return out.getvalue().encode("utf-8")


async def test_upload_access_csrf_and_limits(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url, http={"max_body_size": 50_000})
    w.add_user("reader", "reader")
    w.add_user("hebei", "editor", "13")
    changes = w.store.count_changes()
    resp = await w.client.get("/import", allow_redirects=False)
    assert resp.status == 303
    await w.login("reader")
    assert (await w.client.get("/import")).status == 403
    await w.login("hebei")
    page = await (await w.client.get("/import")).text()
    assert "河北省" in page and 'enctype="multipart/form-data"' in page
    resp = await w.client.post("/import", data=upload("forged", "a.csv", b"x"))
    assert resp.status == 403
    resp = await w.client.post("/import", data=upload(await w.csrf(), "big.xlsx", b"\0" * 60_000))
    assert resp.status == 413
    resp = await w.client.post("/import", data=upload(await w.csrf(), "photo.png", b"\x89PNG"))
    assert resp.status == 400 and ".xlsx" in await resp.text()
    assert w.store.count_changes() == changes + 2  # the two logins, audited; nothing else


async def test_upload_flow_and_exports(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    changes = w.store.count_changes()
    if not HAVE_EXCHANGE:
        resp = await w.client.post("/import", data=upload(await w.csrf(), "a.csv", b"a,b\n"))
        assert resp.status == 503 and "directory.exchange" in await resp.text()
        assert (await w.client.get(f"/export/{CHANGAN}/csv")).status == 503
        assert w.store.count_changes() == changes
        return
    await run_flow(w, changes)


async def run_flow(w: Web, changes: int) -> None:
    row = w.office(CHANGAN)
    good = {k: str(row[k] or "") for k in FIELD_LABELS if k in row}
    good.update(region_code=CHANGAN, phone="0311-86005555", fax="")
    bad_phone = {**good, "phone": "12"}
    shandong = {**good, "region_code": LIXIA}
    resp = await w.client.post(
        "/import", data=upload(await w.csrf(), "offices.csv", template_csv([bad_phone, shandong]))
    )
    text = await resp.text()
    assert resp.status == 400 and "未写入任何数据" in text
    assert "联系电话" in text and "不属于河北省" in text and "第 3 行" in text
    assert w.store.count_changes() == changes
    resp = await w.client.post("/import", data=upload(await w.csrf(), "offices.csv", template_csv([good])))
    text = await resp.text()
    assert resp.status == 200 and "确认导入" in text
    key = text.split('name="key" value="')[1].split('"')[0]
    resp = await w.client.post("/import/apply", data={"csrf": await w.csrf(), "key": key})
    assert resp.status == 200 and "导入完成" in await resp.text()
    assert w.office(CHANGAN)["phone"] == "+8631186005555"
    assert w.holder.current.offices[CHANGAN].phone == "+8631186005555"
    # the same check cannot be applied twice
    resp = await w.client.post("/import/apply", data={"csrf": await w.csrf(), "key": key})
    assert resp.status == 404
    for fmt in ("csv", "xlsx", "vcard", "vcard-outlook", "ldif"):
        resp = await w.client.get(f"/export/{CHANGAN}/{fmt}")
        assert resp.status == 200 and len(await resp.read()) > 50, fmt
        assert "attachment" in resp.headers["Content-Disposition"]
    assert (await w.client.get(f"/export/{CHANGAN}/exe")).status == 404
