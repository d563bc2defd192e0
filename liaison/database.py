"""The liaison service's way into the one database.

Owns: opening it with every schema the service needs, the directory's and then the liaison service's own
(``liaison.migrations``), so that whoever opens the database for the service — ``bohai serve``, any ``bohai``
command, a test — finds the liaison tables created or upgraded.
"""

from __future__ import annotations

from directory import store as directory_store
from directory.store import Store
from liaison.migrations import LIAISON


def open_store(url: str, *, pool_size: int = 5) -> Store:
    """Open the database at ``url``, creating or upgrading the directory's and the liaison tables as needed."""
    return directory_store.open_store(url, pool_size=pool_size, schemas=(LIAISON,))
