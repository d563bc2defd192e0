"""Shared pieces of the ``bohai`` sub-commands: the handler type, the audit actor, opening the store for one
command, and argument types.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

from directory.store import Store
from liaison.database import open_for
from liaison.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def cli_actor(what: str) -> str:
    """Who did it, for the audit trail: the operating-system user who ran the command."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{what}:{user}"


@contextlib.contextmanager
def opened(settings: Settings) -> Iterator[Store]:
    """The database for one command, closed afterwards whatever happens."""
    store = open_for(settings)
    try:
        yield store
    finally:
        store.close()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为正整数：{text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"应为正整数：{text!r}")
    return value
