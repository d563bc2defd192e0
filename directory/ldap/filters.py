"""Filter evaluation over prepared entries, with three-valued logic (RFC 4511 §4.5.1.7).

Owns: RFC 4518 string preparation (NFKC, case fold, insignificant spaces), telephone number preparation (spaces
and hyphens ignored; national ``0311-…`` and international ``+86 311 …`` forms of one number equal), and
``compile_filter`` which turns a filter tree into a function of an entry's prepared values returning True, False or
None (Undefined). Unknown attributes make an assertion Undefined, never an error; objectClass matches superclasses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

from directory.ldap import schema
from directory.ldap.filtertree import And, Compare, Extensible, Filter, Not, Or, Present, Substrings

Prepared = Mapping[str, tuple[str, ...]]  # attribute key (lowercased canonical name) → prepared values
Predicate = Callable[[Prepared], bool | None]
_SPACES = re.compile(r"\s+")


def prep_string(value: str) -> str:
    """RFC 4518 for caseIgnore matching: NFKC, case fold, whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFKC", value).casefold()
    # isprintable() is False for every whitespace but " " (Unicode separators and controls): text that holds no
    # other, no double space and none at either end is already collapsed and trimmed (most values and assertions)
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return _SPACES.sub(" ", text).strip()


def prep_phone_piece(value: str) -> str:
    """telephoneNumber substrings: NFKC with spaces and hyphens removed."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch not in " -\t")


def prep_phone(value: str) -> str:
    """One canonical form per number: ``0311-86012345``, ``031186012345`` and ``+86 311 8601 2345`` all give
    ``31186012345``; mobiles lose a ``+86``/``0086``/``86`` prefix the same way."""
    text = prep_phone_piece(value)
    if text.startswith("+86"):
        return text[3:]
    if text.startswith("0086"):
        return text[4:]
    if text.startswith("86") and len(text) in (12, 13) and text.isdigit():
        return text[2:]
    if text.startswith("0") and not text.startswith("00"):
        return text[1:]
    return text


def prepare(kind: str, value: str) -> str:
    if kind == "phone":
        return prep_phone(value)
    if kind == "oc":
        return schema.CLASS_OIDS.get(value.strip(), value.strip().lower())
    return prep_string(value)


def _undefined(entry: Prepared) -> bool | None:
    return None


def _equality(key: str, wanted: str) -> Predicate:
    def match(entry: Prepared) -> bool | None:
        return wanted in entry.get(key, ())

    return match


def _ordering(key: str, wanted: str, greater: bool) -> Predicate:
    def match(entry: Prepared) -> bool | None:
        values = entry.get(key, ())
        return any(v >= wanted for v in values) if greater else any(v <= wanted for v in values)

    return match


def substring_matcher(kind: str, f: Substrings) -> Callable[[str], bool]:
    """A test of one prepared value against a substring assertion, in time linear in the value's length.

    Each piece is found after the previous one (leftmost first), which is exact for substring matching: if the
    pieces fit in order at all, they fit with each taken as early as possible, so nothing is ever retried.
    """
    prep = prep_phone_piece if kind == "phone" else prep_string
    initial = prep_phone(f.initial) if kind == "phone" and f.initial else prep(f.initial) if f.initial else ""
    pieces = tuple(p for p in (prep(a) for a in f.any) if p)
    final = prep(f.final) if f.final else ""
    if not initial and not final and len(pieces) == 1:
        (piece,) = pieces
        return lambda value: piece in value  # Thunderbird's *v*
    if not pieces:
        least = len(initial) + len(final)
        return lambda value: len(value) >= least and value.startswith(initial) and value.endswith(final)

    def match(value: str) -> bool:
        if not value.startswith(initial):
            return False
        pos, end = len(initial), len(value) - len(final)
        if end < pos or not value.endswith(final):
            return False
        find = value.find
        for piece in pieces:
            pos = find(piece, pos, end)
            if pos < 0:
                return False
            pos += len(piece)
        return True

    return match


def _substrings(key: str, test: Callable[[str], bool]) -> Predicate:
    def match(entry: Prepared) -> bool | None:
        return any(test(v) for v in entry.get(key, ()))

    return match


def _compile_compare(f: Compare) -> Predicate:
    at = schema.lookup(f.attr)
    if at is None or at.kind in ("dn", "bool"):
        return _undefined
    if f.op in (">=", "<=") and at.kind != "string":
        return _undefined
    wanted = prepare(at.kind, f.value)
    if f.op == "~=":
        wanted = wanted.replace(" ", "")
        key = at.key
        return lambda entry: any(v.replace(" ", "") == wanted for v in entry.get(key, ()))
    if f.op == "=":
        return _equality(at.key, wanted)
    return _ordering(at.key, wanted, f.op == ">=")


def _compile_substrings(f: Substrings) -> Predicate:
    at = schema.lookup(f.attr)
    if at is None or at.kind not in ("string", "phone"):
        return _undefined
    return _substrings(at.key, substring_matcher(at.kind, f))


def _compile_present(f: Present) -> Predicate:
    at = schema.lookup(f.attr)
    if at is None:
        return lambda entry: False
    if at.key == "objectclass":
        return lambda entry: True
    key = at.key
    return lambda entry: key in entry


def _compile_and(items: list[Predicate]) -> Predicate:
    def match(entry: Prepared) -> bool | None:
        undefined = False
        for item in items:
            r = item(entry)
            if r is False:
                return False
            if r is None:
                undefined = True
        return None if undefined else True

    return match


def _compile_or(items: list[Predicate]) -> Predicate:
    def match(entry: Prepared) -> bool | None:
        undefined = False
        for item in items:
            r = item(entry)
            if r is True:
                return True
            if r is None:
                undefined = True
        return None if undefined else False

    return match


def _compile_not(item: Predicate) -> Predicate:
    def match(entry: Prepared) -> bool | None:
        r = item(entry)
        return None if r is None else not r

    return match


def distinct(items: tuple[Filter, ...]) -> tuple[Filter, ...]:
    """The items of an and/or without repeats (a repeated item changes nothing but the work)."""
    return tuple(dict.fromkeys(items)) if len(items) > 1 else items


def compile_filter(f: Filter) -> Predicate:
    """A predicate over prepared entries; True means the entry matches."""
    if isinstance(f, And):
        return _compile_and([compile_filter(i) for i in distinct(f.items)])
    if isinstance(f, Or):
        return _compile_or([compile_filter(i) for i in distinct(f.items)])
    if isinstance(f, Not):
        return _compile_not(compile_filter(f.item))
    if isinstance(f, Compare):
        return _compile_compare(f)
    if isinstance(f, Substrings):
        return _compile_substrings(f)
    if isinstance(f, Present):
        return _compile_present(f)
    if isinstance(f, Extensible) and f.attr and f.rule is None and not f.dn_attributes:
        return _compile_compare(Compare("=", f.attr, f.value))
    return _undefined  # other extensible matches: no matching rules beyond the attribute's own


def prepare_entry(attrs: Mapping[str, list[str]], cache: dict[tuple[str, str], str]) -> dict[str, tuple[str, ...]]:
    """Prepared values of an entry for matching, keyed by attribute key; ``cache`` shares equal strings."""
    out: dict[str, tuple[str, ...]] = {}
    for name, values in attrs.items():
        at = schema.lookup(name)
        if at is None:
            continue
        if at.kind == "oc":
            out[at.key] = schema.object_class_closure(values)
            continue
        prepared = []
        for v in values:
            ck = (at.kind, v)
            p = cache.get(ck)
            if p is None:
                p = prepare(at.kind, v)
                p = cache.setdefault(ck, v if p == v else p)  # an unchanged value stays the caller's object
            prepared.append(p)
        out[at.key] = tuple(prepared)
    return out
