"""Attribute selection and the encoding of search result entries.

Owns: ``Selection`` (``*``, ``+``, ``1.1``, names and aliases, typesOnly) which slices the selected attributes out
of each entry's one encoding and remembers the result per index within its budget; the Root DSE and ``cn=Subschema``
entries; the operational attributes (entryDN, subschemaSubentry, hasSubordinates).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import cast

from directory.ldap import messages as m
from directory.ldap import schema
from directory.ldap.backend import DirectoryIndex, IndexedEntry, Layout
from directory.ldap.ber import header

SUPPORTED_CONTROLS = (m.OID_PAGED, m.OID_SORT_REQ, m.OID_VLV_REQ)
SUBSCHEMA_DN = "cn=Subschema"
ENCODE_CHUNK = 256  # entries encoded between looks at the clock
REMEMBERED_CHARS = 512  # attribute lists up to this many characters are remembered (1,024 of them at most)


def root_dse(base_dn: str, tls: bool) -> dict[str, list[str]]:
    extensions = [m.OID_WHOAMI] + ([m.OID_STARTTLS] if tls else [])
    return {
        "objectClass": ["top"],
        "namingContexts": [base_dn],
        "subschemaSubentry": [SUBSCHEMA_DN],
        "supportedLDAPVersion": ["2", "3"],
        "supportedControl": list(SUPPORTED_CONTROLS),
        "supportedExtension": extensions,
        "supportedFeatures": ["1.3.6.1.4.1.4203.1.5.1"],
        "vendorName": ["Bohai Liaison 环渤海通讯联络服务"],
        "vendorVersion": ["0.1"],
    }


# -- attribute selection -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    all_user: bool
    operational: bool
    keys: frozenset[str]
    types_only: bool

    @classmethod
    def of(cls, attributes: tuple[str, ...], types_only: bool) -> Selection:
        """The selection of a request's attribute list; clients ask for the same few lists again and again, so a
        short list's answer is remembered (it is immutable; a long list, which a client chooses, is not kept)."""
        if sum(map(len, attributes)) <= REMEMBERED_CHARS:
            return _selection(attributes, types_only)
        return cls._of(attributes, types_only)

    @classmethod
    def _of(cls, attributes: tuple[str, ...], types_only: bool) -> Selection:
        names = [a.strip() for a in attributes]
        keys = set()
        for name in names:
            if name in ("*", "+", "1.1"):
                continue
            at = schema.lookup(name)
            keys.add(at.key if at else name.split(";", 1)[0].lower())
        only_none = bool(names) and all(n == "1.1" for n in names)
        all_user = not only_none and (not names or "*" in names)
        return cls(all_user, "+" in names, frozenset(keys), types_only)

    @property
    def cache_key(self) -> tuple[bool, bool, frozenset[str], bool]:
        return (self.all_user, self.operational, self.keys, self.types_only)

    @property
    def plain(self) -> bool:
        return self.all_user and not self.operational and not self.types_only and not (self.keys & _OPERATIONAL)

    def encode(self, index: DirectoryIndex, i: int) -> bytes:
        return self.encode_all(index, [i])[0]

    def encode_all(self, index: DirectoryIndex, ids: Sequence[int]) -> list[bytes]:
        """The SearchResultEntry ops of these entries for this selection (remembered per index, within a budget)."""
        entries = index.entries
        if self.plain:
            return [entries[i].full for i in ids]
        cache = index.encoded(self.cache_key)
        out: list[bytes | None] = list(map(cache.get, ids))
        if None in out:  # only some are remembered: encode the others
            for n, i in enumerate(ids):
                if out[n] is None:
                    op = out[n] = self._encode(index, i)
                    index.remember(cache, i, op)
        return cast(list[bytes], out)

    def encode_steps(
        self, index: DirectoryIndex, ids: Sequence[int], due: Callable[[], bool]
    ) -> Generator[None, None, list[bytes]]:
        """``encode_all`` in chunks, yielding whenever ``due()`` says the event loop should have a turn."""
        if self.plain or len(ids) <= ENCODE_CHUNK:
            return self.encode_all(index, ids)
        out: list[bytes] = []
        for n in range(0, len(ids), ENCODE_CHUNK):
            out += self.encode_all(index, ids[n : n + ENCODE_CHUNK])
            if due():
                yield
        return out

    def _encode(self, index: DirectoryIndex, i: int) -> bytes:
        e = index.entries[i]
        if self.types_only:
            body = b"".join(
                m.encode_attribute(n, (), True)
                for n, k in zip(e.layout.names, e.layout.keys, strict=True)
                if self.all_user or k in self.keys
            )
        else:
            body = e.all_parts() if self.all_user else e.parts(self._columns(e.layout))
        if self.operational or self.keys & _OPERATIONAL:
            body += b"".join(self._operational(index, i, e))
        dn_enc = e.dn_enc
        inner = header(0x30, len(body))
        return b"".join((header(m.SEARCH_ENTRY, len(dn_enc) + len(inner) + len(body)), dn_enc, inner, body))

    def _columns(self, layout: Layout) -> tuple[int, ...]:
        """Positions of the selected attributes in an entry layout (few layouts, so remembered)."""
        key = (self.keys, layout)
        found = _COLUMNS.get(key)
        if found is None:
            if len(_COLUMNS) > 4096:
                _COLUMNS.clear()
            found = _COLUMNS[key] = tuple(j for j, k in enumerate(layout.keys) if k in self.keys)
        return found

    def _operational(self, index: DirectoryIndex, i: int, e: IndexedEntry) -> list[bytes]:
        values = {
            "entrydn": ("entryDN", [e.dn]),
            "subschemasubentry": ("subschemaSubentry", [SUBSCHEMA_DN]),
            "hassubordinates": ("hasSubordinates", ["TRUE" if index.end[i] > i + 1 else "FALSE"]),
        }
        return [
            m.encode_attribute(name, vals, self.types_only)
            for key, (name, vals) in values.items()
            if self.operational or key in self.keys
        ]

    def encode_special(self, dn: str, attrs: dict[str, list[str]]) -> bytes:
        """Root DSE and subschema: every attribute is operational, so no list, ``*`` and ``+`` all give all."""
        chosen = [
            m.encode_attribute(name, values, self.types_only)
            for name, values in attrs.items()
            if self.all_user or self.operational or name.lower() in self.keys
        ]
        return m.entry_op(dn, b"".join(chosen))


_OPERATIONAL = frozenset({"entrydn", "subschemasubentry", "hassubordinates"})
_COLUMNS: dict[tuple[frozenset[str], Layout], tuple[int, ...]] = {}


@functools.lru_cache(maxsize=1024)
def _selection(attributes: tuple[str, ...], types_only: bool) -> Selection:
    return Selection._of(attributes, types_only)
