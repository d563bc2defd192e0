"""The start-up image: a restart answers from it at once, and what it answers is what the database holds.

The image is written by one `bohai serve`, the directory is edited while no service runs, and the next `bohai serve`
is asked over HTTP and LDAP the moment each face reports that it listens: the answers must be those it gives after
start-up, and they must carry the edit (the image was behind the database and had to be brought up to it). The
checks that refuse an image (another history, a changed file, a foreign type, open permissions) are tested on the
file itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any

import aiohttp
import ldap3
import pytest

from directory import demo, regions
from directory.snapshot import SnapshotHolder
from directory.startimage import HEADER_SIZE, ImageFile
from liaison.database import open_store
from tests.support.servers import serve_process

pytestmark = pytest.mark.slow  # whole services over the 15,404 demo offices

BASE = "dc=bohai,dc=example"
EDITED = "130102000000"  # 石家庄市长安区
NEW_NAME = "启像测"  # a contact name no demo office has


def _rename(url: str, code: str, name: str) -> int:
    store = open_store(url)
    try:
        data = demo.office_for(regions.by_code()[code])
        store.upsert_offices([dataclasses.replace(data, contact_name=name)], "test")
        return store.generation()
    finally:
        store.close()


def _ldap_search(port: int, text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Thunderbird's contains filter with a size limit, as ldap3 sends it: (DN, the contact's name) by DN."""
    server = ldap3.Server("127.0.0.1", port=port, connect_timeout=10)
    with ldap3.Connection(server, auto_bind=True, receive_timeout=30) as conn:
        flt = f"(|(cn=*{text}*)(mail=*{text}*)(givenName=*{text}*)(sn=*{text}*))"
        conn.search(BASE, flt, attributes=["cn", "givenName", "mail"], size_limit=50)
        return sorted((e.entry_dn, tuple(e.entry_attributes_as_dict.get("givenName", []))) for e in conn.entries)


async def _http_search(url: str, text: str) -> tuple[int, list[str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/api/v1/search", params={"q": text}) as resp:
        body = await resp.json()
        return body["total"], [hit["region_code"] for hit in body["hits"]]


async def _healthz(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


QUERIES = (NEW_NAME, "长安", "张")


async def _ask_all(http: str | None, ldap: int | None) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for q in QUERIES:
        if http is not None:
            answers[f"http {q}"] = await _http_search(http, q)
        if ldap is not None:
            answers[f"ldap {q}"] = await asyncio.to_thread(_ldap_search, ldap, q)
    if http is not None:
        answers["healthz offices"] = (await _healthz(http))["offices"]
    return answers


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_answers_at_the_first_moment_are_the_answers_after_start(demo_url: str, tmp_path: Path) -> None:
    image = tmp_path / "snapshot.image"
    env = {
        "BOHAI_DATABASE_URL": demo_url,
        "BOHAI_DATABASE_IMAGE": str(image),
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_LDAP_PORT": "0",
        "BOHAI_SMTP_ENABLED": "false",
    }
    async with serve_process(env) as first:
        pass
    assert first.proc.returncode == 0 and image.exists(), "".join(first.output)  # saved when it ran and at its stop
    assert not any("start-up image:" in line for line in first.output)  # nothing to read the first time: built
    generation = await asyncio.to_thread(_rename, demo_url, EDITED, NEW_NAME)  # while no service runs

    early: dict[str, Any] = {}
    later: dict[str, Any] = {}

    async def at_once(face: str, url: str) -> None:
        if face == "http":
            early.update(await _ask_all(url, None))
        elif face == "ldap":
            early.update(await _ask_all(None, _port(url)))

    async with serve_process(env, on_listen=at_once) as second:
        later.update(await _ask_all(second.urls["http"], _port(second.urls["ldap"])))
    assert second.proc.returncode == 0, "".join(second.output)
    taken = [line for line in second.output if "start-up image:" in line]
    assert taken and f"brought to {generation}" in taken[0], "".join(second.output)  # the image was behind: patched
    assert set(early) == set(later) and len(early) == 2 * len(QUERIES) + 1
    assert early == later
    assert early["healthz offices"] == 15404
    assert early[f"http {NEW_NAME}"] == (1, [EDITED])  # the edit made while no service ran is answered at once
    assert [names for _, names in early[f"ldap {NEW_NAME}"]] == [(NEW_NAME,)]
    assert early["ldap 长安"] and early["http 长安"][0] > 0


# -- the file and its checks -------------------------------------------------------------------------------------

SAMPLE = ("130102000000", "130104000000", "130105000000", "110101000000")


def _holder(url: str, image: Path) -> SnapshotHolder:
    from directory.ldap.service import register_index
    from directory.search import SearchIndexer

    holder = SnapshotHolder(open_store(url), image=ImageFile(image))
    holder.register("search", SearchIndexer())
    register_index(holder, BASE, "description")
    return holder


def _answers(holder: SnapshotHolder) -> tuple[Any, ...]:
    from directory.ldap.filterstr import parse_filter
    from directory.ldap.indexing import index_for
    from directory.search import search

    index = index_for(holder.current, BASE)
    found = []
    for flt in ("(givenName=*启*)", "(cn=*长安*)", "(objectClass=*)"):
        ids, _, _ = index.evaluate(0, 2, parse_filter(flt), None, 1000, float("inf"))
        found.append([index.entries[i].full for i in ids])
    hits = [[h.office.region_code for h in search(holder.current, q).hits] for q in ("长安", NEW_NAME, "石家庄")]
    return (*found, hits)


@pytest.fixture
def small_url(db_url: str) -> str:
    store = open_store(db_url)
    try:
        by_code = regions.by_code()
        store.upsert_offices([demo.office_for(by_code[code]) for code in SAMPLE], "test", demo=True)
    finally:
        store.close()
    return db_url


def test_a_restart_takes_the_image_and_brings_it_up_to_the_database(small_url: str, tmp_path: Path) -> None:
    image = tmp_path / "s.image"
    first = _holder(small_url, image)
    assert first.image_generation is None and first.save_image()
    assert image.stat().st_mode & 0o777 == 0o600
    first.store.close()
    generation = _rename(small_url, EDITED, NEW_NAME)

    taken = _holder(small_url, image)
    built = SnapshotHolder(open_store(small_url))
    try:
        assert taken.image_generation is not None and taken.current.generation == generation
        assert taken.current.offices[EDITED].contact_name == NEW_NAME
        from directory.ldap.service import register_index
        from directory.search import SearchIndexer

        built.register("search", SearchIndexer())
        register_index(built, BASE, "description")
        assert _answers(taken) == _answers(built)
        assert _answers(taken)[-1][1] == [EDITED]

        _rename(small_url, "130104000000", "再改名")  # a change after start patches the adopted indexes
        taken.refresh_sync()
        built.refresh_sync()
        assert _answers(taken) == _answers(built)
    finally:
        taken.store.close()
        built.store.close()


def _saved(url: str, image: Path) -> None:
    holder = _holder(url, image)
    try:
        assert holder.save_image()
    finally:
        holder.store.close()


def _reseal(image: Path, payload: bytes) -> None:
    """Replace the payload and fix the header's length and checksum, as someone able to write the file could."""
    import hashlib
    import json

    raw = image.read_bytes()
    header = json.loads(raw[:HEADER_SIZE])
    header["length"], header["blake2b"] = len(payload), hashlib.blake2b(payload, digest_size=32).hexdigest()
    image.write_bytes(json.dumps(header).encode().ljust(HEADER_SIZE - 1) + b"\n" + payload)
    image.chmod(0o600)


class _Runs:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch ran-from-image",))


def _tamper(kind: str, url: str, image: Path) -> None:
    if kind == "restored":
        store = open_store(url)
        with store.begin() as conn:
            store.renew_epoch(conn)
        store.close()
    elif kind == "flipped byte":
        raw = bytearray(image.read_bytes())
        raw[HEADER_SIZE + len(raw) // 2 - HEADER_SIZE // 2] ^= 0x01
        image.write_bytes(bytes(raw))
    elif kind == "others may write":
        image.chmod(0o666)
    elif kind == "foreign type":
        _reseal(image, pickle.dumps(_Runs(), protocol=5))
    elif kind == "truncated":
        image.write_bytes(image.read_bytes()[: HEADER_SIZE + 100])
    elif kind == "tree changed":
        store = open_store(url)
        with store.begin() as conn:
            from directory.store.engine import put_meta
            from directory.store.regions import REGIONS_GENERATION_KEY

            put_meta(conn, REGIONS_GENERATION_KEY, str(store.bump_generation(conn)))
        store.close()
    elif kind == "office changed behind the log":
        store = open_store(url)
        with store.begin() as conn:  # a write that bypassed the change counter (e.g. SQL by hand)
            from directory.store.engine import office_t

            conn.execute(office_t.update().where(office_t.c.region_code == EDITED).values(version=99))
        store.close()


@pytest.mark.parametrize(
    "kind",
    [
        "restored",
        "flipped byte",
        "others may write",
        "foreign type",
        "truncated",
        "tree changed",
        "office changed behind the log",
    ],
)
def test_an_image_that_is_not_provably_this_data_is_not_taken(
    kind: str, small_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "s.image"
    _saved(small_url, image)
    _tamper(kind, small_url, image)
    holder = _holder(small_url, image)
    try:
        assert holder.image_generation is None  # built from the database instead
        assert len(holder.current.offices) == len(SAMPLE)
        if kind == "office changed behind the log":
            assert holder.current.offices[EDITED].version == 99
    finally:
        holder.store.close()
    assert not (tmp_path / "ran-from-image").exists()
