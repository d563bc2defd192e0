"""Wiring of the LDAP face: TLS from settings, the Snapshot's ``"ldap"`` index builder, binds, and the listeners.

Owns: ``start_ldap(settings, holder, store, login=...)`` → (LdapServer, {"ldap": url, "ldaps": url}). The index
builder is registered with the SnapshotHolder so every new Snapshot is indexed before it is swapped in, and
searches read ``holder.current``, so changes reach LDAP clients as soon as the holder refreshes. Binds are judged
by ``bind_authenticator``: the bind DN ``uid=<username>,ou=accounts,<base_dn>`` names a staff account, and the
password goes through ``accounts.Logins`` — the same throttling, length cap and hash pool as the web login.
"""

from __future__ import annotations

import asyncio
import ssl

from directory import accounts
from directory.errors import SettingsError
from directory.ldap.backend import DirectoryIndex
from directory.ldap.dn import DnError, normalize_dn
from directory.ldap.indexing import Indexer
from directory.ldap.masking import viewer_index
from directory.ldap.ops import tls_context
from directory.ldap.server import Authenticate, LdapServer
from directory.privacy import ANONYMOUS, Viewer
from directory.settings import LdapSettings, LoginSettings
from directory.snapshot import SnapshotHolder
from directory.store import Store

INDEX_KEY = "ldap"


def load_tls(settings: LdapSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert and not settings.tls_key:
        if settings.ldaps_enabled:
            raise SettingsError("ldap.ldaps_enabled: needs ldap.tls_cert and ldap.tls_key")
        return None
    if not settings.tls_cert or not settings.tls_key:
        raise SettingsError("ldap.tls_cert and ldap.tls_key must be set together")
    try:
        return tls_context(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"ldap.tls_cert / ldap.tls_key: cannot load {settings.tls_cert}: {exc}") from exc


def register_index(holder: SnapshotHolder, base_dn: str, confirmed_attribute: str = "") -> Indexer:
    """Have every Snapshot of ``holder`` carry the LDAP index (blocking: builds it for the current one now)."""
    indexer = Indexer(base_dn, confirmed_attribute)
    holder.register(INDEX_KEY, indexer)
    return indexer


def bind_authenticator(logins: accounts.Logins, base_dn: str) -> Authenticate:
    """The bind seam over ``logins``: a DN outside ``ou=accounts`` is judged as an unknown account named by the
    DN itself, so it is counted, hashed and answered like any other wrong name."""
    suffix = normalize_dn(f"ou=accounts,{base_dn}")

    async def authenticate(dn: str, password: str, client_address: str) -> object:
        return await logins.login(_username(dn, suffix), password, client_address, "ldap")

    return authenticate


def _username(dn: str, suffix: str) -> str:
    try:
        norm = normalize_dn(dn)
    except DnError:
        return dn
    rdn, _, parent = norm.partition(",")
    if rdn.startswith("uid=") and parent == suffix:
        return rdn[4:]
    return norm


async def start_ldap(
    settings: LdapSettings, holder: SnapshotHolder, store: Store | None, *, login: LoginSettings | None = None
) -> tuple[LdapServer, dict[str, str]]:
    """Start the listeners; with a ``store``, service accounts may bind under the ``login`` policy."""
    tls = load_tls(settings)
    indexer = await asyncio.to_thread(register_index, holder, settings.base_dn, settings.confirmed_attribute)

    def current() -> DirectoryIndex:
        return holder.current.derived(INDEX_KEY, indexer)

    authenticate = None
    if store is not None:
        authenticate = bind_authenticator(accounts.logins_for(store, login or LoginSettings()), settings.base_dn)

    def for_viewer(viewer: Viewer) -> DirectoryIndex:
        snap = holder.current
        return viewer_index(snap, snap.derived(INDEX_KEY, indexer), viewer)

    server = LdapServer(settings, current, authenticate, tls)
    server.searcher.index_of = lambda conn: for_viewer(getattr(conn, "viewer", ANONYMOUS))
    urls = {"ldap": await server.listen(settings.host, settings.port)}
    try:
        if settings.ldaps_enabled:
            urls["ldaps"] = await server.listen(settings.host, settings.ldaps_port, ldaps=True)
    except BaseException:
        await server.close()
        raise
    return server, urls
