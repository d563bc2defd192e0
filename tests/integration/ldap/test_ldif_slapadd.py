"""The LDIF export of the full demo directory loads into a real OpenLDAP database with ``slapadd``.

An empty slapd configuration is made in a temp folder (mdb backend, suffix = the base DN, the standard core, cosine
and inetorgperson schemas from /etc/ldap/schema); ``slapadd`` must accept every entry and ``slapcat`` must give back
as many entries as were exported. A second, broken entry proves the same setup does reject schema violations.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from liaison.cli import main
from tests.support.need import need, need_tool

BASE_DN = "dc=bohai,dc=example"
SCHEMAS = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")


def slapd_conf(folder: Path) -> Path:
    data = folder / "mdb"
    data.mkdir()
    lines = [*(f"include {SCHEMAS / name}.schema" for name in ("core", "cosine", "inetorgperson"))]
    if (MODULES / "back_mdb.so").exists() or (MODULES / "back_mdb.la").exists():
        lines += [f"modulepath {MODULES}", "moduleload back_mdb"]
    lines += ["database mdb", f'suffix "{BASE_DN}"', f"directory {data}", "maxsize 1073741824", "dbnosync"]
    conf = folder / "slapd.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="ascii")
    return conf


@pytest.mark.slow
def test_demo_ldif_loads_into_slapd(
    sqlite_demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slapadd = need_tool("slapadd", "slapd")
    slapcat = need_tool("slapcat", "slapd")
    need((SCHEMAS / "inetorgperson.schema").exists(), "the OpenLDAP schemas in /etc/ldap/schema (package slapd)")
    monkeypatch.setenv("BOHAI_DATABASE_URL", sqlite_demo_url)
    monkeypatch.setenv("BOHAI_LDAP_BASE_DN", BASE_DN)
    ldif = tmp_path / "demo.ldif"
    assert main(["export", "--format", "ldif", "-o", str(ldif)]) == 0
    text = ldif.read_text(encoding="ascii")
    exported = sum(1 for line in text.splitlines() if line.startswith("dn:"))
    assert exported == 1 + 15404 + 15404 + 1191  # base, every region, every demo office, demo deputies
    conf = slapd_conf(tmp_path)
    # -q skips the database consistency work, not the schema checks (see the test below)
    added = subprocess.run(
        [slapadd, "-q", "-f", str(conf), "-l", str(ldif)], capture_output=True, text=True, timeout=240, check=False
    )
    assert added.returncode == 0, added.stderr[-2000:]
    dumped = subprocess.run([slapcat, "-f", str(conf)], capture_output=True, text=True, timeout=120, check=False)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert sum(1 for line in dumped.stdout.splitlines() if line.startswith("dn:")) == exported
    unfolded = dumped.stdout.replace("\n ", "")
    assert "dn: uid=130102000000,ou=130102000000,ou=130100000000,ou=130000000000,dc=bohai,dc=example\n" in unfolded


def test_the_same_slapadd_setup_rejects_a_schema_violation(tmp_path: Path) -> None:
    slapadd = need_tool("slapadd", "slapd")
    bad = tmp_path / "bad.ldif"
    bad.write_text(
        f"dn: {BASE_DN}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: x\ndc: bohai\n\n"
        f"dn: uid=1,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: 1\ncn: x\n",
        encoding="ascii",
    )
    added = subprocess.run(
        [slapadd, "-q", "-f", str(slapd_conf(tmp_path)), "-l", str(bad)], capture_output=True, text=True, check=False
    )
    assert added.returncode != 0 and "requires attribute 'sn'" in added.stderr
