"""Test helpers that run the real service: ``bohai serve`` as a subprocess, or ``service.start`` in-process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

LINE = re.compile(r"^(\w+) listening on (\S+)$")
OnListen = Callable[[str, str], Coroutine[Any, Any, None]]  # (face, url)


@dataclass
class ServeProcess:
    proc: asyncio.subprocess.Process
    urls: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)


def serve_env(db_url: str, relay_port: int, **more: str) -> dict[str, str]:
    """The environment of a ``bohai serve`` on ``db_url`` that relays to 127.0.0.1:``relay_port``: HTTP and SMTP on
    free ports, and a 1 s outbox lease polled every 0.1 s so a killed instance's claimed rows are soon sent by another.
    ``more`` adds or overrides variables."""
    return {
        "BOHAI_DATABASE_URL": db_url.replace("postgresql+psycopg://", "postgresql://"),
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_SMTP_PORT": "0",
        "BOHAI_RELAY_PORT": str(relay_port),
        "BOHAI_LIAISON_OUTBOX_LEASE_SECONDS": "1",
        "BOHAI_LIAISON_OUTBOX_POLL_INTERVAL": "0.1",
        **more,
    }


@asynccontextmanager
async def serve_process(
    env: Mapping[str, str], *args: str, ready_timeout: float = 120.0, on_listen: OnListen | None = None
) -> AsyncIterator[ServeProcess]:
    """Start ``bohai serve`` with ``env`` added; yield once it printed ``ready`` (and every ``on_listen(face, url)``,
    started the moment its face reported its address, has finished); SIGTERM and reap on exit."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "liaison.cli",
        "serve",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    sp = ServeProcess(proc)
    assert proc.stdout is not None
    early: list[asyncio.Task[None]] = []

    async def read_until_ready() -> None:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise AssertionError("bohai serve exited before ready:\n" + "".join(sp.output))
            line = raw.decode("utf-8", "replace")
            sp.output.append(line)
            m = LINE.match(line.strip())
            if m:
                sp.urls[m[1]] = m[2]
                if on_listen is not None:
                    early.append(asyncio.create_task(on_listen(m[1], m[2])))
            if line.startswith("ready"):
                return

    try:
        await asyncio.wait_for(read_until_ready(), ready_timeout)
        await asyncio.gather(*early)
        yield sp
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
