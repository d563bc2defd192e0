"""`bohai serve` as a user runs it: ports chosen by the OS, one line per face, clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp
import pytest

from liaison import service
from tests.support.need import need_tool
from tests.support.servers import serve_process
from tests.support.settings import service_settings

pytestmark = pytest.mark.slow  # a whole `bohai serve` or more per test


async def test_serve_demo_prints_urls_and_answers(tmp_path: object, sqlite_demo_url: str) -> None:
    """On uvloop, which the default ``--loop auto`` picks where it is installed (a dependency here)."""
    env = {
        "BOHAI_DATABASE_URL": sqlite_demo_url,
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_LDAP_PORT": "0",
        "BOHAI_SMTP_PORT": "0",
    }
    async with serve_process(env, "--demo") as sp:
        assert "event loop: uvloop\n" in sp.output, "".join(sp.output)
        url = sp.urls["http"]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["ok"] is True and body["offices"] == 15404
    assert sp.proc.returncode == 0, "".join(sp.output)


async def test_serve_on_asyncio_loop_answers_every_face(db_url: str) -> None:
    """``--loop asyncio``: Python's own loop, for where uvloop is missing or not wanted (an empty directory, so the
    start is quick; the faces are the same)."""
    env = {"BOHAI_DATABASE_URL": db_url, "BOHAI_HTTP_PORT": "0", "BOHAI_LDAP_PORT": "0", "BOHAI_SMTP_PORT": "0"}
    tool = need_tool("ldapsearch", "ldap-utils")
    async with serve_process(env, "--loop", "asyncio") as sp:
        assert "event loop: asyncio\n" in sp.output, "".join(sp.output)
        assert {"http", "ldap", "smtp"} <= set(sp.urls), sp.urls
        async with aiohttp.ClientSession() as http, http.get(sp.urls["http"] + "/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["ok"] is True
        cmd = [tool, "-x", "-LLL", "-H", sp.urls["ldap"], "-s", "base", "-b", "", "namingContexts"]
        p = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, timeout=60)
        assert p.returncode == 0 and "namingContexts: dc=" in p.stdout.decode(), p.stderr.decode()
    assert sp.proc.returncode == 0, "".join(sp.output)


async def test_bad_setting_stops_start_with_the_option_named(tmp_path: object) -> None:
    import os
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "liaison.cli",
        "serve",
        env={**os.environ, "BOHAI_HTTP_PORT": "http"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "http.port" in err.decode() and "BOHAI_HTTP_PORT" in err.decode()


async def test_start_in_process_and_close(db_url: str) -> None:
    settings = service_settings(db_url)
    lines: list[str] = []
    running = await service.start(settings, with_demo=False, report=lines.append)
    try:
        assert any(line.startswith("http listening on http://127.0.0.1:") for line in lines)
        assert len(running.holder.current.regions) == 15404
    finally:
        await running.aclose()


async def test_busy_port_is_a_settings_error_naming_the_face(db_url: str) -> None:
    import socket

    import pytest

    from directory.errors import SettingsError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = service_settings(db_url, http={"port": port})
        with pytest.raises(SettingsError, match=r"http\.host/http\.port"):
            await service.start(settings, report=lambda _line: None)
