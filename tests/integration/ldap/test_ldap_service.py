"""The LDAP face inside the whole service: `bohai serve` prints its URLs, and store changes reach LDAP within 1 s."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from pathlib import Path

import pytest

from directory.validate import OfficeData
from liaison import service
from tests.support.ldap import BASE, ldap_values, make_cert
from tests.support.need import need_tool
from tests.support.servers import serve_process
from tests.support.settings import service_settings

CODE = "130102000000"

pytestmark = pytest.mark.slow  # a whole `bohai serve` or more per test


async def test_serve_prints_ldap_and_ldaps_urls_and_answers(sqlite_demo_url: str, tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    env = {
        "BOHAI_DATABASE_URL": sqlite_demo_url,
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_LDAP_PORT": "0",
        "BOHAI_LDAP_LDAPS_ENABLED": "true",
        "BOHAI_LDAP_LDAPS_PORT": "0",
        "BOHAI_LDAP_TLS_CERT": cert,
        "BOHAI_LDAP_TLS_KEY": key,
        "BOHAI_SMTP_PORT": "0",
    }
    tool = need_tool("ldapsearch", "ldap-utils")
    async with serve_process(env) as sp:
        assert sp.urls["ldap"].startswith("ldap://127.0.0.1:") and not sp.urls["ldap"].endswith(":0")
        assert sp.urls["ldaps"].startswith("ldaps://127.0.0.1:")
        for url in (sp.urls["ldap"], sp.urls["ldaps"]):
            cmd = [tool, "-x", "-LLL", "-H", url, "-b", BASE, f"(uid={CODE})", "uid"]
            p = await asyncio.to_thread(
                subprocess.run, cmd, capture_output=True, timeout=60, env={"LDAPTLS_CACERT": cert}
            )
            assert p.returncode == 0 and f"uid: {CODE}" in p.stdout.decode(), p.stderr.decode()
    assert sp.proc.returncode == 0


async def test_a_store_change_reaches_ldap_without_restart(demo_url: str) -> None:
    """End to end through the holder's watch loop (poll interval, Store.load_all, Snapshot build, LDAP index);
    how long it takes is measured by bench/instances.py."""
    settings = service_settings(demo_url, http={"enabled": False})
    running = await service.start(settings, report=lambda line: None)
    try:
        port = int(running.urls["ldap"].rsplit(":", 1)[1])
        store = running.store
        office = await store.run(store.get_office, CODE)
        assert office is not None
        assert await asyncio.to_thread(ldap_values, port, CODE, "mail") == [office["email"]]
        fields = {f.name: office[f.name] for f in dataclasses.fields(OfficeData) if f.name in office}
        data = OfficeData(**{**fields, "email": "changed@example.org"})
        changed = running.holder.changed
        await store.run(store.save_office, data, "test", expected_version=office["version"])
        # the watch loop swaps in a Snapshot carrying its LDAP index; no restart, no sleeps
        await asyncio.wait_for(changed.wait(), 10.0)
        assert await asyncio.to_thread(ldap_values, port, CODE, "mail") == ["changed@example.org"]
        index = running.holder.current.derived("ldap", lambda s: None)
        assert index is not None and index.generation == running.holder.current.generation
        assert await asyncio.to_thread(ldap_values, port, "130104000000", "mail") != ["changed@example.org"]
    finally:
        await running.aclose()
