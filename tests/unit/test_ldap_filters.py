"""Filter evaluation: RFC 4518 preparation, telephone numbers, objectClass superclasses, Undefined."""

from __future__ import annotations

import re
import unicodedata

import pytest

from directory.ldap.filters import compile_filter, prep_phone, prep_string, prepare_entry
from directory.ldap.filterstr import parse_filter

ENTRY = prepare_entry(
    {
        "objectClass": ["top", "inetOrgPerson"],
        "cn": ["长安区流动人口服务管理中心"],
        "sn": ["长安区流动人口服务管理中心"],
        "givenName": ["张伟"],
        "mail": ["CA@Example.org"],
        "telephoneNumber": ["0311-87654321"],
        "title": ["主任  Office   Head"],
    },
    {},
)


def matches(text: str) -> bool | None:
    return compile_filter(parse_filter(text))(ENTRY)


def results(expected: dict[str, bool | None]) -> None:
    """Each filter gives its expected result on ENTRY: True, False or None (Undefined)."""
    got = {text: matches(text) for text in expected}
    wrong = {text: got[text] for text, want in expected.items() if got[text] is not want}
    assert not wrong, f"{wrong} (expected {expected})"


def test_rfc4518_preparation_folds_case_width_and_spaces() -> None:
    assert prep_string("  ＡＢＣ  Def ") == "abc def"
    assert prep_string("Straße") == "strasse"
    # every kind of space, alone and beside others, is collapsed and trimmed as the rule says, including where the
    # quick path (text already collapsed) is taken
    spaces = [chr(c) for c in range(0x3100) if chr(c).isspace()] + ["\u3000", "\u202f", "\u205f", "\ufeff"]
    for space in spaces:
        for value in (f"王{space}芳", f"{space}张伟", f"张伟{space}", f"a {space}b", f"x{space}{space}y", space):
            want = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value).casefold()).strip()
            assert prep_string(value) == want, repr(value)
    results(
        {
            "(title=主任 office head)": True,
            "(mail=ca@EXAMPLE.ORG)": True,
            "(cn=長安區流動人口服務管理中心)": False,  # traditional characters are other characters
        }
    )


@pytest.mark.parametrize(
    "form", ["0311-87654321", "031187654321", "+86 311 8765 4321", "+8631187654321", "0086 311 87654321"]
)
def test_phone_forms_of_one_number_are_equal(form: str) -> None:
    assert matches(f"(telephoneNumber={form})") is True


def test_phone_prep_keeps_mobiles_and_other_numbers_apart() -> None:
    assert prep_phone("+86 138 0013 8000") == prep_phone("13800138000") == "13800138000"
    assert prep_phone("8613800138000") == "13800138000"
    results(
        {"(telephoneNumber=0311-87654320)": False, "(telephoneNumber=*8765 43*)": True, "(telephoneNumber=0311*)": True}
    )


def test_object_class_matches_superclasses_case_insensitively() -> None:
    results(
        {
            "(objectClass=person)": True,
            "(objectclass=ORGANIZATIONALPERSON)": True,
            "(objectClass=2.5.6.6)": True,  # person by OID
            "(objectClass=organizationalUnit)": False,
        }
    )


def test_substrings_and_ordering() -> None:
    results(
        {
            "(cn=*人口*)": True,
            "(cn=长安*中心)": True,
            "(cn=长安*人口*管理*中心)": True,
            "(cn=*管理*人口*)": False,  # order of the pieces counts
            "(givenName>=张)": True,
            "(givenName<=张)": False,
        }
    )


def test_unknown_attributes_are_undefined_and_not_of_undefined_is_undefined() -> None:
    results(
        {
            "(mozillaNickname=*张*)": None,
            "(!(mozillaNickname=x))": None,
            "(|(mozillaNickname=x)(givenName=*张*))": True,
            "(&(mozillaNickname=x)(givenName=*张*))": None,
            "(&(mozillaNickname=x)(givenName=李*))": False,
            "(mozillaNickname=*)": False,
            "(objectClass=*)": True,
        }
    )


def test_approx_and_extensible_match() -> None:
    results({"(title~=主任officehead)": True, "(givenName:=张伟)": True, "(givenName:1.2.3:=张伟)": None})
