"""A real OpenLDAP ``slapd`` for the sync tests: its own suffix, a writable root DN, 127.0.0.1 on a free port.

``start_slapd`` writes a slapd.conf (mdb; the core, cosine and inetorgperson schemas from /etc/ldap/schema), loads
the seed LDIF with ``slapadd``, starts ``slapd`` in the foreground and waits (bounded) for the log line saying it
listens; ``Slapd.stop`` ends that one process by its PID. The ``slapd`` fixture is one server per test module. Reads go
through ldap3 so that tests see what any client sees.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

from tests.support.need import need, need_tool

SUFFIX = "dc=province,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "slapd-test-secret"
SCHEMAS = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")
SEED = f"""\
dn: {SUFFIX}
objectClass: top
objectClass: dcObject
objectClass: organization
o: province
dc: province

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people
"""


def _conf(folder: Path, suffix: str) -> Path:
    (folder / "db").mkdir()
    lines = [f"include {SCHEMAS / name}.schema" for name in ("core", "cosine", "inetorgperson")]
    lines.append(f"pidfile {folder / 'slapd.pid'}")
    if (MODULES / "back_mdb.so").exists() or (MODULES / "back_mdb.la").exists():
        lines += [f"modulepath {MODULES}", "moduleload back_mdb"]
    lines += ["database mdb", f'suffix "{suffix}"', f'rootdn "cn=admin,{suffix}"', f"rootpw {ROOT_PASSWORD}"]
    lines += [f"directory {folder / 'db'}", "maxsize 1073741824", "dbnosync", "index objectClass,uid,cn eq"]
    conf = folder / "slapd.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="ascii")
    return conf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Slapd:
    url: str
    suffix: str
    root_dn: str
    password: str
    proc: subprocess.Popen[bytes]

    def connection(self) -> ldap3.Connection:
        conn = ldap3.Connection(ldap3.Server(self.url), self.root_dn, self.password, raise_exceptions=True)
        conn.bind()
        return conn

    def entries(
        self, base: str, flt: str = "(objectClass=*)", attributes: tuple[str, ...] = ("*",), *, scope: str = "LEVEL"
    ) -> dict[str, dict[str, list[str]]]:
        """Every entry one level under ``base`` (or ``base`` itself with scope BASE) that matches ``flt``:
        DN (lower case) → attribute (lower case) → values."""
        conn = self.connection()
        try:
            found = conn.extend.standard.paged_search(
                base, flt, search_scope=scope, attributes=list(attributes), paged_size=500, generator=True
            )
            return {
                item["dn"].lower(): {k.lower(): [v.decode() for v in vs] for k, vs in item["raw_attributes"].items()}
                for item in found
                if item["type"] == "searchResEntry"
            }
        finally:
            conn.unbind()

    def entry(self, dn: str) -> dict[str, list[str]] | None:
        """One entry's attributes (lower-case names), or None if there is none at ``dn``."""
        try:
            return next(iter(self.entries(dn, scope="BASE").values()), None)
        except ldap3.core.exceptions.LDAPNoSuchObjectResult:
            return None

    def add_ldif(self, ldif: str) -> None:
        """Add entries written as simple LDIF (one ``name: value`` per line, UTF-8 values allowed)."""
        conn = self.connection()
        try:
            for block in ldif.strip().split("\n\n"):
                lines = [line.split(": ", 1) for line in block.strip().splitlines()]
                attrs: dict[str, list[str]] = {}
                for name, value in lines[1:]:
                    attrs.setdefault(name, []).append(value)
                conn.add(lines[0][1], attributes=attrs)
        finally:
            conn.unbind()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_slapd(folder: Path, suffix: str = SUFFIX, seed: str = SEED) -> Slapd:
    slapd = need_tool("slapd", "slapd")
    slapadd = need_tool("slapadd", "slapd")
    need((SCHEMAS / "inetorgperson.schema").exists(), "the OpenLDAP schemas in /etc/ldap/schema (package slapd)")
    conf = _conf(folder, suffix)
    (folder / "seed.ldif").write_text(seed, encoding="utf-8")
    loaded = subprocess.run(
        [slapadd, "-q", "-f", str(conf), "-l", str(folder / "seed.ldif")], capture_output=True, text=True, check=False
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    # -d 8 (connections) logs "daemon: epoll: listen=…" once the daemon thread listens: the readiness signal
    # ("slapd starting" comes before listen(), when a connection would still be refused)
    proc = subprocess.Popen(
        [slapd, "-d", "8", "-f", str(conf), "-h", f"{url}/"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    ready, started = threading.Event(), threading.Event()
    log: list[bytes] = []
    threading.Thread(target=_drain, args=(proc, ready, started, log), daemon=True).start()
    server = Slapd(url, suffix, f"cn=admin,{suffix}", ROOT_PASSWORD, proc)
    if not ready.wait(30) or not started.is_set():
        server.stop()
        raise RuntimeError("slapd did not start: " + b"".join(log[-5:]).decode(errors="replace"))
    return server


def _drain(proc: subprocess.Popen[bytes], ready: threading.Event, started: threading.Event, log: list[bytes]) -> None:
    """Read slapd's log until it ends: ``started`` and ``ready`` once it listens, ``ready`` alone at exit."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if not started.is_set():
            log.append(line)
            if b"epoll: listen=" in line:
                started.set()
                ready.set()
    ready.set()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One slapd per test module (suffix ``dc=province,dc=example``, root DN with a password)."""
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()
