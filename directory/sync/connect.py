"""Opening a remote directory with ldap3 and reading it: the one place that talks to other LDAP servers.

Owns: the connection of a ``[publish.NAME]`` or ``[pull.NAME]`` table (URL, StartTLS, bind DN, password read from
its file — never logged), paged reads, the add/modify/delete calls (many adds pipelined by ``bulk``), and turning
every ldap3 fault into ``SyncFailed`` with a zh-CN message that names the server (and the entry, for an operation)
and never a password.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import ldap3
from ldap3.core import exceptions as lx

from directory.dit import Entry
from directory.errors import SettingsError, SyncFailed
from directory.sync import bulk

MAX_PASSWORD_BYTES = 4096
PAGE_SIZE = 500  # below AD's MaxPageSize (1000)
CONNECT_TIMEOUT = 10
RECEIVE_TIMEOUT = 60
BULK_MIN = 20  # from this many adds on, they are pipelined
RemoteEntry = dict[str, list[str]]  # attribute name (lower case) → values


class Endpoint(Protocol):
    """The connection options a publish target and a pull source share."""

    @property
    def url(self) -> str: ...
    @property
    def starttls(self) -> bool: ...
    @property
    def bind_dn(self) -> str: ...
    @property
    def password_file(self) -> str: ...


@dataclass(frozen=True)
class Remote:
    """A bound connection to one remote directory, named for messages."""

    conn: Any  # ldap3.Connection (untyped library)
    url: str

    def read(
        self, base: str, flt: str, attributes: list[str], *, subtree: bool = False
    ) -> Iterator[tuple[str, RemoteEntry]]:
        """Entries under ``base`` (one level, or the whole subtree) as (DN, attributes), paged."""
        scope = ldap3.SUBTREE if subtree else ldap3.LEVEL
        try:
            found = self.conn.extend.standard.paged_search(
                base, flt, search_scope=scope, attributes=attributes, paged_size=PAGE_SIZE, generator=True
            )
            for item in found:
                if item.get("type") == "searchResEntry":
                    yield item["dn"], _decoded(item["raw_attributes"])
        except lx.LDAPNoSuchObjectResult:
            raise SyncFailed(f"{self.url}：基准 DN {base} 不存在") from None
        except lx.LDAPException as exc:
            raise SyncFailed(f"读取 {self.url} 的 {base} 失败：{_why(exc)}") from None

    def add(self, dn: str, attrs: RemoteEntry) -> None:
        self._op("新增", dn, lambda: self.conn.add(dn, attributes={k: v for k, v in attrs.items() if v}))

    def add_many(self, entries: Sequence[Entry]) -> None:
        """Add ``entries`` pipelined on the bound socket (``bulk``); one by one through ldap3 for a few entries or
        a connection without a real server (ldap3's mock)."""
        sock = getattr(self.conn, "socket", None)
        if len(entries) < BULK_MIN or sock is None or getattr(self.conn.strategy, "no_real_dsa", True):
            for e in entries:
                self.add(e.dn, e.attrs)
            return
        try:
            bulk.add_all(sock, entries)
        except bulk.Failed as exc:
            dn = entries[exc.index].dn
            raise SyncFailed(f"{self.url}：新增 {dn} 失败：{exc.text}（结果码 {exc.code}）") from None
        except OSError as exc:
            raise SyncFailed(f"{self.url}：写入中断：{exc}") from None

    def modify(self, dn: str, changes: RemoteEntry) -> None:
        mods = {name: [(ldap3.MODIFY_REPLACE, values)] for name, values in changes.items()}
        self._op("修改", dn, lambda: self.conn.modify(dn, mods))

    def delete(self, dn: str) -> None:
        self._op("删除", dn, lambda: self.conn.delete(dn))

    def _op(self, what: str, dn: str, call: Callable[[], object]) -> None:
        try:
            call()
        except lx.LDAPException as exc:
            raise SyncFailed(f"{self.url}：{what} {dn} 失败：{_why(exc)}") from None

    def close(self) -> None:
        with contextlib.suppress(lx.LDAPException):  # closing a connection that already failed
            self.conn.unbind()


def _decoded(raw: dict[str, list[bytes]]) -> RemoteEntry:
    return {name.lower(): [v.decode("utf-8", "replace") for v in values] for name, values in raw.items()}


def _why(exc: lx.LDAPException) -> str:
    if isinstance(exc, lx.LDAPOperationResult):
        text = f"{exc.description}（结果码 {exc.result}）"
        return f"{text}：{exc.message}" if exc.message else text
    return str(exc) or type(exc).__name__


def read_password(endpoint: Endpoint, option: str) -> str:
    """The bind password from ``password_file`` (first line; at most 4 KiB); "" for an anonymous bind."""
    if not endpoint.password_file:
        if endpoint.bind_dn:
            raise SettingsError(f"{option}.password_file: bind_dn 已设置，必须同时给出密码文件")
        return ""
    path = Path(endpoint.password_file)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PASSWORD_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"{option}.password_file: 无法读取 {path}（{exc.strerror}）") from None
    if len(data) > MAX_PASSWORD_BYTES:
        raise SettingsError(f"{option}.password_file: {path} 过大（密码文件最多 {MAX_PASSWORD_BYTES} 字节）")
    return data.decode("utf-8", "replace").splitlines()[0] if data.strip() else ""


def connect(endpoint: Endpoint, option: str) -> Remote:
    """A bound connection (StartTLS first when asked); any fault is ``SyncFailed`` naming the URL."""
    password = read_password(endpoint, option)
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED)
    server = ldap3.Server(endpoint.url, get_info=ldap3.NONE, tls=tls, connect_timeout=CONNECT_TIMEOUT)
    conn = ldap3.Connection(
        server,
        user=endpoint.bind_dn or None,
        password=password or None,
        raise_exceptions=True,
        receive_timeout=RECEIVE_TIMEOUT,
        auto_referrals=False,
    )
    try:
        conn.open()
        if endpoint.starttls:
            conn.start_tls()
        conn.bind()
    except lx.LDAPInvalidCredentialsResult:
        raise SyncFailed(f"登录 {endpoint.url} 失败：bind_dn 或密码错误（{endpoint.bind_dn}）") from None
    except lx.LDAPException as exc:
        raise SyncFailed(f"无法连接 {endpoint.url}：{_why(exc)}") from None
    return Remote(conn, endpoint.url)
