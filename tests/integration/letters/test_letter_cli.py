"""`bohai letter send|show|list` on a real database: send only queues and prints the number; errors name the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from directory.store import open_store
from directory.validate import OfficeData
from liaison.letters.models import attachment_t
from liaison.mail import outbox
from tests.support.letters import run


def test_send_show_list(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    store = open_store(db_url)
    try:
        store.upsert_offices(
            [
                OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"),
                OfficeData("110101000000", "东城区流动人口服务管理办公室", email="dc@beijing.example"),
                OfficeData("110101001000", "东华门街道流动人口服务站"),
            ],
            "test",
        )
    finally:
        store.close()
    body = tmp_path / "body.txt"
    body.write_text("请协助核查。", encoding="utf-8")
    attach = tmp_path / "名单.csv"
    attach.write_text("姓名,身份证号\n张三,略\n", encoding="utf-8")

    code, out, err = run(
        capsys, "letter", "send", "--from", "130100000000", "--to", "110101000000", "110101001000",
        "--subject", "关于核查的函", "--body-file", str(body), "--attach", str(attach), "--reply-within", "10",
    )  # fmt: skip
    assert code == 0, err
    number = out.splitlines()[0]
    assert number.startswith("渤联〔") and number.endswith("号")
    assert "110101001000：因东华门街道流动人口服务站无可用电子邮箱和传真" in out
    assert "已排队 2 份" in err

    code, out, _ = run(capsys, "letter", "show", number)
    assert code == 0 and "关于核查的函" in out
    assert "110101000000 → email dc@beijing.example　待发　期限 " in out
    assert out.count("dc@beijing.example") == 2  # the township's letter goes to its parent as well

    code, out, _ = run(capsys, "letter", "list", "--from", "130100000000")
    assert code == 0 and number in out

    code, _, err = run(
        capsys,
        "letter",
        "send",
        "--from",
        "130100000000",
        "--to",
        "999999999999",
        "--subject",
        "x",
        "--body-file",
        str(body),
    )
    assert code == 1 and "999999999999" in err and "区划代码不存在" in err
    code, _, err = run(capsys, "letter", "send", "--from", "130100000000", "--to", "110101000000", "--subject", "x")
    assert code == 1 and "--body-file" in err
    code, _, err = run(capsys, "letter", "show", "12345")
    assert code == 1 and "12345" in err

    store = open_store(db_url)
    try:
        assert outbox.counts(store) == {"queued": 2}  # nothing was sent by the command itself
    finally:
        store.close()


@pytest.mark.parametrize(
    "to_args",
    [
        ["--to", "110101000000", "--to", "120101000000", "--to", "370102000000"],
        ["--to", "110101000000", "120101000000", "370102000000"],
        ["--to", "110101000000", "--to", "120101000000", "370102000000"],
    ],
    ids=["repeated", "one-option-many-values", "mixed"],
)
def test_repeated_to_options_keep_every_recipient(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    to_args: list[str],
) -> None:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    recipients = {
        "110101000000": "东城区流动人口服务管理办公室",
        "120101000000": "和平区流动人口服务管理办公室",
        "370102000000": "历下区流动人口服务管理办公室",
    }
    store = open_store(db_url)
    try:
        offices = [OfficeData(code, name, email=f"r{code}@example.org") for code, name in recipients.items()]
        store.upsert_offices(
            [OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"), *offices], "test"
        )
    finally:
        store.close()
    body = tmp_path / "body.txt"
    body.write_text("请协助核查。", encoding="utf-8")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a", encoding="utf-8")
    b.write_text("b", encoding="utf-8")

    code, out, err = run(
        capsys, "letter", "send", "--from", "130100000000", *to_args, "--subject", "关于核查的函",
        "--body-file", str(body), "--attach", str(a), "--attach", str(b),
    )  # fmt: skip
    assert code == 0, err
    listing = err.split("已排队")[0]
    assert "收函单位 3 个" in listing
    for code_, name in recipients.items():
        assert f"{code_} {name}" in listing  # shown before queuing
    assert "已排队 3 份" in err

    code, shown, _ = run(capsys, "letter", "show", out.splitlines()[0])
    assert code == 0
    for code_ in recipients:
        assert f"{code_} → email r{code_}@example.org" in shown
    store = open_store(db_url)
    try:
        assert outbox.counts(store) == {"queued": 3}
        with store.read() as conn:
            names = sorted(r[0] for r in conn.execute(sa.select(attachment_t.c.filename)))
        assert names == ["a.txt", "b.txt"]
    finally:
        store.close()
