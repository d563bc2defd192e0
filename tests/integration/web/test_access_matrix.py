"""Least privilege, walked: every role × every state-changing route of the web face and the API × an office of
河北 (13) and of 山东 (37), against the whole web app (the liaison pages included).

The routes come from the app's router, not from a list here, so a route added later is in the matrix by itself. Each
cell sends the request a real client of that role would send (a session cookie with its CSRF token and a same-site
Origin for pages; the role's write-scope API token for ``/api/``; nothing for the anonymous visitor), with a body
that would change something for someone allowed, and compares the database before and after. What a role may
change: the offices of its reach for content routes (an editor: the own province; the system administrator: all),
only its own account on the self-service routes (``/login``, ``/logout``, ``/account``), other accounts' security on
``/admin/security`` only as security administrator, nothing through CardDAV. Every account has its second factor
enrolled and ``[security] require_2fa`` is on, as in production. The matrix is printed; 0 unauthorized changes, and
the allowed roles did change what they may (so the zero is not from requests that could not work anyway).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer

from directory import accounts, demo, tokens, twofactor
from directory import regions as bundled
from directory.accounts import User
from directory.exchange import export
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.web.api import etag
from directory.web.app import make_app
from directory.web.context import CTX, WebContext
from liaison.database import open_store
from liaison.service import Running, web_extensions
from tests.support.settings import service_settings
from tests.support.web import CHANGAN, LIXIA, PASSWORD, session_for

pytestmark = pytest.mark.slow  # a whole web app walked route by route, the database read twice per cell
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
OFFICES = {"13": CHANGAN, "37": LIXIA}
ROLES: list[tuple[str, str | None, str | None]] = [
    ("anonymous", None, None),
    ("reader", "reader", None),
    ("editor13", "editor", "13"),
    ("editor37", "editor", "37"),
    ("sysadmin", "sysadmin", None),
    ("secadmin", "secadmin", None),
    ("auditor", "auditor", None),
]
VICTIM = "victim"  # an account of nobody in the matrix: self-service routes must not reach it
SELF_SERVICE = ("/login", "/logout", "/account")
VOLATILE = {"last_seen_at", "last_used_at", "last_used_from"}  # reading with a session or token touches these
# attempts are logged whoever makes them; the audit chain's head moves with every audit row (the rows themselves are
# compared, as their own account's or everyone's): neither is data a role could change
# (and the self-service page's failed-attempt counters, kept whoever makes the attempt, like login_event)
IGNORED_TABLES = {"login_event", "audit_chain", "verify_attempt"}
COUNTED_TABLES = {"region", "region_alias", "office_change"}  # large or derived: compared by count only
LAST = ("cancel", "signout", "logout", "end-sessions", "reset-2fa")  # run after the others that need their state


@dataclass
class World:
    client: TestClient[Any, Any]
    app: web.Application
    store: Store
    users: dict[str, User]
    tables: sa.MetaData = field(default_factory=sa.MetaData)
    tokens: dict[str, str] = field(default_factory=dict)
    meetings: dict[str, int] = field(default_factory=dict)
    app_passwords: dict[str, int] = field(default_factory=dict)


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    settings = service_settings(db_url, ldap={"enabled": False}, security={"require_2fa": True})
    store = open_store(db_url)
    divisions = {d.code: d for d in bundled.divisions() if d.code in OFFICES.values()}
    store.upsert_offices([demo.office_for(divisions[code]) for code in OFFICES.values()], "test")
    holder = SnapshotHolder(store)
    app = make_app(WebContext(settings, store, holder), web_extensions(Running(settings, store, holder)))
    # no cookie jar: each cell sends exactly the session it names, never one a previous answer set
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=aiohttp.DummyCookieJar())
    await client.start_server()
    users: dict[str, User] = {}
    for name, role, province in [*ROLES[1:], (VICTIM, "reader", None)]:
        assert role is not None
        users[name] = accounts.add_user(store, name, PASSWORD, role, province, "test")
        store.set_totp(name, twofactor.new_secret(), True, [], "test")  # enrolled, so no enrolment is forced
    w = World(client, app, store, users)
    w.tables.reflect(store.engine)
    for name in users:
        if name != VICTIM:
            w.tokens[name] = tokens.issue(store, name, "matrix", "test", scope="write")[1]
    w.app_passwords["victim"] = store.add_app_password(VICTIM, "phone", "0" * 64, "test")
    cookie, csrf = session_for(app, "sysadmin")
    for province, code in OFFICES.items():  # one meeting hosted by each province, for the routes of a meeting
        form = {"csrf": csrf, "title": f"会议{province}", "host": code, "place": "会议室", "start": "2027-03-01T09:00",
                "end": "2027-03-01T10:00", "attendees": "a@example.org"}  # fmt: skip
        resp = await client.post("/meetings/new", data=form, headers=_browser(client, cookie), allow_redirects=False)
        assert resp.status == 303, await resp.text()
        w.meetings[province] = int(resp.headers["Location"].rsplit("/", 1)[1].split("?")[0])
    yield w
    await client.close()
    store.close()


def _browser(client: TestClient[Any, Any], cookie: str) -> dict[str, str]:
    return {"Cookie": f"bohai_session={cookie}", "Origin": str(client.make_url("")).rstrip("/")}


def state_changing_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path pattern) of every route that can change state; ``*`` routes are tried with PUT and DELETE."""
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        info = resource.get_info()
        pattern = info.get("formatter") or info.get("path") or ""
        if not pattern:  # static files: GET only
            continue
        for route in resource:
            if route.method in UNSAFE:
                found.add((route.method, pattern))
            elif route.method == "*":
                found.update({("PUT", pattern), ("DELETE", pattern)})
    return sorted(found, key=lambda r: (any(word in r[1] for word in LAST), r[1], r[0]))


def fingerprint(w: World, me: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The database as (rows of ``me``'s own account, everything else), volatile columns left out. Rows are kept as
    the ``repr`` of their values: two fingerprints are compared whole for every cell, twice per cell, so this is
    most of the test's time."""
    store, meta = w.store, w.tables
    mine: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    with store.engine.connect() as conn:
        my_id = conn.execute(sa.text("SELECT id FROM account WHERE username = :u"), {"u": me or ""}).scalar()
        for name, table in sorted(meta.tables.items()):
            if name in IGNORED_TABLES or name.endswith("alembic_version"):
                continue
            if name in COUNTED_TABLES:
                rest[name] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                continue
            columns = [c for c in table.c if c.name not in VOLATILE]
            at = {c.name: n for n, c in enumerate(columns)}
            username = at.get("username", -1) if name == "account" else -1
            account = at.get("account_id", -1)
            for row in conn.execute(sa.select(*columns)):
                own = (
                    (username >= 0 and row[username] == me)
                    or (account >= 0 and my_id is not None and row[account] == my_id)
                    or (name == "change" and _audited_account(row, at) == me)
                )
                target = mine if own else rest
                target.setdefault(name, []).append(repr(tuple(row)))
    return mine, rest


def _audited_account(row: Any, at: dict[str, int]) -> str | None:
    """The account an audit row is about: an account's own row, or the owner of a token."""
    entity = row[at["entity"]]
    if entity == "account":
        return str(row[at["entity_key"]])
    return _token_owner(row[at["after"]]) if entity == "token" else None


def _token_owner(after_json: str | None) -> str | None:
    after = json.loads(after_json or "null") or {}
    return after.get("username") if isinstance(after, dict) else None


def allowed(path: str, user: User | None, code: str) -> bool:
    """Whether ``user`` may change shared data (anything but its own account) through ``path`` for office ``code``."""
    if path.startswith(SELF_SERVICE):
        return False  # own account only
    if path.startswith(("/carddav", "/.well-known")):
        return False  # read-only face
    if path.startswith("/meetings/answer/"):
        return True  # whoever holds a signed answer link (the one used here is not valid)
    if path.startswith("/admin/security"):
        return user is not None and user.can_manage_security
    return user is not None and user.can_edit(code)  # content: the offices of the user's reach


def _fill(pattern: str, w: World, province: str, code: str) -> str:
    values = {"code": code, "id": str(w.meetings[province]), "username": VICTIM, "token": "not-a-valid-link",
              "tail": "addressbooks/x.vcf"}  # fmt: skip
    if pattern.startswith("/account/app-passwords/"):
        values["id"] = str(w.app_passwords["victim"])
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values.get(m[1], "1"), pattern)


def _form(w: World, csrf: str, name: str, province: str, code: str, n: int) -> dict[str, str]:
    office = w.store.get_office(code)
    assert office is not None
    other = OFFICES["37" if province == "13" else "13"]
    return {
        "csrf": csrf,
        **{k: str(office[k] or "") for k in ("unit_name", "position", "email", "address", "postal_code")},
        "phone": office["phone"], "fax": office["fax"], "contact_name": f"矩阵{n}", "version": str(office["version"]),
        "from": code, "to": f"{code} {other}", "subject": "矩阵测试", "body": "正文", "title": f"改期{n}",
        "host": code, "place": "会议室", "start": "2027-03-02T09:00", "end": "2027-03-02T10:00",
        "label": f"矩阵{n}", "scope": "write", "id": "1", "code": "000000", "key": "x",
        "current": PASSWORD, "new": f"Matrix-pass-{n}!", "again": f"Matrix-pass-{n}!",
        "username": name or VICTIM, "password": "wrong-password", "answer": "yes", "province": code,
    }  # fmt: skip


def _csv(w: World, code: str, n: int) -> bytes:
    data = export.render(w.app[CTX].holder.current, "csv", root=code)
    office = w.store.get_office(code)
    assert office is not None
    return data.replace(office["contact_name"].encode(), f"矩阵{n}".encode())


async def _send(
    w: World, method: str, path: str, name: str, session: tuple[str, str], province: str, code: str, n: int
) -> int:
    client = w.client
    user = w.users.get(name)
    if path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {w.tokens[name]}"} if user else {}
        if path.startswith("/api/v1/import"):
            headers["Content-Type"] = "text/csv"
            resp = await client.request(method, path + "?apply=true", data=_csv(w, code, n), headers=headers)
        else:
            office = w.store.get_office(code)
            headers.update({"Content-Type": "application/json", "If-Match": etag(office["version"] if office else 0)})
            body = json.dumps({"contact_name": f"矩阵{n}"}, ensure_ascii=False)
            resp = await client.request(method, path, data=body.encode(), headers=headers)
        return resp.status
    cookie, csrf = session
    form = _form(w, csrf, name if user else "", province, code, n)
    if path == "/import":
        data: Any = FormData({k: v for k, v in form.items() if k in ("csrf", "province")})
        data.add_field("file", _csv(w, code, n), filename="offices.csv", content_type="text/csv")
    else:
        data = form
    resp = await client.request(method, path, data=data, headers=_browser(client, cookie), allow_redirects=False)
    return resp.status


async def test_every_role_on_every_state_changing_route(world: World) -> None:
    w = world
    routes = state_changing_routes(w.app)
    paths = {p for _, p in routes}
    # the matrix sees the routes of both layers (a check that the walk finds what it should)
    assert {
        "/office/{code}/edit",
        "/api/v1/offices/{code}",
        "/letters/new",
        "/admin/security/{username}/reset-2fa",
    } <= paths
    columns = [(name, province) for name, _, _ in ROLES for province in OFFICES]
    lines = [f"{'route':<52}" + "".join(f"{name[:9]}·{p:<3}" for name, p in columns)]
    unauthorized: list[str] = []
    changed_cells: set[tuple[str, str, str, str]] = set()
    n = 0
    for method, pattern in routes:
        cells = []
        for name, province in columns:
            n += 1
            code = OFFICES[province]
            user = w.users.get(name)
            path = _fill(pattern, w, province, code)
            session = session_for(w.app, user.username if user else None)
            before = fingerprint(w, user.username if user else None)
            status = await _send(w, method, path, name, session, province, code, n)
            after = fingerprint(w, user.username if user else None)
            foreign = before[1] != after[1]
            own = before[0] != after[0]
            may = allowed(pattern, user, code)
            if foreign and not may:
                unauthorized.append(f"{method} {path} as {name}: {status}")
                mark = "✗"
            elif foreign or own:
                changed_cells.add((method, pattern, name, province))
                mark = "✓" if foreign else "s"
            else:
                mark = "·" if may else "-"
            cells.append(f"{mark}{status:<10}")
        lines.append(f"{method + ' ' + pattern:<52}" + "".join(cells))
    legend = (
        "✓ changed (allowed)  s changed only own account  · allowed, unchanged  - refused/unchanged  ✗ unauthorized"
    )
    print("\n".join(["", legend, *lines, f"unauthorized changes: {len(unauthorized)}"]))
    assert unauthorized == [], unauthorized
    # what the allowed roles could do, they did: the zero above is not from requests that could never work
    for expected in [
        ("POST", "/office/{code}/edit", "editor13", "13"),
        ("POST", "/office/{code}/edit", "editor37", "37"),
        ("POST", "/office/{code}/edit", "sysadmin", "13"),
        ("POST", "/office/{code}/edit", "sysadmin", "37"),
        ("PATCH", "/api/v1/offices/{code}", "editor13", "13"),
        ("PATCH", "/api/v1/offices/{code}", "sysadmin", "37"),
        ("POST", "/api/v1/import", "editor37", "37"),
        ("POST", "/letters/new", "editor13", "13"),
        ("POST", "/meetings/new", "sysadmin", "37"),
        ("POST", "/admin/security/{username}/reset-2fa", "secadmin", "13"),
        ("POST", "/account/app-passwords", "auditor", "13"),
    ]:
        assert expected in changed_cells, f"{expected} changed nothing"
