"""Server-side sort (RFC 2891) over more entries than one sort run: sorted in runs, merged in pieces, and the result
is exactly a stable sort by the keys, the last key first, each ascending or descending."""

from __future__ import annotations

import random

from directory.ldap import client as lc
from directory.ldap import controlvalues as cv
from directory.ldap.indexing import build_index
from directory.ldap.search import SORT_CHUNK
from directory.ldap.server import LdapServer
from directory.snapshot import build
from tests.support.ldap import BASE, Wire, ldap_settings
from tests.support.snapshots import office_row, region_row

COUNTIES = 3 * SORT_CHUNK + 123  # several runs and a short last one


def big_index() -> object:
    rng = random.Random(7)
    regions = [region_row("130000000000", "河北省", "province", None)]
    regions += [region_row("130100000000", "石家庄市", "city", "130000000000")]
    offices = []
    for n in range(COUNTIES):
        code = f"1301{n + 1:05d}000"
        regions.append(region_row(code, f"区{n}", "county", "130100000000"))
        unit = f"服务站{rng.randrange(500):03d}"  # many ties, so stability shows
        postal = f"05{rng.randrange(40):04d}"
        offices.append(office_row(n + 1, code, unit_name=unit, postal_code=postal, email=f"o{n}@example.org"))
    return build_index(build(regions, offices, [], generation=1), BASE)


async def test_a_two_key_sort_over_many_runs_equals_a_stable_sort() -> None:
    index = big_index()
    server = LdapServer(ldap_settings(size_limit=0), lambda: index, None)  # type: ignore[arg-type,return-value]
    w = Wire(server)
    keys = (cv.SortKey("postalCode", None, True), cv.SortKey("cn", None, False))
    wanted = ("cn", "postalCode", "uid")
    found, done = w.search("(objectClass=inetOrgPerson)", lc.sort_request(*keys), attrs=wanted)
    assert done.code == 0 and len(found) == COUNTIES
    rows = [(e.attrs["postalCode"][0], e.attrs["cn"][0], e.attrs["uid"][0]) for e in found]
    in_dit_order = sorted(rows, key=lambda r: r[2])  # the DIT lists the counties by code
    expected = sorted(sorted(in_dit_order, key=lambda r: r[1]), key=lambda r: r[0], reverse=True)
    assert rows == expected
