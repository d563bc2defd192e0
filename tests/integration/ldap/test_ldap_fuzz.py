"""Fuzzing the LDAP server with malformed and mutated PDUs (≥100,000 in total) while well-formed clients are served.

In-process, hypothesis drives seeds for a mutation engine over a corpus of valid requests (every operation, nested
filters, controls); each mutated PDU goes into a real ``Connection``; every byte the server writes back must frame
and decode, nothing may escape the protocol, and a well-formed connection keeps getting correct answers. Over real
sockets, a fuzzing thread hammers the server while ldap3 keeps searching.
"""

from __future__ import annotations

import random
import socket
import threading

import ldap3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from directory.ldap import client as lc
from directory.ldap import controlvalues as cv
from directory.ldap import messages as m
from directory.ldap.server import LdapServer
from tests.support.ldap import BASE, ThreadedServer, Wire, ldap_settings, search_op, small_index, split_responses

CA = "uid=130102000000,ou=130102000000,ou=130100000000,ou=130000000000," + BASE


def corpus() -> list[bytes]:
    ops = [
        lc.encode_bind(),
        lc.encode_bind("uid=postfix,ou=accounts," + BASE, "pw", version=2),
        search_op("(&(mail=*)(|(mail=张*)(|(cn=张*)(|(sn=张*)(givenName=张*)))))", size=100),
        search_op(
            "(|(cn=*长安*)(mail=*长安*)(givenName=*长安*)(sn=*长安*)(mozillaNickname=*长安*))", attrs=("cn", "mail")
        ),
        search_op("(!(&(objectClass=person)(telephoneNumber=+86 311 8765 4321)))", base="", scope=2),
        search_op("(&(cn>=a)(cn<=z)(title~=主任)(uid:caseIgnoreMatch:=x)(cn=a*b*c))", attrs=("+", "1.1")),
        search_op("(objectClass=*)", base="", scope=0, attrs=("namingContexts",)),
        search_op("(objectClass=*)", base="cn=Subschema", scope=0),
        m.tlv(m.COMPARE_REQ, m.enc_str(CA) + m.seq(m.enc_str("cn"), m.enc_str("长安"))),
        m.tlv(m.EXTENDED_REQ, m.enc_str(m.OID_WHOAMI, 0x80)),
        m.tlv(m.EXTENDED_REQ, m.enc_str(m.OID_STARTTLS, 0x80)),
        m.tlv(m.ADD_REQ, m.enc_str(CA) + m.seq()),
        bytes((m.ABANDON_REQ, 1, 3)),
    ]
    pdus = [lc.encode_message(n + 1, op) for n, op in enumerate(ops)]
    controls = (lc.paged_request(2), lc.sort_request(cv.SortKey("cn", None, True)), lc.vlv_request(1, 2, 1, 0))
    pdus.append(lc.encode_message(40, search_op("(objectClass=inetOrgPerson)"), controls[1:]))
    pdus.append(lc.encode_message(41, search_op("(objectClass=*)"), controls[:1]))
    pdus.append(lc.encode_message(42, search_op("(cn=*)"), (m.Control("1.2.3", True, b"\x01"),)))
    return pdus


CORPUS = corpus()


def mutate(rng: random.Random) -> bytes:
    p = bytearray(rng.choice(CORPUS))
    kind = rng.randrange(8)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            p[rng.randrange(len(p))] = rng.randrange(256)
    elif kind == 1:
        p = p[: rng.randrange(1, len(p))]
    elif kind == 2:
        at = rng.randrange(len(p))
        p[at:at] = rng.randbytes(rng.randint(1, 8))
    elif kind == 3:  # a length byte anywhere set to something else
        at = rng.randrange(1, len(p))
        p[at] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x84, 0xFF, p[at] + 1 & 0xFF, p[at] - 1 & 0xFF))
    elif kind == 4:
        other = rng.choice(CORPUS)
        p = p[: rng.randrange(len(p))] + other[rng.randrange(len(other)) :]
    elif kind == 5:
        p = bytearray(b"\x30" + rng.randbytes(rng.randint(0, 40)))
    elif kind == 6:  # nest the operation in a random constructed tag
        p = bytearray(m.seq(m.enc_int(rng.randrange(1 << 31)), m.tlv(rng.randrange(256), bytes(p[2:]))))
    else:
        p = bytearray(rng.randbytes(rng.randint(1, 64)))
    return bytes(p)


def check_served(control: Wire) -> None:
    found, done = control.search("(uid=130102000000)", attrs=("cn",))
    assert done.code == 0 and [e.dn for e in found] == [CA]
    assert found[0].attrs == {"cn": ["长安区流动人口服务管理中心"]}


async def test_100k_mutated_pdus_in_process_never_stop_the_server() -> None:
    server = LdapServer(ldap_settings(max_pdu_size=4096, size_limit=50), (lambda idx: lambda: idx)(small_index()))
    control = Wire(server, peer="203.0.113.1")
    counts = {"pdus": 0, "closed": 0}
    per_example = 520

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.integers(min_value=0, max_value=2**64))
    def fuzz(seed: int) -> None:
        rng = random.Random(seed)
        wire = Wire(server)
        for _ in range(per_example):
            wire.feed(mutate(rng))
            counts["pdus"] += 1
            split_responses(wire.transport.data)  # whatever was answered frames and decodes
            wire.transport.data.clear()
            if wire.transport.closing:
                counts["closed"] += 1
                wire.conn.connection_lost(None)
                wire = Wire(server)
        wire.conn.connection_lost(None)
        check_served(control)

    fuzz()
    assert counts["pdus"] >= 100_000
    assert 0 < counts["closed"] < counts["pdus"]
    assert len(server.connections) == 1  # only the control connection is left
    check_served(control)


def _hammer(port: int, seed: int, pdus: int, errors: list[BaseException]) -> None:
    rng = random.Random(seed)
    try:
        sent = 0
        while sent < pdus:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                count = rng.randint(1, 20)
                batch = b"".join(mutate(rng) for _ in range(count))
                sent += count
                try:
                    s.sendall(batch)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):  # until the server closes (bounded by the socket timeout)
                        pass
                except (ConnectionResetError, BrokenPipeError):
                    pass  # the server may close a connection at the first malformed PDU
    except BaseException as exc:
        errors.append(exc)


def test_fuzzing_over_sockets_while_ldap3_is_served() -> None:
    server = LdapServer(ldap_settings(max_pdu_size=4096), (lambda idx: lambda: idx)(small_index()))
    with ThreadedServer(server) as srv:
        errors: list[BaseException] = []
        hammers = [threading.Thread(target=_hammer, args=(srv.port, n, 3000, errors)) for n in range(2)]
        for t in hammers:
            t.start()
        c = ldap3.Connection(ldap3.Server(srv.urls["ldap"], get_info=ldap3.NONE), auto_bind=True, receive_timeout=10)
        rounds = 0
        while any(t.is_alive() for t in hammers) and rounds < 5000:
            c.search(BASE, "(|(cn=*长安*)(givenName=*长安*))", attributes=["cn"])
            assert c.result["result"] == 0 and [e.entry_dn for e in c.entries] == [CA]
            rounds += 1
        for t in hammers:
            t.join(60)
        assert not errors, errors
        assert rounds > 0
        c.search(BASE, "(uid=130102000000)", attributes=["uid"])
        assert [e.entry_dn for e in c.entries] == [CA]
        c.unbind()
