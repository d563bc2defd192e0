"""Real LDAP clients against the real server over the demo directory (15,404 offices): each client's own requests.

ldap3 (sync and async strategies) and OpenLDAP's ldapsearch reproduce what Thunderbird, Outlook, Apple Contacts,
Evolution, KDE, Roundcube and Postfix send (DESIGN §4), with Chinese values; every returned entry is checked, and
result sets are compared with the answer computed independently from the Snapshot.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from directory import accounts
from directory.ldap import client as lc
from directory.ldap import controlvalues as cv
from directory.ldap import messages as m
from directory.ldap.filterstr import parse_filter
from directory.ldap.search import Limits, Searcher
from directory.ldap.server import LdapServer
from directory.ldap.service import bind_authenticator, load_tls, register_index
from directory.snapshot import OfficeView, SnapshotHolder
from directory.store import open_store
from liaison.settings import Settings
from tests.support.ldap import BASE, ThreadedServer, make_cert
from tests.support.need import need_tool

pytestmark = pytest.mark.slow  # a served demo directory per test, and the real clients

CA_UID = "130102000000"
CA_DN = f"uid={CA_UID},ou=130102000000,ou=130100000000,ou=130000000000,{BASE}"
SJZ_DN = f"ou=130100000000,ou=130000000000,{BASE}"


@pytest.fixture(scope="module")
def directory(
    templates: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ThreadedServer, SnapshotHolder]]:
    tmp = tmp_path_factory.mktemp("ldap-clients")
    url, _ = templates.copy("sqlite", True, tmp)
    cert, key = make_cert(tmp)
    # The module's clients together read far more than one client does in a minute: no scraping limit here
    # (tests/integration/web/test_scraping_limits.py covers it).
    settings = Settings().replace(ldap={"port": 0, "tls_cert": cert, "tls_key": key, "entries_per_minute": 0}).ldap
    store = open_store(url)
    holder = SnapshotHolder(store)
    indexer = register_index(holder, BASE)
    authenticate = bind_authenticator(accounts.logins_for(store, Settings().login), BASE)
    server = LdapServer(settings, lambda: holder.current.derived("ldap", indexer), authenticate, load_tls(settings))
    with ThreadedServer(server) as running:
        yield running, holder
    store.close()


@pytest.fixture(scope="module")
def srv(directory: tuple[ThreadedServer, SnapshotHolder]) -> ThreadedServer:
    return directory[0]


@pytest.fixture(scope="module")
def offices(directory: tuple[ThreadedServer, SnapshotHolder]) -> dict[str, OfficeView]:
    return dict(directory[1].current.offices)


def expected(offices: dict[str, OfficeView], pred: Callable[[OfficeView], bool]) -> set[str]:
    """uids of office cards whose office satisfies ``pred`` (the deputies' own cards are checked separately)."""
    return {code for code, o in offices.items() if pred(o)}


# -- ldapsearch ----------------------------------------------------------------------------------------------------


def ldapsearch(
    srv: ThreadedServer, *args: str, env: dict[str, str] | None = None
) -> tuple[int, list[dict[str, list[str]]]]:
    tool = need_tool("ldapsearch", "ldap-utils")
    cmd = [tool, "-x", "-LLL", "-o", "ldif-wrap=no", "-H", srv.urls["ldap"], *args]
    p = subprocess.run(cmd, capture_output=True, timeout=60, env={**os.environ, **(env or {})})
    return p.returncode, parse_ldif(p.stdout.decode("utf-8"))


def parse_ldif(text: str) -> list[dict[str, list[str]]]:
    out: list[dict[str, list[str]]] = []
    for block in text.strip().split("\n\n"):
        entry: dict[str, list[str]] = {}
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition(":: ")
            if sep:
                value = base64.b64decode(value).decode("utf-8")
            else:
                name, _, value = line.partition(": ")
            entry.setdefault(name, []).append(value)
        if entry:
            out.append(entry)
    return out


def test_thunderbird_autocomplete_with_ldapsearch(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    v = "长安"
    flt = f"(|(cn=*{v}*)(mail=*{v}*)(givenName=*{v}*)(sn=*{v}*))"
    rc, entries = ldapsearch(srv, "-b", BASE, "-z", "100", flt, "cn", "mail", "givenName", "sn", "street")
    assert rc == 0
    want = expected(offices, lambda o: v in o.unit_name or v in o.contact_name)
    assert {e["dn"][0].split(",")[0][4:] for e in entries} == want and len(want) >= 5
    for e in entries:
        assert any(v in x for a in ("cn", "givenName", "sn") for x in e.get(a, []))
        assert set(e) <= {"dn", "cn", "mail", "givenName", "sn", "street"}


def test_thunderbird_one_character_hits_the_size_limit(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    v = "郑"
    flt = f"(|(cn=*{v}*)(mail=*{v}*)(givenName=*{v}*)(sn=*{v}*))"
    rc, entries = ldapsearch(srv, "-b", BASE, "-z", "100", flt, "cn", "givenName")
    assert rc == 4  # ldapsearch exits with the result code: sizeLimitExceeded
    assert len(entries) == 100 < len(expected(offices, lambda o: v in o.contact_name or v in o.unit_name))
    assert all(v in e["givenName"][0] or v in e["cn"][0] for e in entries)


def test_thunderbird_quick_search_with_unknown_mozilla_attributes(
    srv: ThreadedServer, offices: dict[str, OfficeView]
) -> None:
    v = "桥西"
    attrs = ["cn", "givenName", "sn", "mail", "mozillaNickname", "mozillaSecondEmail", "mozillaHomeLocalityName"]
    attrs += ["telephoneNumber", "o", "title", "ou", "street", "l", "mozillaCustom1", "nsAIMid"]
    flt = "(|" + "".join(f"({a}=*{v}*)" for a in attrs) + ")"
    rc, entries = ldapsearch(srv, "-b", BASE, "-z", "100", flt)
    assert rc == 0
    want_offices = expected(offices, lambda o: v in o.unit_name or v in o.contact_name or v in o.address)
    uids = {e["uid"][0] for e in entries if "uid" in e}
    assert want_offices <= uids
    for e in entries:
        assert any(v in x for a in ("cn", "ou", "o", "street", "l", "description") for x in e.get(a, []))
        if "street" in e:
            assert len(e["street"]) == 1  # Thunderbird reads only the first value


def test_postfix_exact_mail_and_uid_with_ldapv2_bind(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    mail = offices[CA_UID].email
    rc, entries = ldapsearch(srv, "-P", "2", "-b", BASE, f"(mail={mail})", "mail")
    assert rc == 0 and entries == [{"dn": [CA_DN], "mail": [mail]}]
    rc, entries = ldapsearch(srv, "-P", "2", "-b", BASE, f"(uid={CA_UID})", "mail")
    assert rc == 0 and entries == [{"dn": [CA_DN], "mail": [mail]}]
    rc, entries = ldapsearch(srv, "-b", BASE, "(mail=nobody@demo.bohai.example)", "mail")
    assert rc == 0 and entries == []


def test_apple_contacts_empty_base_equality(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    office = offices[CA_UID]
    flt = f"(&(objectClass=person)(|(givenName={office.contact_name})(cn={office.unit_name})))"
    rc, entries = ldapsearch(srv, "-b", "", "-s", "sub", flt)
    want = expected(offices, lambda o: o.contact_name == office.contact_name or o.unit_name == office.unit_name)
    assert rc == 0 and {e["uid"][0] for e in entries} == want and CA_UID in want
    for e in entries:
        assert e["givenName"] == [office.contact_name] or e["cn"] == [office.unit_name]


def test_kde_objectclass_filter(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    v = "石家庄"
    flt = f"(&(|(objectclass=person)(objectclass=groupOfNames))(|(cn={v}*)(sn={v}*)(mail={v}*)(givenName={v}*)))"
    rc, entries = ldapsearch(srv, "-b", BASE, "-z", "100", flt, "cn", "objectClass")
    assert rc == 0
    assert {e["dn"][0].split(",")[0][4:] for e in entries} == expected(offices, lambda o: o.unit_name.startswith(v))
    assert all("person" in e["objectClass"] and e["cn"][0].startswith(v) for e in entries)


def test_starttls_and_ldaps_with_ldapsearch(srv: ThreadedServer, tmp_path: Path) -> None:
    ca = str(srv.server.settings.tls_cert)
    env = {"LDAPTLS_CACERT": ca, "LDAPTLS_REQCERT": "demand"}
    rc, entries = ldapsearch(srv, "-ZZ", "-b", BASE, f"(uid={CA_UID})", "uid", env=env)
    assert rc == 0 and entries == [{"dn": [CA_DN], "uid": [CA_UID]}]
    tool = need_tool("ldapsearch", "ldap-utils")
    p = subprocess.run(
        [tool, "-x", "-LLL", "-H", srv.urls["ldaps"], "-b", BASE, f"(uid={CA_UID})", "uid"],
        capture_output=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert p.returncode == 0 and f"uid: {CA_UID}" in p.stdout.decode()
    untrusted = subprocess.run(
        [tool, "-x", "-ZZ", "-H", srv.urls["ldap"], "-b", BASE, "(uid=1)"],
        capture_output=True,
        timeout=60,
        env={**os.environ, "LDAPTLS_CACERT": "/etc/ssl/certs/ca-certificates.crt", "LDAPTLS_REQCERT": "demand"},
    )
    assert untrusted.returncode != 0  # the self-signed certificate is not trusted by default


# -- ldap3 ---------------------------------------------------------------------------------------------------------


def connect(srv: ThreadedServer, strategy: str = ldap3.SYNC, **kw: Any) -> ldap3.Connection:
    server = ldap3.Server(srv.urls["ldap"], get_info=ldap3.ALL, connect_timeout=10)
    return ldap3.Connection(server, auto_bind=True, client_strategy=strategy, **{"receive_timeout": 30, **kw})


def test_ldap3_reads_root_dse_and_schema_after_bind(srv: ThreadedServer) -> None:
    c = connect(srv)
    info = c.server.info
    assert info.naming_contexts == [BASE]
    assert m.OID_PAGED in [ctl[0] for ctl in info.supported_controls]
    assert c.server.schema is not None and "inetOrgPerson" in c.server.schema.object_classes
    assert c.server.schema.attribute_types["telephoneNumber"].oid == "2.5.4.20"
    assert c.extend.standard.who_am_i() in ("", None)
    c.unbind()


def test_outlook_default_filter(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    v = "桥西"
    c = connect(srv)
    flt = f"(&(mail=*)(|(mail={v}*)(|(cn={v}*)(|(sn={v}*)(givenName={v}*)))))"
    c.search(BASE, flt, attributes=["cn", "mail", "telephoneNumber", "title"], size_limit=100)
    assert c.result["result"] == 0
    got = {e.entry_dn: e for e in c.entries}
    want = expected(offices, lambda o: bool(o.email) and o.unit_name.startswith(v))
    assert {dn.split(",")[0][4:] for dn in got} == want and len(want) >= 2
    for e in c.entries:
        assert str(e.cn).startswith(v) and "@" in str(e.mail)
    c.unbind()


def test_outlook_browsing_with_sort_and_vlv(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    c = connect(srv)
    sort = lc.sort_request(cv.SortKey("cn", None, False), critical=True)
    vlv = lc.vlv_request(0, 19, 1, 0)
    controls = [(sort.oid, True, sort.value), (vlv.oid, True, vlv.value)]
    c.search(SJZ_DN, "(objectClass=inetOrgPerson)", attributes=["cn"], controls=controls)
    assert c.result["result"] == 0
    names = [str(e.cn) for e in c.entries]
    all_names = sorted(
        [o.unit_name for code, o in offices.items() if code.startswith("1301")]
        + [c.name for code, o in offices.items() if code.startswith("1301") for c in o.contacts if c.email]
    )
    assert names == all_names[:20]
    vlv_resp = c.result["controls"][m.OID_VLV_RESP]["value"]
    assert vlv_resp  # targetPosition, contentCount, result
    vlv2 = lc.vlv_request(0, 9, 41, 0)
    c.search(
        SJZ_DN, "(objectClass=inetOrgPerson)", attributes=["cn"], controls=[controls[0], (vlv2.oid, True, vlv2.value)]
    )
    assert [str(e.cn) for e in c.entries] == all_names[40:50]
    c.unbind()


def test_evolution_root_dse_and_paged_cache_fill(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    c = connect(srv)
    c.search(
        "",
        "(objectclass=*)",
        search_scope=ldap3.BASE,
        attributes=["namingContexts", "subschemaSubentry", "supportedControl"],
    )
    dse = c.entries[0]
    assert str(dse.namingContexts) == BASE and str(dse.subschemaSubentry) == "cn=Subschema"
    seen = list(
        c.extend.standard.paged_search(
            SJZ_DN, "(objectclass=*)", attributes=["cn", "mail"], paged_size=50, paged_criticality=False, generator=True
        )
    )
    uids = [e["dn"].split(",")[0] for e in seen if e["type"] == "searchResEntry" and e["dn"].startswith("uid=")]
    want = expected(offices, lambda o: o.region_code.startswith("1301"))
    want |= {
        f"{o.region_code}-{c.id}"
        for o in offices.values()
        if o.region_code.startswith("1301")
        for c in o.contacts
        if c.email
    }  # the deputies' own cards
    assert sorted(u.removeprefix("uid=") for u in uids) == sorted(want) and len(want) > 50
    c.unbind()


def test_roundcube_count_query_with_attribute_dn(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    v = "桥西"
    flt = f"(&(objectClass=inetOrgPerson)(|(cn=*{v}*)(mail=*{v}*)(sn=*{v}*)(givenName=*{v}*)))"
    rc, entries = ldapsearch(srv, "-b", BASE, flt, "dn")
    assert rc == 0
    want = expected(offices, lambda o: v in o.unit_name or v in o.contact_name)
    assert {e["dn"][0].split(",")[0][4:] for e in entries} == want and len(want) >= 3
    assert all(list(e) == ["dn"] for e in entries)  # `dn` is no attribute: only the DNs come back


def test_ldap3_async_strategy_and_abandon(srv: ThreadedServer, offices: dict[str, OfficeView]) -> None:
    # No receive timeout: with one, ldap3's receiver thread takes the error of its socket closed by unbind for a
    # timeout and retries forever, holding the GIL (it slowed every later test of its worker to a crawl).
    c = connect(srv, ldap3.ASYNC, receive_timeout=None)
    office = offices[CA_UID]
    first = c.search(BASE, f"(mail={office.email})", attributes=["mail", "givenName"])
    second = c.search(BASE, "(|(cn=*长*)(givenName=*长*))", attributes=["cn", "givenName"], size_limit=100)
    response, result = c.get_response(first)
    assert result["result"] == 0 and [r["dn"] for r in response] == [CA_DN]
    assert response[0]["attributes"]["givenName"] == [office.contact_name]
    response, result = c.get_response(second)
    assert result["result"] in (0, 4) and 0 < len(response) <= 100
    for r in response:
        assert any("长" in x for x in r["attributes"]["cn"] + r["attributes"]["givenName"])
    typing = c.search(BASE, "(|(cn=*郑*)(givenName=*郑*))", attributes=["cn"], size_limit=100)
    assert c.abandon(typing)  # Thunderbird abandons while the user types; the connection goes on
    third = c.search(BASE, f"(uid={CA_UID})", attributes=["uid"])
    response, result = c.get_response(third)
    assert [r["attributes"]["uid"] for r in response] == [[CA_UID]]
    receiver = c.strategy.receiver
    c.unbind()
    receiver.join(10)
    assert not receiver.is_alive()  # the client's thread ended with its connection


def test_ldap3_start_tls_and_compare(srv: ThreadedServer) -> None:
    import ssl

    tls = ldap3.Tls(ca_certs_file=srv.server.settings.tls_cert, validate=ssl.CERT_REQUIRED)
    server = ldap3.Server(srv.urls["ldap"], tls=tls, get_info=ldap3.NONE)
    c = ldap3.Connection(server, auto_bind=False, receive_timeout=30, check_names=False)
    c.open()
    assert c.start_tls()
    assert c.bind()
    assert c.compare(CA_DN, "uid", CA_UID) is True
    assert c.compare(CA_DN, "uid", "1") is False
    assert not c.add(f"uid=x,{BASE}", "inetOrgPerson", {"cn": "x", "sn": "x"})
    assert c.result["result"] == 53
    c.unbind()


def test_time_limit_stops_an_unindexed_scan_with_code_3(srv: ThreadedServer) -> None:
    ticks = iter(range(1_000_000))
    searcher = Searcher(srv.server.searcher.current, Limits(100_000, 2), clock=lambda: float(next(ticks)))
    flt = parse_filter("(!(description=*不存在的文字*))")  # Not: no index helps, every entry is evaluated
    req = m.SearchRequest(BASE, 2, 0, 0, 0, False, flt, ("1.1",))
    out = searcher.search(req, (), {})
    assert out.code == m.TIME_LIMIT and "time limit" in out.text
    assert 0 < len(out.entries) < 31_000  # what was found before the limit is still returned
    req = m.SearchRequest(BASE, 2, 0, 0, 0, False, parse_filter("(uid=130102000000)"), ("1.1",))
    assert searcher.search(req, (), {}).code == 0  # indexed lookups finish long before


# -- Postfix -------------------------------------------------------------------------------------------------------


def test_postmap_maps_the_role_address_to_the_office_mail(
    srv: ThreadedServer, offices: dict[str, OfficeView], tmp_path: Path
) -> None:
    postmap = need_tool("postmap", "postfix-ldap")
    domain = Settings().liaison.domain
    cf = tmp_path / "virtual.cf"
    cf.write_text(
        f"server_host = 127.0.0.1\nserver_port = {srv.port}\nsearch_base = {BASE}\nquery_filter = (uid=%u)\n"
        f"domain = {domain}\nresult_attribute = mail\nversion = 3\nbind = no\n"
    )

    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n")

    def query(key: str) -> subprocess.CompletedProcess[bytes]:
        cmd = [postmap, "-c", str(tmp_path), "-q", key, f"ldap:{cf}"]
        return subprocess.run(cmd, capture_output=True, timeout=60)

    p = query(f"{CA_UID}@{domain}")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().strip() == offices[CA_UID].email
    assert query(f"999999999999@{domain}").returncode == 1  # not found
    assert query(f"{CA_UID}@other.example").returncode == 1  # other domains are never looked up
