"""``bohai import`` / ``bohai export`` end to end on SQLite and PostgreSQL.

The done-when test: a 15,404-row workbook made by the xlsx exporter from the demo data, with exactly 50 planted bad
cells, is refused listing exactly those 50 (row, column) and writes nothing; the clean workbook imports, exports and
re-imports with zero changes. Smaller CSV files cover --dry-run, --province, updates, warnings and export options.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from directory.exchange import read_rows, render
from directory.exchange import xlsx as xlsx_format
from directory.exchange.export import offices_of
from directory.exchange.table import CONFIRMED_COLUMN, EXPORT_HEADER, HEADER, office_row
from directory.store import open_store
from liaison.cli import main
from tests.support.databases import Templates
from tests.support.exchange_data import demo_snapshot

ERROR_LINE = re.compile(r"^  第(\d+)行“(.+?)”列：")
BAD_CELLS: list[tuple[int, str]] = [  # (column index, planted value); "dup" and "是" are handled specially
    (0, "13010X000000"),
    (0, "139999999999"),
    (0, ""),
    (0, "dup"),
    (1, ""),
    (1, "名" * 201),
    (2, "张" * 101),
    (3, "职" * 101),
    (4, "12345"),
    (4, "电话号码"),
    (4, "0311-123"),
    (5, "999"),
    (5, "传真"),
    (6, "not-an-email"),
    (6, "a@b"),
    (6, "x@@example.org"),
    (7, "址" * 301),
    (8, "12345"),
    (8, "ABCDEF"),
    (8, "0500001"),
    (9, "可能"),
    (9, "是"),
]


@dataclass(frozen=True)
class Workbooks:
    clean: Path
    planted: Path
    expected: frozenset[tuple[int, str]]  # (Excel row, column label) of every planted cell


def _plant(rows: list[list[str]]) -> set[tuple[int, str]]:
    rng = random.Random(20260105)
    candidates = [i for i, row in enumerate(rows) if not row[0].endswith("0000000000")]  # no province rows
    chosen = sorted(rng.sample(candidates, 50))
    planted = set(chosen)
    expected = set()
    for n, index in enumerate(chosen):
        column, value = BAD_CELLS[n % len(BAD_CELLS)]
        if value == "dup":  # repeat the code of an earlier, untouched row: the error is on this (later) row
            source = next(j for j in range(index - 1, 0, -1) if j not in planted)
            value = rows[source][0]
        rows[index][column] = value
        expected.add((index + 2, EXPORT_HEADER[column]))
    return expected


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> Workbooks:
    snap = demo_snapshot()
    folder = tmp_path_factory.mktemp("workbooks")
    clean = folder / "clean.xlsx"
    clean.write_bytes(render(snap, "xlsx"))
    rows = [office_row(o) for o in offices_of(snap, None)]
    assert len(rows) == 15404
    expected = _plant(rows)
    planted = folder / "planted.xlsx"
    planted.write_bytes(xlsx_format.write(rows, EXPORT_HEADER))
    return Workbooks(clean, planted, frozenset(expected))


@pytest.fixture
def env_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def sqlite_db(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url, _ = templates.copy("sqlite", False, tmp_path)
    monkeypatch.setenv("BOHAI_DATABASE_URL", url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def counts(url: str) -> tuple[int, int, int]:
    store = open_store(url)
    try:
        return store.count_offices(), store.count_changes(), store.generation()
    finally:
        store.close()


@pytest.mark.slow
def test_full_workbook_planted_errors_then_clean_round_trip(
    sqlite_db: str, workbooks: Workbooks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole directory through the CLI, on SQLite only: what this adds over the smaller tests is the size of the
    files; 15,404 offices written on PostgreSQL are the demo template every PostgreSQL test starts from."""
    env_db = sqlite_db
    assert len(workbooks.expected) == 50
    before = counts(env_db)
    code, out, err = run(capsys, "import", str(workbooks.planted))
    listed = [(int(m[1]), m[2]) for m in map(ERROR_LINE.match, err.splitlines()) if m]
    assert code == 1 and out == ""
    assert "共 50 处" in err
    assert len(listed) == 50 and set(listed) == workbooks.expected
    assert counts(env_db) == before == (0, 0, before[2])  # no offices, no audit rows, no generation bump

    code, out, err = run(capsys, "import", str(workbooks.clean))
    assert (code, out, err) == (0, "新增 15404，更新 0，未变 0\n", "")
    exported = tmp_path / "exported.xlsx"
    assert run(capsys, "export", "--format", "xlsx", "-o", str(exported))[0] == 0
    # the same cells but the export-only 确认日期 (now stamped: the offices were just created by the import)
    data_cells = len(EXPORT_HEADER) - 1
    assert EXPORT_HEADER[data_cells] == CONFIRMED_COLUMN and read_rows(exported).header == list(EXPORT_HEADER)
    assert [(n, r[:data_cells]) for n, r in read_rows(exported).rows] == [
        (n, r[:data_cells]) for n, r in read_rows(workbooks.clean).rows
    ]
    after_first = counts(env_db)
    code, out, _ = run(capsys, "import", str(exported))
    assert (code, out) == (0, "新增 0，更新 0，未变 15404\n")
    assert counts(env_db) == after_first


def write_csv(path: Path, *rows: str) -> str:
    path.write_text("\n".join([",".join(HEADER), *rows]) + "\n", encoding="utf-8")
    return str(path)


CHANGAN = "130102000000,长安区流动人口服务管理中心,张伟,主任,0311-87654321,,ca@example.org,中山东路1号,050000"
QIAOXI = "130104000000,桥西区流动人口服务管理中心,李娜,科长,0311-86660000,,qx@example.org,新华路2号,050000"
HEPING = "120101000000,和平区流动人口服务管理中心,王强,主任,022-27654321,,hp@example.org,南京路1号,300041"


def test_dry_run_writes_nothing_and_previews_counts(
    env_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_csv(tmp_path / "a.csv", CHANGAN, QIAOXI)
    before = counts(env_db)
    assert run(capsys, "import", "--dry-run", first)[:2] == (0, "试运行（未写入任何数据）：新增 2，更新 0，未变 0\n")
    assert counts(env_db) == before
    assert run(capsys, "import", first)[:2] == (0, "新增 2，更新 0，未变 0\n")
    changed = write_csv(tmp_path / "b.csv", CHANGAN.replace("张伟", "赵敏"), QIAOXI)
    written = counts(env_db)
    assert run(capsys, "import", "--dry-run", changed)[:2] == (0, "试运行（未写入任何数据）：新增 0，更新 1，未变 1\n")
    assert counts(env_db) == written
    assert run(capsys, "import", changed)[:2] == (0, "新增 0，更新 1，未变 1\n")
    store = open_store(env_db)
    try:
        history = store.history("office", "130102000000")
        assert [h["action"] for h in history] == ["update", "create"]
        assert (history[0]["before"]["contact_name"], history[0]["after"]["contact_name"]) == ("张伟", "赵敏")
        assert store.history("office", "130104000000")[0]["action"] == "create"
    finally:
        store.close()


def test_province_restriction(env_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mixed = write_csv(tmp_path / "mixed.csv", CHANGAN, HEPING, QIAOXI)
    before = counts(env_db)
    code, out, err = run(capsys, "import", "--province", "13", mixed)
    assert code == 1 and out == ""
    assert "第3行“区划代码”列：不属于河北省" in err and "共 1 处" in err
    assert counts(env_db) == before
    code, out, _ = run(capsys, "import", "--province", "120000000000", write_csv(tmp_path / "tj.csv", HEPING))
    assert (code, out) == (0, "新增 1，更新 0，未变 0\n")
    code, _, err = run(capsys, "import", "--province", "99", mixed)
    assert code == 1 and "区划代码 99 不存在" in err


def test_warnings_are_printed_and_do_not_block(env_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.csv"
    path.write_text(",".join([*HEADER, "备注"]) + "\n" + CHANGAN.replace("0311-", "010-") + ",x\n", encoding="utf-8")
    code, out, err = run(capsys, "import", str(path))
    assert (code, out) == (0, "新增 1，更新 0，未变 0\n")
    assert "警告：第1行“备注”列：未知的列，已忽略" in err
    assert "警告：第2行“联系电话”列：区号 010 与所在城市区号 0311 不一致" in err


def test_bad_file_is_refused_with_a_reason(env_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "offices.xlsx"
    junk.write_bytes(bytes(range(256)) * 8)
    code, out, err = run(capsys, "import", str(junk))
    assert code == 1 and out == "" and "内容不是 XLSX 工作簿" in err
    assert counts(env_db)[:2] == (0, 0)


def test_import_is_the_first_command_on_a_new_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOHAI_DATABASE_URL", f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert run(capsys, "import", write_csv(tmp_path / "a.csv", CHANGAN))[:2] == (0, "新增 1，更新 0，未变 0\n")


def test_export_options(env_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "import", write_csv(tmp_path / "a.csv", CHANGAN, QIAOXI, HEPING))
    code, out, _ = run(capsys, "export", "--format", "csv", "--region", "13")
    lines = out.lstrip("\ufeff").splitlines()
    assert code == 0 and lines[0] == ",".join(EXPORT_HEADER)
    assert [line[:12] for line in lines[1:]] == ["130102000000", "130104000000"]
    code, out, _ = run(capsys, "export", "--format", "vcard")
    assert code == 0 and out.count("BEGIN:VCARD") == 3
    code, _, err = run(capsys, "export", "--format", "xlsx")
    assert code == 1 and "-o" in err
    code, _, err = run(capsys, "export", "--format", "ldif", "--region", "139999")
    assert code == 1 and "区划代码 139999 不存在" in err
    target = tmp_path / "out.ldif"
    assert run(capsys, "export", "--format", "ldif", "--region", "120101", "-o", str(target))[0] == 0
    assert target.read_text(encoding="ascii").count("\ndn: uid=120101000000,") == 1
