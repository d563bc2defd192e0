"""The liaison service's way into the one database.

Owns: opening it with every schema the service needs, the directory's and then the liaison service's own
(``liaison.migrations``), so that whoever opens the database for the service — ``bohai serve``, any ``bohai``
command, a test — finds the liaison tables created or upgraded.
"""

from __future__ import annotations

from directory import auditmac
from directory import store as directory_store
from directory.settings import AuditSettings
from directory.settings import Settings as DirectorySettings
from directory.store import Store, auditlog
from liaison.migrations import LIAISON


def open_store(url: str, *, pool_size: int = 5, audit: AuditSettings | None = None) -> Store:
    """Open the database at ``url``, creating or upgrading the directory's and the liaison tables as needed; audit
    rows are sealed with the key and chain of ``audit`` (the ``[audit]`` section; None: the database's own key)."""
    if audit is None:
        return directory_store.open_store(url, pool_size=pool_size, schemas=(LIAISON,))
    chain = audit.chain or auditlog.default_chain()
    key = auditmac.key_of(audit.key_file, audit.algorithm, chain)
    return directory_store.open_store(url, pool_size=pool_size, schemas=(LIAISON,), audit_key=key, audit_chain=chain)


def open_for(settings: DirectorySettings) -> Store:
    """The database of ``settings`` with its audit key: how the service and every command open it."""
    return open_store(settings.database.url, pool_size=settings.database.pool_size, audit=settings.audit)
