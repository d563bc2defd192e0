"""Helpers for the LDAP tests: a small directory, response decoding, an in-process connection, a threaded server.

The in-process ``Wire`` feeds request bytes straight into ``server.Connection`` (DESIGN §6.11: LDAP bytes into the
protocol object) and collects what it writes; ``ThreadedServer`` runs the real server on 127.0.0.1 port 0 in its own
event loop thread so blocking clients (ldap3 sync/async strategies, ldapsearch, postmap) can talk to it.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
from hypothesis import strategies as st

from directory.ldap import client as lc
from directory.ldap import filtertree as ft
from directory.ldap import messages as m
from directory.ldap.backend import DirectoryIndex
from directory.ldap.ber import children, dec_int, frame_size, read_tlv
from directory.ldap.filterstr import parse_filter
from directory.ldap.indexing import build_index
from directory.ldap.server import Connection, LdapServer
from directory.settings import LdapSettings, Settings
from directory.snapshot import Snapshot, build
from tests.support.need import need_tool
from tests.support.snapshots import office_row, region_row

BASE = "dc=bohai,dc=example"


def _office(oid: int, code: str, unit: str, contact: str, phone: str, email: str) -> dict[str, Any]:
    values = {"unit_name": unit, "contact_name": contact, "phone": phone, "email": email}
    return office_row(oid, code, position="主任", address="中山东路1号", postal_code="050000", **values)


def small_snapshot() -> Snapshot:
    """Two provinces, a city, three counties; four offices (one without e-mail) and one extra contact."""
    regions = [
        region_row("110000000000", "北京市", "province", None),
        region_row("110101000000", "东城区", "county", "110000000000"),
        region_row("130000000000", "河北省", "province", None),
        region_row("130100000000", "石家庄市", "city", "130000000000"),
        region_row("130102000000", "长安区", "county", "130100000000"),
        region_row("130104000000", "桥西区", "county", "130100000000"),
    ]
    offices = [
        _office(1, "110101000000", "东城区流动人口服务中心", "王芳", "+861065123456", "dc@example.org"),
        _office(2, "130100000000", "石家庄市流动人口服务管理办公室", "李强", "+8631186012345", "sjz@example.org"),
        _office(3, "130102000000", "长安区流动人口服务管理中心", "张伟", "+8631187654321", "ca@example.org"),
        _office(4, "130104000000", "桥西区流动人口服务站", "赵静", "+8613800138000", ""),
    ]
    contacts = [
        {"id": 7, "office_id": 3, "name": "刘洋", "position": "科员", "phone": "", "email": "ly@example.org"}
        | {"is_liaison": True, "demo": False}
    ]
    return build(regions, offices, contacts, generation=1)


def small_index() -> DirectoryIndex:
    return build_index(small_snapshot(), BASE)


def ldap_settings(**changes: Any) -> LdapSettings:
    return Settings().replace(ldap={"port": 0, "entries_per_minute": 0, **changes}).ldap


def make_cert(directory: Path, *, days: int = 1) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 valid for ``days`` and its key, written by openssl into ``directory``:
    (cert, key)."""
    openssl = need_tool("openssl", "openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days), "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [openssl, *args, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


def ldap_values(port: int, uid: str, attribute: str) -> list[str]:
    """The values of ``attribute`` of the office ``uid`` as an anonymous ldap3 client reads them from 127.0.0.1:port."""
    c = ldap3.Connection(ldap3.Server(f"ldap://127.0.0.1:{port}", get_info=ldap3.NONE), auto_bind=True)
    try:
        c.search(BASE, f"(uid={uid})", attributes=[attribute])
        return [str(v) for e in c.entries for v in e[attribute].values]
    finally:
        c.unbind()


# -- responses -----------------------------------------------------------------------------------------------------


@dataclass
class Response:
    msgid: int
    tag: int
    code: int | None = None
    text: str = ""
    dn: str = ""
    attrs: dict[str, list[str]] = field(default_factory=dict)
    controls: dict[str, bytes] = field(default_factory=dict)
    value: bytes | None = None
    name: str | None = None


def decode_response(pdu: bytes) -> Response:
    _, s, e = read_tlv(pdu, 0, len(pdu))
    parts = children(pdu, s, e)
    msgid = dec_int(pdu, parts[0][1], parts[0][2])
    tag, os_, oe = parts[1]
    r = Response(msgid, tag)
    body = children(pdu, os_, oe) if tag & 0x20 else []
    if tag == m.SEARCH_ENTRY:
        r.dn = pdu[body[0][1] : body[0][2]].decode()
        for _, ps, pe in children(pdu, body[1][1], body[1][2]):
            name_t, vals_t = children(pdu, ps, pe)
            vals = [pdu[vs:ve].decode() for _, vs, ve in children(pdu, vals_t[1], vals_t[2])]
            r.attrs[pdu[name_t[1] : name_t[2]].decode()] = vals
    elif body and body[0][0] == 0x0A:
        r.code = dec_int(pdu, body[0][1], body[0][2])
        r.text = pdu[body[2][1] : body[2][2]].decode()
        for t, vs, ve in body[3:]:
            if t == 0x8B:
                r.value = pdu[vs:ve]
            elif t == 0x8A:
                r.name = pdu[vs:ve].decode()
    if len(parts) == 3:
        for _, cs, ce in children(pdu, parts[2][1], parts[2][2]):
            fields = children(pdu, cs, ce)
            r.controls[pdu[fields[0][1] : fields[0][2]].decode()] = pdu[fields[-1][1] : fields[-1][2]]
    return r


def split_responses(data: bytes | bytearray) -> tuple[list[Response], bytes]:
    out = []
    buf = bytes(data)
    while True:
        size = frame_size(buf, 1 << 30)
        if size is None:
            return out, buf
        out.append(decode_response(buf[:size]))
        buf = buf[size:]


def search_op(
    filt: str, base: str = BASE, scope: int = 2, attrs: tuple[str, ...] = (), size: int = 0, types_only: bool = False
) -> bytes:
    return lc.encode_search(m.SearchRequest(base, scope, 0, size, 0, types_only, parse_filter(filt), attrs))


# -- in-process connection -----------------------------------------------------------------------------------------


class RecordingTransport(asyncio.Transport):
    """Collects what the protocol writes; closing is recorded, not performed."""

    def __init__(self, peer: str = "192.0.2.1") -> None:
        super().__init__()
        self.data = bytearray()
        self.closing = False
        self.peer = peer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.peer, 40000) if name == "peername" else default


class Wire:
    """One in-process connection to a server over ``index``."""

    def __init__(self, server: LdapServer, peer: str = "192.0.2.1") -> None:
        self.server = server
        self.transport = RecordingTransport(peer)
        self.conn = Connection(server)
        self.conn.connection_made(self.transport)
        self.msgid = 0

    def feed(self, data: bytes) -> None:
        self.conn.data_received(data)

    def request(self, op: bytes, *controls: m.Control) -> int:
        self.msgid += 1
        self.feed(lc.encode_message(self.msgid, op, tuple(controls)))
        return self.msgid

    def take(self) -> list[Response]:
        self.server.pacer.run_waiting()  # searches left for later loop turns: this test does not turn the loop
        out, rest = split_responses(self.transport.data)
        self.transport.data = bytearray(rest)
        return out

    def search(self, filt: str, *controls: m.Control, **kw: Any) -> tuple[list[Response], Response]:
        self.request(search_op(filt, **kw), *controls)
        got = self.take()
        assert got and got[-1].tag == m.SEARCH_DONE, got
        return got[:-1], got[-1]


# -- a real server in a thread -------------------------------------------------------------------------------------


class ThreadedServer:
    """The real LdapServer on 127.0.0.1 (port 0), in an event loop of its own thread."""

    def __init__(self, server: LdapServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.urls: dict[str, str] = {}

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        s = self.server.settings
        self.urls["ldap"] = self.call(self.server.listen(s.host, 0))
        if self.server.tls is not None:
            self.urls["ldaps"] = self.call(self.server.listen(s.host, 0, ldaps=True))
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def port(self) -> int:
        return int(self.urls["ldap"].rsplit(":", 1)[1])


def entries_only(responses: list[Response]) -> Iterator[Response]:
    return (r for r in responses if r.tag == m.SEARCH_ENTRY)


# -- filters for hypothesis ----------------------------------------------------------------------------------------


def filter_trees(
    attrs: st.SearchStrategy[str], values: st.SearchStrategy[str], *, max_leaves: int, extensible: bool = False
) -> st.SearchStrategy[ft.Filter]:
    """Filters over ``attrs`` and ``values``: comparisons, presence, substrings (with at least one piece) and, if
    ``extensible``, extensible matches, nested under and / or / not."""
    leaves = [
        st.builds(ft.Compare, st.sampled_from(["=", ">=", "<=", "~="]), attrs, values),
        st.builds(ft.Present, attrs),
        st.builds(
            ft.Substrings, attrs, st.none() | values, st.lists(values, max_size=2).map(tuple), st.none() | values
        ).filter(lambda s: s.initial is not None or s.any or s.final is not None),
    ]
    if extensible:
        leaves.append(st.builds(ft.Extensible, st.none() | st.just("2.5.13.2"), attrs, values, st.booleans()))
    return st.recursive(
        st.one_of(*leaves),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: ft.And(tuple(xs))),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: ft.Or(tuple(xs))),
            inner.map(ft.Not),
        ),
        max_leaves=max_leaves,
    )
