"""How many offices one letter may go to is capped per role (``[letters] max_recipients_editor`` / ``_admin``), in
the web form and in ``bohai letter send`` (an administrator's ceiling); the refusal names the limit and queues
nothing. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from directory.store import Store
from liaison.mail import outbox
from tests.support.letters import FORM, Browser, letters_browser, run

TOWNS = ["110101001000", "110101002000", "110101003000", "110101004000"]  # under 东城区, which has e-mail
LIMITS = {"max_recipients_editor": 3, "max_recipients_admin": 4}


@pytest.fixture
async def browser(store: Store) -> AsyncIterator[Browser]:
    async with letters_browser(store, letters=LIMITS) as b:
        yield b


async def test_recipient_ceiling_per_role_in_the_web_form(browser: Browser, store: Store) -> None:
    await browser.login("hebei")
    resp = await browser.send({**FORM, "to": " ".join(TOWNS)})
    page = await resp.text()
    assert resp.status == 400 and "收函单位 4 个" in page and "max_recipients_editor" in page and "上限 3 个" in page
    assert outbox.counts(store) == {}
    assert (await browser.send({**FORM, "to": " ".join(TOWNS[:3])})).status == 303  # within the ceiling
    await browser.login("admin")
    assert (await browser.send({**FORM, "to": " ".join(TOWNS)})).status == 303  # an administrator's is higher
    resp = await browser.send({**FORM, "to": " ".join([*TOWNS, "110101005000"])})
    assert resp.status == 400 and "max_recipients_admin" in await resp.text()
    assert outbox.counts(store) == {"queued": 3 + 4}


def test_recipient_ceiling_in_the_cli(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    monkeypatch.setenv("BOHAI_LETTERS_MAX_RECIPIENTS_ADMIN", "3")
    body = tmp_path / "body.txt"
    body.write_text("请协助核查。", encoding="utf-8")
    argv = ["letter", "send", "--from", "130100000000", "--subject", "关于核查的函", "--body-file", str(body)]
    code, out, err = run(capsys, *argv, "--to", *TOWNS)
    assert code == 1 and out == "" and "max_recipients_admin" in err and "上限 3 个" in err
