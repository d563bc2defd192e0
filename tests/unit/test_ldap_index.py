"""The backend's index planning agrees with plain filter evaluation over every entry, for any filter (hypothesis)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directory.ldap import backend
from directory.ldap import filtertree as ft
from directory.ldap import messages as m
from directory.ldap.filters import compile_filter
from directory.ldap.search import Selection
from tests.support.ldap import filter_trees, small_index

INDEX = small_index()
_attr = st.sampled_from(
    ["cn", "sn", "mail", "givenName", "uid", "ou", "objectClass", "telephoneNumber", "l", "x-unknown"]
)
VALUES = ["长安", "长", "区", "流动人口", "张伟", "ca@example.org", "example", "person", "top", "0311", "8765"]
VALUES += ["+86 311 8765 4321", "130102000000", "石家庄市", "桥西区流动人口服务站", "", "a", "organizationalUnit"]
_val = st.sampled_from(VALUES)
filters = filter_trees(_attr, _val, max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(filters, st.sampled_from([0, 1, 4, 6]), st.sampled_from([1, 2]), st.integers(min_value=1, max_value=20))
def test_planned_search_equals_brute_force(f: ft.Filter, base: int, scope: int, limit: int) -> None:
    predicate = compile_filter(f)
    lo, hi, explicit = INDEX.scope_ids(base, scope)
    in_scope = explicit if explicit is not None else range(lo, hi)
    brute = [i for i in in_scope if predicate(INDEX.entries[i].prepared) is True]
    ids, more, late = INDEX.evaluate(base, scope, f, predicate, limit, time.monotonic() + 60)
    assert not late
    assert ids == brute[:limit]
    assert more == (len(brute) > limit)


def test_encoded_entries_stay_within_the_budget_and_equal_fresh_encodings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Selections are sliced out of each entry's one encoding and remembered only within ``ENCODED_BUDGET``."""
    index = small_index()
    budget = 2_000
    monkeypatch.setattr(backend, "ENCODED_BUDGET", budget)
    ids = list(range(len(index.entries)))
    selections = [Selection.of(("cn", "mail"), False), Selection.of(("ou",), False), Selection.of(("*",), True)]
    for sel in selections * 2:
        first = sel.encode_all(index, ids)
        assert index._encoded_bytes <= budget
        assert first == [sel._encode(index, i) for i in ids]  # remembered or not, the same bytes
    cn_mail = selections[0].encode_all(index, [ids[-1]])[0]
    entry = index.entries[ids[-1]]
    assert cn_mail.startswith(bytes([m.SEARCH_ENTRY])) and entry.dn_enc in cn_mail
    assert (b"mail" in cn_mail) == ("mail" in entry.layout.keys) and b"objectClass" not in cn_mail
