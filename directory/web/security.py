"""Web pages of identification and access: the second-factor login step, enrolment, password change, one's own
sessions and login history, the security administrator's page, and the auditor's audit view.

Owns only the pages and their forms; the rules are :mod:`directory.twofactor`, :mod:`directory.websessions` and
:mod:`directory.accounts` (which roles may do what). ``/login/2fa`` counts a wrong code like a wrong password (the
login guard of ``directory.loginguard``) and records it in the login history.
"""

from __future__ import annotations

from typing import Any

import segno
from aiohttp import web

from directory import accounts, passwords, twofactor
from directory.accounts import User
from directory.errors import AuthenticationFailed, FieldError, Forbidden, NotFound, Throttled, ValidationFailed
from directory.web import auth
from directory.web.auth import check_csrf, require_user, safe_next
from directory.web.context import CTX
from directory.web.pages import read_form
from directory.web.render import redirect, render

MAX_AUDIT_ROWS = 200


def _session_user(request: web.Request) -> User:
    user = require_user(request)
    if user.token_label:
        raise Forbidden("访问令牌不能管理登录与安全设置；请登录网页后操作")
    return user


# -- the second step of a login ------------------------------------------------------------------------------------


async def login_code_form(request: web.Request) -> web.Response:
    if not request.get(auth.PENDING):
        raise web.HTTPSeeOther("/login")
    context = {"next": safe_next(request.query.get("next")), "error": ""}
    return render(request, "web/login_2fa.html", context)


async def login_code_post(request: web.Request) -> web.StreamResponse:
    username = request.get(auth.PENDING)
    if not username:
        raise web.HTTPSeeOther("/login")
    form = await read_form(request)
    check_csrf(request, form)
    store = request.app[CTX].store
    client = request.remote or "?"
    target = safe_next(form.get("next"))
    guard = request.app[auth.AUTH].logins.guard
    try:
        attempt = guard.begin(username, client)
    except Throttled as exc:
        page = render(request, "web/login_2fa.html", {"next": target, "error": str(exc)}, status=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    how = await store.run(twofactor.verify, store, username, form.get("code", "")[:40])
    if how is None:
        guard.failed(attempt)
        await store.run(store.record_login, username, client, False, "wrong_code")
        error = "验证码不正确或已使用过，请输入验证器应用当前显示的6位数字，或一个未用过的恢复码"
        return render(request, "web/login_2fa.html", {"next": target, "error": error}, status=401)
    guard.succeeded(attempt)
    await store.run(store.record_login, username, client, True, how)
    account = await store.run(store.get_account, username)
    if account is None or account["disabled"]:
        raise AuthenticationFailed(accounts.BAD_LOGIN)
    await auth.login(request, accounts.user_of(account))
    return redirect(target)


# -- enrolment -----------------------------------------------------------------------------------------------------


async def enrol_page(request: web.Request) -> web.Response:
    user = _session_user(request)
    store = request.app[CTX].store
    account = await store.run(store.get_account, user.username)
    assert account is not None
    enabled = account["totp_enabled_at"] is not None
    context: dict[str, Any] = {"enabled": enabled, "error": "", "codes": [], "required": request.get(auth.MUST)}
    if enabled:
        context["unused"] = await store.run(store.unused_recovery_codes, user.username)
    else:
        secret = await store.run(twofactor.begin, store, user.username, user.username)
        link = twofactor.uri(secret, user.username)
        context.update(secret=secret, qr=segno.make(link, error="m").svg_data_uri(scale=4))
    return render(request, "web/account_2fa.html", context)


async def enrol_confirm(request: web.Request) -> web.Response:
    user = _session_user(request)
    form = await read_form(request)
    check_csrf(request, form)
    store = request.app[CTX].store
    try:
        codes = await store.run(twofactor.confirm, store, user.username, form.get("code", "")[:20], user.username)
    except ValidationFailed as exc:
        account = await store.run(store.get_account, user.username)
        secret = (account or {}).get("totp_secret") or ""
        qr = segno.make(twofactor.uri(secret, user.username), error="m").svg_data_uri(scale=4) if secret else ""
        context: dict[str, Any] = {"enabled": False, "error": exc.errors[0].message, "codes": [], "secret": secret,
                                   "qr": qr, "required": request.get(auth.MUST)}  # fmt: skip
        return render(request, "web/account_2fa.html", context, status=400)
    context = {"enabled": True, "codes": codes, "error": "", "unused": len(codes), "required": None}
    return render(request, "web/account_2fa.html", context)


# -- password ------------------------------------------------------------------------------------------------------


async def password_page(request: web.Request) -> web.Response:
    user = _session_user(request)
    return await _password_page(request, user)


async def _password_page(request: web.Request, user: User, status: int = 200, **extra: Any) -> web.Response:
    store = request.app[CTX].store
    policy = request.app[CTX].settings.security
    account = await store.run(store.get_account, user.username)
    age = passwords.password_age((account or {}).get("password_changed_at"), policy)
    context = {"age": age, "policy": policy, "errors": [], "done": False, "required": request.get(auth.MUST), **extra}
    return render(request, "web/account_password.html", context, status=status)


async def password_post(request: web.Request) -> web.StreamResponse:
    """Change one's password: the current one is checked like a login; every other session ends."""
    user = _session_user(request)
    form = await read_form(request)
    check_csrf(request, form)
    state = request.app[auth.AUTH]
    store = state.store
    policy = request.app[CTX].settings.security
    new, again = form.get("new", ""), form.get("again", "")
    try:
        await state.logins.login(user.username, form.get("current", ""), request.remote or "?", "web")
    except (AuthenticationFailed, Throttled) as exc:
        errors = [FieldError("current", "当前密码不正确" if isinstance(exc, AuthenticationFailed) else str(exc))]
        return await _password_page(request, user, 400, errors=errors)
    if new != again:
        return await _password_page(request, user, 400, errors=[FieldError("again", "两次输入的新密码不一致")])
    try:
        await store.run(lambda: accounts.set_password(store, user.username, new, user.username, policy))
    except ValidationFailed as exc:
        return await _password_page(request, user, 400, errors=exc.errors)
    await auth.login(request, user)  # this browser goes on in a new session; all others have ended
    request.pop(auth.MUST, None)
    return await _password_page(request, user, done=True)


# -- own sessions and login history --------------------------------------------------------------------------------


async def sessions_page(request: web.Request) -> web.Response:
    user = _session_user(request)
    store = request.app[CTX].store
    rows = await store.run(store.list_sessions, user.username)
    current = auth.current_session_hash(request)
    sessions = [{**row, "current": row["id_hash"] == current} for row in rows]
    history = await store.run(store.login_history, user.username, 50)
    context = {"sessions": sessions, "history": history, "details": LOGIN_DETAILS}
    return render(request, "web/account_security.html", context)


async def sessions_end_all(request: web.Request) -> web.StreamResponse:
    """Sign out everywhere: every session of the account, this one included, on every instance."""
    user = _session_user(request)
    check_csrf(request, await read_form(request))
    store = request.app[CTX].store
    await store.run(store.end_sessions, user.username, "signout_all", user.username)
    await auth.logout(request, "signout_all")
    return redirect("/login")


LOGIN_DETAILS = {
    "password": "密码登录",
    "totp": "密码 + 动态验证码",
    "recovery": "密码 + 恢复码",
    "wrong_password": "密码错误",
    "wrong_code": "验证码错误",
}


# -- the security administrator ------------------------------------------------------------------------------------


def _secadmin(request: web.Request) -> User:
    user = _session_user(request)
    if not user.can_manage_security:
        raise Forbidden("此操作需要“安全管理员”权限")
    return user


async def admin_page(request: web.Request) -> web.Response:
    _secadmin(request)
    store = request.app[CTX].store
    rows = await store.run(store.list_accounts)
    listed = []
    for row in rows:
        live = await store.run(store.list_sessions, row["username"])
        listed.append({"username": row["username"], "role_name": accounts.role_name(row["role"]),
                       "totp": row["totp_enabled_at"] is not None, "disabled": row["disabled"],
                       "sessions": len(live)})  # fmt: skip
    return render(request, "web/admin_security.html", {"accounts": listed, "done": request.query.get("done", "")})


async def _target(request: web.Request) -> str:
    username = request.match_info["username"]
    store = request.app[CTX].store
    if await store.run(store.get_account, username) is None:
        raise NotFound(f"用户 {username} 不存在")
    return username


async def admin_reset_2fa(request: web.Request) -> web.StreamResponse:
    user = _secadmin(request)
    check_csrf(request, await read_form(request))
    username = await _target(request)
    store = request.app[CTX].store
    await store.run(twofactor.reset, store, username, user.username)
    return redirect("/admin/security?done=2fa")


async def admin_end_sessions(request: web.Request) -> web.StreamResponse:
    user = _secadmin(request)
    check_csrf(request, await read_form(request))
    username = await _target(request)
    store = request.app[CTX].store
    await store.run(store.end_sessions, username, "revoked", user.username)
    return redirect("/admin/security?done=sessions")


# -- the auditor ---------------------------------------------------------------------------------------------------


async def audit_page(request: web.Request) -> web.Response:
    """The latest audit rows, read-only, for the auditor (administrators do not read their own trail)."""
    user = _session_user(request)
    if not user.can_read_audit:
        raise Forbidden("此页面只对审计员开放")
    store = request.app[CTX].store
    rows = await store.run(store.recent_changes, MAX_AUDIT_ROWS)
    return render(request, "web/audit.html", {"rows": rows})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/login/2fa", login_code_form)
    r.add_post("/login/2fa", login_code_post)
    r.add_get("/account/2fa", enrol_page)
    r.add_post("/account/2fa", enrol_confirm)
    r.add_get("/account/password", password_page)
    r.add_post("/account/password", password_post)
    r.add_get("/account/security", sessions_page)
    r.add_post("/account/security/signout-all", sessions_end_all)
    r.add_get("/admin/security", admin_page)
    r.add_post("/admin/security/{username}/reset-2fa", admin_reset_2fa)
    r.add_post("/admin/security/{username}/end-sessions", admin_end_sessions)
    r.add_get("/audit", audit_page)
