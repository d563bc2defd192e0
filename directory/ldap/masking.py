"""The LDAP index as a reader may see it: the one privacy rule (``directory.privacy``) applied to the DIT.

Owns: :func:`viewer_index`, the Snapshot's index for one viewer class — the full index for those who see
everything, else a copy patched from it (``indexing.patch``) in which the entries of offices with a masked mobile
are re-encoded from the masked office, so that filters (``telephoneNumber`` included) match only what the reader
sees and results carry only that. Built once per Snapshot and viewer class, on first use.
"""

from __future__ import annotations

from directory import dit
from directory.ldap.backend import DirectoryIndex, IndexedEntry, entries_of, items_of
from directory.ldap.indexing import index_entry, patch
from directory.privacy import Viewer, office_for
from directory.snapshot import Snapshot


def viewer_index(snap: Snapshot, main: DirectoryIndex, viewer: Viewer) -> DirectoryIndex:
    """The index of ``snap`` (whose full index is ``main``) as ``viewer`` may see it."""
    if viewer.everything:
        return main
    return snap.derived(f"ldap.{viewer.key}", lambda s: _masked(s, main, viewer))


def _masked(snap: Snapshot, main: DirectoryIndex, viewer: Viewer) -> DirectoryIndex:
    replaced: dict[int, IndexedEntry] = {}
    cache: dict[tuple[str, str], str] = {}
    tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
    for office in snap.offices.values():
        shown = office_for(office, viewer)
        if shown is office:
            continue
        news = [dit.office_entry(snap, shown, main.base_dn)]
        news += [
            dit.contact_entry(snap, shown, c, main.base_dn) for c in shown.contacts if c.email and c.email.isascii()
        ]
        for entry in news:
            indexed: IndexedEntry = index_entry(entry, cache, tuples)
            i = main.by_dn.get(indexed.norm, main.entries, keep=False)
            if i is not None:
                replaced[i] = indexed
    if not replaced:
        return main
    items = list(items_of(main.entries))
    for i, indexed in replaced.items():
        items[i] = indexed
    return patch(main, entries_of(items, main.entries), snap.generation)
