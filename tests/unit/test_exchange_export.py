"""Export, pure part: CSV/XLSX round trip and injection protection, vCard 3.0 and Outlook 2.1, LDIF (RFC 2849)."""

from __future__ import annotations

import base64
import io

import openpyxl
import pytest
import vobject

from directory import dit
from directory.errors import NotFound
from directory.exchange import check_rows, read_rows, render
from directory.exchange.export import offices_of, resolve_region
from directory.exchange.ldif import LINE_WIDTH
from directory.snapshot import Snapshot
from tests.support.exchange_data import demo_office, demo_snapshot, snapshot_of

CHANGAN = "130102000000"
SHIJIAZHUANG = "130100000000"
NASTY = '=HYPERLINK("http://evil.example","x")'


def nasty_snapshot() -> Snapshot:
    """Three offices whose text would run as formulas or break naive LDIF/vCard writers."""
    return snapshot_of(
        [
            demo_office("130000000000"),
            demo_office(
                CHANGAN, unit_name=NASTY, position="+主任", address="-中山路;1号, 2楼\\东", contact_name="@张伟"
            ),
            demo_office("130104000000", position="'=1+1", address=":1 Zhongshan Rd", email="", fax=""),
        ]
    )


def reimported(data: bytes, name: str) -> list[tuple[object, ...]]:
    plan = check_rows(read_rows(data, name))
    assert plan.ok, plan.errors[:5]
    return [(o.region_code, *o.fields().values(), o.liaison) for o in plan.items]


def originals(snap: Snapshot, root: str | None = None) -> list[tuple[object, ...]]:
    return [(o.region_code, *[getattr(o, k) for k in o.__slots__[2:10]], o.liaison) for o in offices_of(snap, root)]


# -- CSV / XLSX -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_table_exports_round_trip_through_import(fmt: str) -> None:
    for snap, root in ((demo_snapshot(), SHIJIAZHUANG), (nasty_snapshot(), None)):
        data = render(snap, fmt, root=root)
        assert reimported(data, f"out.{fmt}") == originals(snap, root)


def test_csv_export_is_protected_against_formula_injection() -> None:
    text = render(nasty_snapshot(), "csv").decode("utf-8-sig")
    line = next(x for x in text.splitlines() if x.startswith(CHANGAN))
    assert line.startswith(f"{CHANGAN},\"'=HYPERLINK(")
    assert ",'+主任," in line and ",'@张伟," in line and '"\'-中山路;1号, 2楼\\东"' in line
    assert "''=1+1" in text
    assert "0311-" in line  # phones in the national form


def test_xlsx_export_has_no_formula_cells() -> None:
    wb = openpyxl.load_workbook(io.BytesIO(render(nasty_snapshot(), "xlsx")))
    ws = wb.worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row]
    assert all(c.data_type == "s" for c in cells if c.value is not None)
    values = {c.value for c in cells}
    assert "'" + NASTY in values and "'+主任" in values
    assert ws["A2"].value == "130000000000"  # codes stay text: leading digits intact, no float


def test_region_filter_and_unknown_region() -> None:
    snap = demo_snapshot()
    codes = [o.region_code for o in offices_of(snap, resolve_region(snap, "1301"))]
    assert codes[0] == SHIJIAZHUANG and all(c.startswith("1301") for c in codes)
    assert len(codes) == len(list(snap.descendants(SHIJIAZHUANG)))
    with pytest.raises(NotFound):
        resolve_region(snap, "139999")
    with pytest.raises(NotFound, match="未知的导出格式"):
        render(snap, "pdf")


# -- vCard ----------------------------------------------------------------------------------------------------------


def test_vcard_30_parses_back_with_vobject() -> None:
    snap = nasty_snapshot()
    cards = list(vobject.readComponents(render(snap, "vcard").decode("utf-8")))
    assert len(cards) == 3
    card = next(c for c in cards if c.fn.value == NASTY)
    assert card.version.value == "3.0"
    assert card.org.value == [NASTY]
    assert card.n.value.family == "@张伟" and card.contents["x-abshowas"][0].value == "COMPANY"
    assert card.title.value == "+主任"
    tels = {tuple(t.params["TYPE"]): t.value for t in card.contents["tel"]}
    office = snap.offices[CHANGAN]
    assert tels[("WORK", "VOICE")] == office.phone_display and tels[("WORK", "FAX")] == office.fax_display
    assert card.email.value == office.email and card.email.params["TYPE"] == ["INTERNET"]
    assert card.adr.value.street == "-中山路;1号, 2楼\\东" and card.adr.value.code == office.postal_code
    assert card.adr.params["TYPE"] == ["WORK"]
    assert card.note.value.splitlines() == ["联系人：@张伟（+主任）", f"区划：河北省 石家庄市 长安区（{CHANGAN}）"]
    assert sorted(c.uid.value for c in cards) == sorted(snap.offices)
    no_fax = next(c for c in cards if c.fn.value.startswith("桥西区"))
    assert [t.params["TYPE"] for t in no_fax.contents["tel"]] == [["WORK", "VOICE"]]
    assert "email" not in no_fax.contents


def test_vcard_outlook_variant_shape() -> None:
    data = render(nasty_snapshot(), "vcard-outlook")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    lines = data.decode("utf-8").split("\r\n")
    assert lines[-1] == "" and lines[:2] == ["BEGIN:VCARD", "VERSION:2.1"]
    assert lines.count("BEGIN:VCARD") == lines.count("END:VCARD") == lines.count("VERSION:2.1") == 3
    for line in lines[:-1]:
        name, _, value = line.partition(":")
        params = name.split(";")[1:]
        assert ("CHARSET=UTF-8" in params) == (not value.isascii()), line
    assert "TEL;WORK;VOICE:0311-" in data.decode() and "TEL;WORK;FAX:0311-" in data.decode()
    assert f"FN:{NASTY}" in lines  # pure ASCII: no CHARSET parameter
    assert "ADR;WORK;CHARSET=UTF-8:;;-中山路\\;1号, 2楼\\\\东;石家庄市;河北省;050000;中国" in lines
    cards = list(vobject.readComponents(data.decode("utf-8")))  # well-formed for a generic reader too
    assert len(cards) == 3 and cards[0].fn.value == "河北省流动人口服务管理领导小组办公室"


# -- LDIF -----------------------------------------------------------------------------------------------------------


def parse_ldif(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """A small independent RFC 2849 reader: unfold, split on blank lines, decode ``::`` values."""
    assert text.startswith("dn: ")
    unfolded: list[str] = []
    for line in text.split("\n"):
        if line.startswith(" "):
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    entries, current = [], None
    for line in [*unfolded, ""]:
        if not line:
            if current:
                entries.append(current)
            current = None
            continue
        name, sep, value = line.partition(":")
        assert sep, line
        value = base64.b64decode(value[2:]).decode("utf-8") if value.startswith(":") else value[1:]
        if current is None:
            assert name == "dn"
            current = (value, {})
        else:
            current[1].setdefault(name, []).append(value)
    return entries


def test_ldif_parses_back_to_the_dit_entries() -> None:
    snap = nasty_snapshot()
    text = render(snap, "ldif", base_dn="dc=bohai,dc=example").decode("ascii")
    expected = [(e.dn, e.attrs) for e in dit.entries(snap, "dc=bohai,dc=example")]
    assert parse_ldif(text) == expected
    assert all(len(line) <= LINE_WIDTH for line in text.split("\n"))
    assert any(line.startswith(" ") for line in text.split("\n"))  # long base64 values were folded
    assert "cn:: " in text  # non-ASCII values in base64
    assert "street:: " + base64.b64encode(b":1 Zhongshan Rd").decode() in text  # a leading colon too
    office = dict(parse_ldif(text))[f"uid={CHANGAN},ou={CHANGAN},ou={SHIJIAZHUANG},ou=130000000000,dc=bohai,dc=example"]
    assert office["cn"] == [NASTY]


def test_ldif_region_subtree() -> None:
    snap = demo_snapshot()
    entries = parse_ldif(render(snap, "ldif", root=CHANGAN).decode("ascii"))
    assert entries[0][0].startswith(f"ou={CHANGAN},")
    assert all(CHANGAN in dn or dn.startswith(f"uid={CHANGAN[:9]}") for dn, _ in entries)
    regions = list(snap.descendants(CHANGAN))
    assert len(entries) == 2 * len(regions)  # one region entry and one office card per region
