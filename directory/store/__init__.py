"""The only code of the directory that talks SQL: :class:`Store`, composed of focused parts.

Owns nothing itself; the parts own their concern: ``engine`` (engine, transactions, migrations, meta, change
counter, audit trail, :class:`ChangeListener`), ``upsert`` (how an upsert of offices is classified, shared by the
write and its dry run), ``offices`` (offices and contacts), ``accounts`` (account rows), ``tokens`` (API tokens),
``apppasswords`` (the CardDAV app passwords of accounts), ``sessions`` (web sessions, login and password
history, recovery codes), ``reports`` (error reports on offices), ``auditlog`` (the chained audit writer, its checks,
archive and prune) with ``audittrail`` (the store's part for them), ``regions`` (the region tree, division
updates, aliases of retired codes) and ``imagechecks`` (what a start-up image is checked against).

The API is synchronous and thread-safe; async faces call ``await store.run(fn, ...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from directory.auditmac import AuditKey
from directory.migrations import Schema
from directory.store.accounts import Accounts
from directory.store.apppasswords import AppPasswords
from directory.store.audittrail import AuditTrail
from directory.store.engine import (
    ChangeListener,
    Database,
    Row,
    account_t,
    api_token_t,
    change_t,
    contact_t,
    engine_url,
    meta_t,
    office_t,
    region_t,
)
from directory.store.imagechecks import ImageChecks
from directory.store.offices import Offices
from directory.store.regions import Regions, region_alias_t
from directory.store.reports import Reports
from directory.store.sessions import Sessions
from directory.store.tokens import Tokens
from directory.store.upsert import UpsertResult

__all__ = [
    "ChangeListener",
    "Database",
    "Row",
    "Store",
    "UpsertResult",
    "account_t",
    "api_token_t",
    "change_t",
    "contact_t",
    "engine_url",
    "meta_t",
    "office_t",
    "open_store",
    "region_alias_t",
    "region_t",
]


class Store(Offices, Accounts, Tokens, AppPasswords, Sessions, Regions, Reports, AuditTrail, ImageChecks):
    """A directory database. Create with :func:`open_store`, close with :meth:`close`."""


def open_store(
    url: str,
    *,
    pool_size: int = 5,
    schemas: Sequence[Schema] = (),
    audit_key: AuditKey | None = None,
    audit_chain: str = "main",
) -> Store:
    """Open the database at ``url``, creating or migrating the schema (the directory's, then ``schemas``) and
    loading regions as needed. Audit rows are sealed with ``audit_key`` (None: the database's own key)."""
    store = Store(url, pool_size=pool_size, audit_key=audit_key, audit_chain=audit_chain)
    try:
        store.migrate(schemas)
    except BaseException:
        store.close()
        raise
    return store
