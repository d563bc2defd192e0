"""What a test needs from the machine: PostgreSQL, a program, a font. Missing, the test skips naming what to install;
with ``CI`` set, any skip fails the run (see the report hook in ``fixtures``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PG_URL = os.environ.get("BOHAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def need(condition: bool, what: str) -> None:
    """Skip (or, in CI, fail) the current test unless ``condition``; ``what`` says what to install."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing in CI: {what}")
    pytest.skip(f"needs {what}")


def need_tool(program: str, package: str) -> str:
    """The path of ``program`` (from Debian ``package``), else skip."""
    path = shutil.which(program) or (f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None)
    need(path is not None, f"`{program}` (Debian package {package}: apt-get install {package})")
    assert path is not None
    return path
