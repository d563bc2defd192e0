"""Sessions, login and CSRF of the web face — the stable helper API for every page.

Owns: the signed session cookie (HttpOnly, SameSite=Strict, Secure when ``[web] cookie_secure`` or ``[web]
public_url`` is https; HMAC-SHA256 with ``[web] session_secret`` or a secret generated once and kept in the
database) naming a logged-in session kept in the database (``directory.websessions``: checked on every request, so
ending it counts on every instance and across restarts), Bearer-token auth for scripts, the CSRF token of every form,
the Origin check of every state-changing browser request, what a session must do first (set up the second factor,
change an expired password) before anything else, and which paths anonymous visitors may see when ``[web]
anonymous_read`` is off.
Rendering pages (``render``, ``redirect``, navigation) is ``directory.web.render``.

Helper API for pages other parts plug in (liaison letters, meetings):

- ``current_user(request) -> User | None`` — the logged-in user (cookie or ``Authorization: Bearer <token>``).
- ``require_user(request, *, role=None) -> User`` — the user, or: pages redirect (303) to ``/login?next=…``, API
  paths (``/api/``) raise ``AuthenticationFailed`` (401); a user without the duty ``role`` (``User.has_duty``:
  ``reader``, ``editor``, ``sysadmin``, ``secadmin``, ``auditor``) gets ``Forbidden`` (403).
  ``User.can_edit(region_code)`` says whether the user may change that office.
- ``csrf_token(request) -> str`` — put it in every form as ``<input type="hidden" name="csrf" value="…">``
  (``render`` passes it to templates as ``csrf``; the macro ``csrf_field()`` in ``web/base.html`` writes the input).
- ``check_csrf(request, form)`` — raises ``Forbidden`` on a mismatch. The middleware already enforces it for every
  POST/PUT/PATCH/DELETE that was not authenticated by a Bearer token, on every route (also pages plugged in by
  ``extensions``): forms must carry the ``csrf`` field, scripts in a page may send the ``X-CSRF-Token`` header
  instead. Only a request whose token was accepted is exempt, never one that merely carries the header.
- ``safe_next(target) -> str`` — where to go after login: ``target`` if it is a path on this site, else ``/``.
- ``request[ACCOUNT]`` — the same user as a plain mapping (``username``, ``role``, ``province_code``), for pages
  written against a mapping; new code should use ``current_user``.
- ``allow_anonymous(app, prefix)`` — paths under ``prefix`` need no login even when ``[web] anonymous_read`` is off
  (for pages that check their own proof, such as signed links).
- ``own_authentication(app, prefix)`` — paths under ``prefix`` belong to a face that authenticates every request
  itself (CardDAV's HTTP Basic with app passwords): this middleware neither reads their ``Authorization`` header
  nor checks CSRF there (no cookie grants anything on those paths), and lets anonymous requests through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from directory import accounts, clock, tokens, websessions
from directory.accounts import User
from directory.errors import AuthenticationFailed, Forbidden
from directory.settings import Settings
from directory.store import Store
from directory.web import firststeps, hardening
from directory.web.firststeps import Must

__all__ = [
    "User",
    "allow_anonymous",
    "check_csrf",
    "csrf_token",
    "current_user",
    "require_user",
    "safe_next",
]

COOKIE = "bohai_session"
SECRET_META_KEY = "web.session_secret"
# Paths anyone may see, also with ``[web] anonymous_read`` off: the login page, probes, static files, the API spec.
PUBLIC_PREFIXES: tuple[str, ...] = ("/login", "/healthz", "/metrics", "/static/", "/api/v1/openapi.json")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    sid: str
    username: str | None  # the logged-in (or, before the second factor, the half-logged-in) account
    expires: int
    dirty: bool = False


@dataclass
class AuthState:
    """Per-app state: the signing key, the settings, and the paths open to anonymous users."""

    settings: Settings
    store: Store
    secret: bytes = b""
    public_prefixes: tuple[str, ...] = PUBLIC_PREFIXES
    own_auth_prefixes: tuple[str, ...] = ()
    logins: accounts.Logins = field(init=False)

    def __post_init__(self) -> None:
        self.logins = accounts.logins_for(self.store, self.settings.login)

    def sign(self, payload: bytes) -> str:
        return hmac.new(self.secret, payload, hashlib.sha256).hexdigest()


AUTH = web.AppKey("auth", AuthState)
SESSION = web.RequestKey("session", Session)
BY_TOKEN = web.RequestKey("by_token", bool)  # authenticated by a Bearer token (scripts: no CSRF token needed)
USER = web.RequestKey("user", User)
ACCOUNT = web.RequestKey("account", dict)
PENDING = web.RequestKey("pending", str)  # the account that gave its password and owes the second factor
LIVE = web.RequestKey("live", websessions.Live)
MUST = web.RequestKey("must", Must)


async def load_secret(state: AuthState) -> None:
    """The configured secret, else one generated once and kept in the database (shared by all processes)."""
    configured = state.settings.web.session_secret
    if configured:
        state.secret = configured.encode("utf-8")
        return
    value = await state.store.run(state.store.set_meta_default, SECRET_META_KEY, secrets.token_hex(32))
    state.secret = value.encode("ascii")


# -- the session cookie --------------------------------------------------------------------------------------------


def _encode(state: AuthState, s: Session) -> str:
    payload = base64.urlsafe_b64encode(f"{s.sid}|{s.username or ''}|{s.expires}".encode()).decode("ascii")
    return f"{payload}.{state.sign(payload.encode('ascii'))}"


def encode_cookie(state: AuthState, s: Session) -> str:
    """The signed cookie value naming session ``s`` (for tools and tests that hand a session to a client)."""
    return _encode(state, s)


def csrf_for(state: AuthState, sid: str) -> str:
    return state.sign(f"csrf|{sid}".encode())[:40]


def _decode(state: AuthState, cookie: str, now: int) -> Session | None:
    payload, dot, mac = cookie.partition(".")
    if not dot or len(cookie) > 1000 or not hmac.compare_digest(mac, state.sign(payload.encode("ascii", "replace"))):
        return None
    try:
        sid, username, expires = base64.urlsafe_b64decode(payload).decode("utf-8").split("|")
        exp = int(expires)
    except ValueError:
        return None
    if exp < now:
        return None
    return Session(sid, username or None, exp)


def _now() -> int:
    return int(clock.now().timestamp())


def _new_session(state: AuthState) -> Session:
    """An anonymous session: only in the cookie (it carries the CSRF token of the login form, no rights)."""
    return Session(websessions.new_id(), None, _now() + state.settings.web.session_ttl, dirty=True)


def session(request: web.Request) -> Session:
    """The request's session; a fresh anonymous one (sent as a cookie with the response) if there is none."""
    current = request.get(SESSION)
    if current is None:
        current = _new_session(request.app[AUTH])
        request[SESSION] = current
    assert isinstance(current, Session)
    return current


async def login(request: web.Request, user: User, *, stage: str = websessions.FULL) -> None:
    """Start a session of ``user`` in the database with a new id (no session fixation); the one it replaces (an
    anonymous one, or the half-done one of a second-factor login) ends. ``stage`` ``password``: the second factor
    is still owed, and the request is not logged in."""
    state = request.app[AUTH]
    store = state.store
    old = request.get(SESSION)
    if isinstance(old, Session) and old.username is not None:
        await store.run(websessions.end, store, old.sid, "replaced", None)
    sid, expires = await store.run(
        lambda: websessions.start(
            store,
            user,
            state.settings.security,
            client=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""),
            stage=stage,
        )
    )
    request[SESSION] = Session(sid, user.username, int(expires.timestamp()), dirty=True)
    if stage == websessions.FULL:
        request[USER] = user
        request.pop(PENDING, None)
    else:
        request[PENDING] = user.username
        request.pop(USER, None)


async def logout(request: web.Request, reason: str = "logout") -> None:
    """End this request's session in the database (on every instance) and start an anonymous one."""
    state = request.app[AUTH]
    old = request.get(SESSION)
    if isinstance(old, Session) and old.username is not None:
        await state.store.run(websessions.end, state.store, old.sid, reason, old.username)
    request[SESSION] = _new_session(state)
    request.pop(USER, None)
    request.pop(PENDING, None)


def current_session_hash(request: web.Request) -> str | None:
    """The stored key of this request's logged-in session (to tell it apart in lists), or None."""
    s = request.get(SESSION)
    return websessions.id_hash(s.sid) if isinstance(s, Session) and s.username else None


def _set_cookie(request: web.Request, response: web.StreamResponse) -> None:
    s = request.get(SESSION)
    if not isinstance(s, Session) or not s.dirty or response.prepared:
        return
    state = request.app[AUTH]
    response.set_cookie(
        COOKIE,
        _encode(state, s),
        max_age=max(s.expires - _now(), 0),
        httponly=True,
        samesite="Strict",
        secure=hardening.cookie_secure(state.settings),
        path="/",
    )


# -- who is asking -------------------------------------------------------------------------------------------------


async def _resolve(request: web.Request, state: AuthState) -> User | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Authorization 头应为 Bearer <令牌>")
        client = request.remote or ""
        user = await state.store.run(tokens.authenticate, state.store, token.strip(), client)
        request[BY_TOKEN] = True
        return user
    cookie = request.cookies.get(COOKIE)
    s = _decode(state, cookie, _now()) if cookie else None
    if s is None:
        return None
    if s.username is None:
        request[SESSION] = s
        return None
    live = await state.store.run(websessions.check, state.store, s.sid, s.username, state.settings.security)
    if live is None:  # ended, timed out or disabled: the browser gets a fresh anonymous session
        request[SESSION] = _new_session(state)
        return None
    request[SESSION] = s
    request[LIVE] = live
    if live.stage != websessions.FULL:
        request[PENDING] = live.user.username
        return None
    return live.user


def _must(request: web.Request, state: AuthState, user: User) -> Must | None:
    live = request.get(LIVE)
    if not isinstance(live, websessions.Live):
        return None  # a token: device and script credentials are not asked for a second factor
    return firststeps.must(live, user, state.settings.security)


def current_user(request: web.Request) -> User | None:
    user = request.get(USER)
    return user if isinstance(user, User) else None


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def require_user(request: web.Request, *, role: str | None = None) -> User:
    """The logged-in user, at least ``role`` if given; else a redirect to the login page (401 for the API)."""
    user = current_user(request)
    if user is None:
        if is_api(request):
            raise AuthenticationFailed("需要登录或访问令牌（Authorization: Bearer <令牌>）")
        target = urllib.parse.quote(request.path_qs, safe="")
        raise web.HTTPSeeOther(f"/login?next={target}")
    if role is not None and not user.has_duty(role):
        raise Forbidden(f"此操作需要“{accounts.ROLE_NAMES.get(role, role)}”权限")
    return user


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def allow_anonymous(app: web.Application, prefix: str) -> None:
    """Paths under ``prefix`` need no login even with ``[web] anonymous_read`` off; the handler checks access."""
    state = app[AUTH]
    if prefix not in state.public_prefixes:
        state.public_prefixes = (*state.public_prefixes, prefix)


def own_authentication(app: web.Application, prefix: str) -> None:
    """Paths under ``prefix`` authenticate themselves: no session, Bearer token or CSRF check of this module."""
    state = app[AUTH]
    state.own_auth_prefixes = (*state.own_auth_prefixes, prefix)


def middleware() -> Middleware:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        state = request.app[AUTH]
        if state.own_auth_prefixes and request.path.startswith(state.own_auth_prefixes):
            return await handler(request)
        user = await _resolve(request, state)
        routed = request.match_info.http_exception is None  # unknown routes answer 404/405, not 403
        if routed and request.method in UNSAFE and not request.get(BY_TOKEN, False):
            hardening.check_origin(request, state.settings)
        if user is not None:
            request[USER] = user
            # for pages written against a plain mapping
            request[ACCOUNT] = {"username": user.username, "role": user.role, "province_code": user.province_code}
            must = _must(request, state, user)
            if must is not None:
                request[MUST] = must
                if not request.path.startswith(firststeps.PATHS):
                    if is_api(request) or request.method in UNSAFE:
                        raise Forbidden(firststeps.TEXT[must])
                    raise web.HTTPSeeOther(must.value)
        anonymous_refused = not state.settings.web.anonymous_read and user is None
        if anonymous_refused and not request.path.startswith(state.public_prefixes):
            require_user(request)
        if routed and request.method in UNSAFE and user is None and is_api(request):
            require_user(request)  # an anonymous script is told to authenticate (401), not about CSRF
        if routed and request.method in UNSAFE and not request.get(BY_TOKEN, False):
            await _check_csrf_early(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _set_cookie(request, exc)
            raise
        _set_cookie(request, response)
        return response

    return authenticate


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site, else ``/`` (no open redirect, no header injection).

    Browsers drop tabs and line breaks from a URL and read ``\\`` as ``/``, so ``/<TAB>/evil.example`` would
    become ``//evil.example``; any whitespace, control or format character, or backslash refuses the target
    before it is checked. Non-ASCII letters are percent-encoded for the Location header."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in target):
        return "/"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return urllib.parse.quote(target, safe="/?&=#%:@!$'()*+,;~-._")


# -- CSRF ----------------------------------------------------------------------------------------------------------


async def _check_csrf_early(request: web.Request) -> None:
    """Every state-changing request from a browser carries the token: form field ``csrf`` or ``X-CSRF-Token``.

    Enforced here for every page, including pages other parts plug in; reading the form is cached by aiohttp, so
    handlers read it again for free (and may call ``check_csrf`` themselves as well).
    """
    header = request.headers.get("X-CSRF-Token")
    if header is not None:
        check_csrf(request, {"csrf": header})
        return
    content_type = request.content_type
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        check_csrf(request, await request.post())
        return
    check_csrf(request, {})


def csrf_token(request: web.Request) -> str:
    return csrf_for(request.app[AUTH], session(request).sid)


def check_csrf(request: web.Request, form: Mapping[str, Any]) -> None:
    """Refuse a form post whose ``csrf`` field does not match the session (Forbidden, nothing is done)."""
    sent = form.get("csrf")
    s = request.get(SESSION)
    if not isinstance(sent, str) or not isinstance(s, Session) or s.dirty:
        raise Forbidden("表单已失效或来源不明（CSRF 校验失败），请刷新页面后重新提交")
    if not hmac.compare_digest(sent, csrf_token(request)):
        raise Forbidden("表单已失效或来源不明（CSRF 校验失败），请刷新页面后重新提交")
