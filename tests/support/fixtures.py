"""The fixtures every test can use (loaded by ``tests/conftest.py``), and the hooks of the whole suite.

Databases come from ``databases``; here is the clean-up that keeps a long run's workers from growing, the order that
starts the slow tests first, and the rule that nothing skips in CI.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.need import IN_CI

Cli = Callable[..., tuple[int, str, str]]  # ``bohai(*args, stdin="")`` → (exit code, stdout, stderr)


def forget_apps() -> None:
    """Drop aiohttp's process-wide cache of middleware chains. It is keyed by the application objects (up to 1,024
    of them), which is harmless for a service that builds one app, but a test run builds one per test and each
    would keep its whole context alive: store, Snapshot, search index — some 40 MB a test."""
    import aiohttp.web_app

    cache: Any = getattr(aiohttp.web_app, "_cached_build_middleware", None)
    if cache is not None:
        cache.cache_clear()


@pytest.fixture(autouse=True)
def _forget_apps() -> Iterator[None]:
    yield
    forget_apps()


@pytest.fixture
def bohai(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``bohai user …`` through the CLI's ``main`` on the test's database, with ``stdin`` as standard input."""
    from liaison.cli import main

    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["user", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` first (in their order): workers then share out the long ones early instead of one
    worker finishing a long test alone at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI nothing may skip: a skip becomes a failure that keeps its reason."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (nothing may skip there): {report.longrepr}"
