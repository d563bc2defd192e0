"""The LDAP protocol object fed with request bytes in-process: every operation, control, limit and failure mode."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from directory import accounts
from directory.ldap import client as lc
from directory.ldap import controlvalues as cv
from directory.ldap import messages as m
from directory.ldap import selection
from directory.ldap.server import LdapServer
from directory.ldap.service import bind_authenticator
from directory.settings import Settings
from directory.store import Store
from tests.support.ldap import BASE, Wire, search_op, small_index

CA = "uid=130102000000,ou=130102000000,ou=130100000000,ou=130000000000," + BASE
SJZ_OU = "ou=130100000000,ou=130000000000," + BASE


def make_server(store: Store | None = None, login: dict[str, Any] | None = None, **changes: Any) -> LdapServer:
    """A server over the small index; with ``store``, its accounts bind through ``accounts.Logins``."""
    index = small_index()
    settings = Settings().replace(ldap={"port": 0, **changes}, login=login or {})
    authenticate = None
    if store is not None:
        authenticate = bind_authenticator(accounts.logins_for(store, settings.login), settings.ldap.base_dn)
    return LdapServer(settings.ldap, lambda: index, authenticate)


async def test_anonymous_binds_v2_and_v3_and_refusals() -> None:
    w = Wire(make_server())
    for version, code in ((3, m.SUCCESS), (2, m.SUCCESS), (4, m.PROTOCOL_ERROR)):
        w.request(lc.encode_bind(version=version))
        (r,) = w.take()
        assert (r.tag, r.code) == (m.BIND_RESP, code)
    w.request(m.tlv(m.BIND_REQ, m.enc_int(3) + m.enc_str("") + m.tlv(0xA3, m.enc_str("PLAIN"))))
    assert w.take()[0].code == m.AUTH_METHOD_NOT_SUPPORTED
    w.request(lc.encode_bind("uid=reader,ou=accounts," + BASE, ""))
    (r,) = w.take()
    assert r.code == m.UNWILLING_TO_PERFORM and "unauthenticated" in r.text


async def test_search_scopes_and_empty_base_covers_the_whole_directory() -> None:
    w = Wire(make_server())
    found, done = w.search("(objectClass=*)", base=SJZ_OU, scope=1)
    assert done.code == 0
    assert [e.dn.split(",")[0] for e in found] == ["uid=130100000000", "ou=130102000000", "ou=130104000000"]
    found, _ = w.search("(objectClass=*)", base=SJZ_OU, scope=0)
    assert [e.dn for e in found] == [SJZ_OU]
    found, _ = w.search("(mail=ca@example.org)", base="", scope=2)  # Apple Contacts
    assert [e.dn for e in found] == [CA]
    assert found[0].attrs["cn"] == ["长安区流动人口服务管理中心"]
    found, _ = w.search("(objectClass=inetOrgPerson)", base="")
    assert {e.attrs["uid"][0] for e in found} == {
        "110101000000",
        "130100000000",
        "130102000000",
        "130102000000-7",
        "130104000000",
    }


async def test_base_dn_spelling_and_missing_entries() -> None:
    w = Wire(make_server())
    found, done = w.search(
        "(objectClass=*)",
        base="UID=130102000000, OU=130102000000,ou=130100000000,ou=130000000000,DC=Bohai,dc=EXAMPLE",
        scope=0,
    )
    assert done.code == 0 and [e.dn for e in found] == [CA]
    _, done = w.search("(objectClass=*)", base="ou=999,ou=130100000000,ou=130000000000," + BASE)
    assert done.code == m.NO_SUCH_OBJECT and "no such object" in done.text
    _, done = w.search("(objectClass=*)", base="this is no dn")
    assert done.code == m.INVALID_DN_SYNTAX


async def test_attribute_selection_star_plus_one_one_and_types_only() -> None:
    w = Wire(make_server())
    (e,), _ = w.search("(uid=130102000000)", attrs=("cn", "MAIL", "mozillaHomeUrl"))
    assert e.attrs == {"cn": ["长安区流动人口服务管理中心"], "mail": ["ca@example.org"]}
    (e,), _ = w.search("(uid=130102000000)", attrs=("1.1",))
    assert e.attrs == {} and e.dn == CA
    (e,), _ = w.search("(uid=130102000000)", attrs=("+",))
    assert e.attrs == {"entryDN": [CA], "subschemaSubentry": ["cn=Subschema"], "hasSubordinates": ["FALSE"]}
    (e,), _ = w.search("(uid=130102000000)", attrs=("*",), types_only=True)
    assert e.attrs["telephoneNumber"] == [] and "objectClass" in e.attrs
    (e,), _ = w.search("(uid=130102000000)")
    assert e.attrs["telephoneNumber"] == ["0311-87654321"] and e.attrs["street"] == ["中山东路1号"]


async def test_root_dse_and_subschema_are_public_even_without_anonymous_search() -> None:
    w = Wire(make_server(anonymous_search=False))
    (dse,), done = w.search("(objectClass=*)", base="", scope=0)
    assert done.code == 0
    assert dse.attrs["namingContexts"] == [BASE] and "3" in dse.attrs["supportedLDAPVersion"]
    assert set(dse.attrs["supportedControl"]) == {m.OID_PAGED, m.OID_SORT_REQ, m.OID_VLV_REQ}
    assert m.OID_STARTTLS not in dse.attrs["supportedExtension"]  # no certificate configured
    (schema,), _ = w.search("(objectClass=subschema)", base="cn=subschema", scope=0, attrs=("attributeTypes",))
    assert any("'telephoneNumber'" in a for a in schema.attrs["attributeTypes"])
    _, done = w.search("(objectClass=*)")
    assert done.code == m.INSUFFICIENT_ACCESS and "bind first" in done.text


async def test_size_limit_returns_the_limit_and_code_4() -> None:
    w = Wire(make_server(size_limit=3))
    found, done = w.search("(objectClass=*)", base="")
    assert len(found) == 3 and done.code == m.SIZE_LIMIT
    found, done = w.search("(objectClass=*)", base="", size=2)
    assert len(found) == 2 and done.code == m.SIZE_LIMIT
    found, done = w.search("(objectClass=person)", base=SJZ_OU, scope=1, size=2)
    assert len(found) == 1 and done.code == m.SUCCESS
    unlimited = Wire(make_server(size_limit=0))  # 0 in the settings: no server limit, only the client's
    found, done = unlimited.search("(objectClass=*)", base="")
    assert len(found) == 12 and done.code == m.SUCCESS
    found, done = unlimited.search("(objectClass=*)", base="", size=5)
    assert len(found) == 5 and done.code == m.SIZE_LIMIT


async def test_paged_results_walk_the_set_and_always_answer_the_control() -> None:
    w = Wire(make_server())
    seen: list[str] = []
    cookie = b""
    for _ in range(10):
        found, done = w.search("(objectClass=*)", lc.paged_request(4, cookie), base="")
        seen += [e.dn for e in found]
        size, cookie = cv.decode_paged(done.controls[m.OID_PAGED])
        assert done.code == 0 and len(found) <= 4 and size == 12  # size: the whole set's count
        if not cookie:
            break
    all_found, _ = w.search("(objectClass=*)", base="")
    assert seen == [e.dn for e in all_found] and len(seen) == 12
    _, done = w.search("(objectClass=*)", lc.paged_request(4, b"stale-cookie"), base="")
    assert done.code == m.UNWILLING_TO_PERFORM and m.OID_PAGED in done.controls


async def test_sort_and_vlv_browse_like_outlook() -> None:
    w = Wire(make_server())
    sort = lc.sort_request(cv.SortKey("cn", None, False))
    found, done = w.search("(objectClass=inetOrgPerson)", sort)
    names = [e.attrs["cn"][0] for e in found]
    assert names == sorted(names) and m.OID_SORT_RESP in done.controls
    found, done = w.search("(objectClass=inetOrgPerson)", sort, lc.vlv_request(0, 1, 2, 0))
    assert [e.attrs["cn"][0] for e in found] == names[1:3]
    assert m.OID_VLV_RESP in done.controls
    _, done = w.search("(objectClass=inetOrgPerson)", lc.vlv_request(0, 1, 2, 0))
    assert done.code == m.SORT_CONTROL_MISSING


async def test_unsupported_critical_control_is_12_and_non_critical_ignored() -> None:
    w = Wire(make_server())
    _, done = w.search("(uid=130102000000)", m.Control("1.2.3.4.5", True, None))
    assert done.code == m.UNAVAILABLE_CRITICAL_EXTENSION and "1.2.3.4.5" in done.text
    found, done = w.search("(uid=130102000000)", m.Control("1.2.3.4.5", False, b"x"))
    assert done.code == 0 and len(found) == 1


async def test_compare_results() -> None:
    w = Wire(make_server())

    def compare(dn: str, attr: str, value: str) -> int | None:
        ava = m.seq(m.enc_str(attr), m.enc_str(value))
        w.request(m.tlv(m.COMPARE_REQ, m.enc_str(dn) + ava))
        (r,) = w.take()
        assert r.tag == m.COMPARE_RESP
        return r.code

    assert compare(CA, "telephoneNumber", "+86 311 8765 4321") == m.COMPARE_TRUE
    assert compare(CA, "givenName", "李四") == m.COMPARE_FALSE
    assert compare(CA, "facsimileTelephoneNumber", "1") == m.NO_SUCH_ATTRIBUTE
    assert compare(CA, "mozillaNickname", "1") == m.UNDEFINED_ATTRIBUTE_TYPE
    assert compare("uid=x," + BASE, "cn", "1") == m.NO_SUCH_OBJECT


async def test_writes_are_refused_with_53_and_the_matching_response() -> None:
    w = Wire(make_server())
    for req_tag, resp_tag in m.WRITE_RESPONSES.items():
        w.request(bytes((req_tag,)) + b"\x00" if req_tag == m.DEL_REQ else m.tlv(req_tag, m.enc_str(CA)))
        (r,) = w.take()
        assert (r.tag, r.code) == (resp_tag, m.UNWILLING_TO_PERFORM)
    found, _ = w.search("(uid=130102000000)")
    assert len(found) == 1


async def test_extended_operations() -> None:
    w = Wire(make_server())
    w.request(m.tlv(m.EXTENDED_REQ, m.enc_str(m.OID_WHOAMI, 0x80)))
    (r,) = w.take()
    assert r.code == 0 and r.value == b""
    w.request(m.tlv(m.EXTENDED_REQ, m.enc_str(m.OID_STARTTLS, 0x80)))
    assert w.take()[0].code == m.UNAVAILABLE
    w.request(m.tlv(m.EXTENDED_REQ, m.enc_str("1.2.3.99", 0x80)))
    (r,) = w.take()
    assert r.code == m.PROTOCOL_ERROR and "1.2.3.99" in r.text


async def test_unknown_operation_gets_notice_of_disconnection() -> None:
    w = Wire(make_server())
    w.request(m.tlv(0x7F & 0x5F, b""))  # application 31, primitive: no such operation
    (r,) = w.take()
    assert r.msgid == 0 and r.name == m.OID_NOTICE_OF_DISCONNECTION and r.code == m.PROTOCOL_ERROR
    assert w.transport.closing


async def test_malformed_and_oversized_pdus_close_only_that_connection() -> None:
    server = make_server(max_pdu_size=4096)
    bad, big, good = Wire(server), Wire(server), Wire(server)
    bad.feed(b"\x30\x05\x02\x01\x01\x63\x09garbage")
    (r,) = bad.take()
    assert r.name == m.OID_NOTICE_OF_DISCONNECTION and "malformed" in r.text and bad.transport.closing
    big.feed(b"\x30\x83\x10\x00\x00")
    (r,) = big.take()
    assert "exceeds the limit" in r.text and big.transport.closing
    found, done = good.search("(uid=130102000000)")
    assert done.code == 0 and len(found) == 1 and not good.transport.closing


async def test_pdus_split_across_reads_and_pipelined() -> None:
    w = Wire(make_server())
    data = lc.encode_message(1, search_op("(uid=130102000000)")) + lc.encode_message(2, search_op("(uid=110101000000)"))
    for i in range(len(data)):
        w.feed(data[i : i + 1])
    got = w.take()
    assert [(r.msgid, r.tag) for r in got] == [
        (1, m.SEARCH_ENTRY),
        (1, m.SEARCH_DONE),
        (2, m.SEARCH_ENTRY),
        (2, m.SEARCH_DONE),
    ]


async def test_connection_limit_and_idle_timeout() -> None:
    server = make_server(max_connections=1, idle_timeout=300)
    first, second = Wire(server), Wire(server)
    (r,) = second.take()
    assert r.code == m.BUSY and second.transport.closing and not first.transport.closing
    first.conn.last_activity -= 301
    first.conn._idle_check()
    (r,) = first.take()
    assert r.code == m.UNAVAILABLE and "idle" in r.text and first.transport.closing


async def test_unbind_closes() -> None:
    w = Wire(make_server())
    w.request(m.UNBIND_REQ.to_bytes(1, "big") + b"\x00")
    assert w.transport.closing and w.take() == []


# -- service accounts, throttling, abandon -------------------------------------------------------------------------


@pytest.fixture
def account_store(store: Store) -> Store:
    store.create_account("postfix", PasswordHasher().hash("s3cret-口令"), "reader", None, "test")
    store.create_account("old", PasswordHasher().hash("pw"), "reader", None, "test")
    store.update_account("old", "test", disabled=True)
    return store


async def wait_idle(w: Wire) -> None:
    """Await the connection's running bind (and any bind started from its queue)."""
    for _ in range(10):
        work = w.conn.work
        if work is None or (work.done() and not w.conn.busy):
            return
        await work
    raise AssertionError("connection stayed busy")


async def test_service_account_bind_whoami_and_anonymous_search_off(account_store: Store) -> None:
    server = make_server(account_store, anonymous_search=False)
    w = Wire(server)
    dn = "uid=postfix,ou=accounts," + BASE
    msgid = w.request(lc.encode_bind(dn, "s3cret-口令"))
    await wait_idle(w)
    (r,) = w.take()
    assert (r.msgid, r.code) == (msgid, m.SUCCESS)
    w.request(m.tlv(m.EXTENDED_REQ, m.enc_str(m.OID_WHOAMI, 0x80)))
    assert w.take()[0].value == f"dn:{dn}".encode()
    found, done = w.search("(uid=130102000000)", attrs=("mail",))
    assert done.code == 0 and found[0].attrs == {"mail": ["ca@example.org"]}
    for bad_dn, pw in (
        (dn, "wrong"),
        ("uid=old,ou=accounts," + BASE, "pw"),
        ("uid=nobody,ou=accounts," + BASE, "x"),
        ("cn=postfix," + BASE, "s3cret-口令"),
    ):
        w.request(lc.encode_bind(bad_dn, pw))
        await wait_idle(w)
        (r,) = w.take()
        assert r.code == m.INVALID_CREDENTIALS, bad_dn
    _, done = w.search("(uid=130102000000)")
    assert done.code == m.INSUFFICIENT_ACCESS  # a failed bind leaves the connection anonymous


async def test_bind_failures_are_throttled_per_address(account_store: Store) -> None:
    server = make_server(account_store, login={"free_failures": 3, "first_delay": 60})
    now = [1000.0]
    accounts.logins_for(account_store, Settings().login).guard.clock = lambda: now[0]  # the one made above
    w = Wire(server, peer="198.51.100.7")
    dn = "uid=postfix,ou=accounts," + BASE
    codes = []
    for pw in ("a", "b", "c", "s3cret-口令"):
        w.request(lc.encode_bind(dn, pw))
        await wait_idle(w)
        (r,) = w.take()
        codes.append(r.code)
        text = r.text
    assert codes == [m.INVALID_CREDENTIALS] * 3 + [m.BUSY] and "too many failed binds" in text
    other = Wire(server, peer="198.51.100.8")
    other.request(lc.encode_bind(dn, "s3cret-口令"))
    await wait_idle(other)
    assert other.take()[0].code == m.SUCCESS
    now[0] += 61
    w.request(lc.encode_bind(dn, "s3cret-口令"))
    await wait_idle(w)
    assert w.take()[0].code == m.SUCCESS


async def test_abandon_drops_a_queued_request(account_store: Store) -> None:
    w = Wire(make_server(account_store))
    bind_id = w.request(lc.encode_bind("uid=postfix,ou=accounts," + BASE, "s3cret-口令"))
    search_id = w.request(search_op("(uid=130102000000)"))  # queued behind the bind
    kept_id = w.request(search_op("(uid=110101000000)"))
    w.request(bytes((m.ABANDON_REQ, 1, search_id)))
    await wait_idle(w)
    got = w.take()
    assert [r.msgid for r in got] == [bind_id, kept_id, kept_id]


async def test_requests_queued_behind_a_bind_are_bounded(account_store: Store) -> None:
    from directory.ldap.server import MAX_PENDING

    w = Wire(make_server(account_store))
    w.request(lc.encode_bind("uid=postfix,ou=accounts," + BASE, "s3cret-口令"))
    for _ in range(MAX_PENDING + 1):
        w.request(search_op("(uid=130102000000)"))
    await wait_idle(w)
    got = w.take()
    assert got[0].name == m.OID_NOTICE_OF_DISCONNECTION and got[0].code == m.BUSY and "queued" in got[0].text
    assert w.transport.closing


def test_what_a_client_chooses_is_not_kept_by_the_remembered_answers() -> None:
    """Selections and result ops are remembered for speed, but a long attribute list or a result text (which can
    quote a client's DN) is not: a client sending many of them cannot fill the server's memory."""
    before = selection._selection.cache_info().currsize
    long_list = tuple(f"x-attribute-{n:04d}" for n in range(100))
    assert selection.Selection.of(long_list, False) == selection.Selection.of(long_list, False)
    assert selection._selection.cache_info().currsize == before
    selection.Selection.of(("cn", "mail"), False)
    assert selection.Selection.of(("cn", "mail"), False) is selection.Selection.of(("cn", "mail"), False)
    bare = m._bare_result.cache_info().currsize
    long_dn = "ou=" + "x" * 5000
    assert m.result(m.SEARCH_DONE, m.NO_SUCH_OBJECT, f"no such object: {long_dn}", long_dn).count(b"x" * 5000) == 2
    assert m._bare_result.cache_info().currsize == bare
    assert m.result(m.SEARCH_DONE, m.SUCCESS) == bytes((m.SEARCH_DONE, 7, 0x0A, 1, 0, 0x04, 0, 0x04, 0))
