"""Wiring of the LDAP face: TLS from settings, the Snapshot's ``"ldap"`` index builder, and the listeners.

Owns: ``start_ldap(settings, holder, store)`` → (LdapServer, {"ldap": url, "ldaps": url}). The index builder is
registered with the SnapshotHolder so every new Snapshot is indexed before it is swapped in, and searches read
``holder.current``, so changes reach LDAP clients as soon as the holder refreshes.
"""

from __future__ import annotations

import asyncio
import ssl

from directory.errors import SettingsError
from directory.ldap.backend import DirectoryIndex, Indexer
from directory.ldap.server import LdapServer, tls_context
from directory.settings import LdapSettings
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


def register_index(holder: SnapshotHolder, base_dn: str) -> Indexer:
    """Have every Snapshot of ``holder`` carry the LDAP index (blocking: builds it for the current one now)."""
    indexer = Indexer(base_dn)
    holder.register(INDEX_KEY, indexer)
    return indexer


async def start_ldap(
    settings: LdapSettings, holder: SnapshotHolder, store: Store | None
) -> tuple[LdapServer, dict[str, str]]:
    tls = load_tls(settings)
    indexer = await asyncio.to_thread(register_index, holder, settings.base_dn)

    def current() -> DirectoryIndex:
        return holder.current.derived(INDEX_KEY, indexer)

    server = LdapServer(settings, current, store, tls)
    urls = {"ldap": await server.listen(settings.host, settings.port)}
    try:
        if settings.ldaps_enabled:
            urls["ldaps"] = await server.listen(settings.host, settings.ldaps_port, ldaps=True)
    except BaseException:
        await server.close()
        raise
    return server, urls
