"""Page rendering of the web face: the one Jinja environment for HTML pages, ``render``, ``redirect``, and how other
parts plug their templates and navigation entries in.

Owns: per app, the page environment (always autoescaped, ``StrictUndefined``, ``trim_blocks``/``lstrip_blocks``,
the ``phone`` filter) and the navigation bar's entries. Templates are found by prefix: ``web/…`` names are the web
face's own (``templates/web/``); upper layers register their folders under their own prefix, so the directory
never needs to know where liaison keeps its templates, and a name says whose template it is.

Registration API, for ``Extension`` functions (see ``directory.web.context``), called while the app is built:

- ``register_templates(app, prefix, folder, filters=…, globals=…)`` — templates named ``<prefix>/…`` come from
  ``folder``; ``filters`` and ``globals`` are added to the page environment (every page sees them).
- ``add_nav(app, href, label)`` — one more entry in the navigation bar, after the web face's own (once per href).

For handlers:

- ``render(request, template, context, status=200) -> web.Response`` — a page in the base layout; ``context`` adds
  to ``user``, ``csrf``, ``nav``, ``settings``, ``path``.
- ``redirect(location) -> web.Response`` — a 303 (the session cookie set during the request still goes with it:
  the auth middleware adds it to every response).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from directory import clock, passwords, websessions
from directory.regions import PROVINCES
from directory.settings import PROJECT_ROOT
from directory.validate import display_phone
from directory.web.auth import AUTH, LIVE, csrf_token, current_user
from directory.web.context import CTX

TEMPLATES = PROJECT_ROOT / "templates"
NAV = (("/", "查找"), ("/tree", "按地区浏览"), ("/dashboard", "数据质量"))


@dataclass
class Pages:
    """The page environment of one app, the template folders by prefix it reads, and the navigation entries."""

    env: jinja2.Environment
    folders: dict[str, jinja2.BaseLoader]
    nav: list[tuple[str, str]] = field(default_factory=lambda: list(NAV))


PAGES = web.AppKey("pages", Pages)


def page_environment(folders: Mapping[str, jinja2.BaseLoader]) -> jinja2.Environment:
    """The environment for HTML pages: always autoescaped; ``folders`` maps a name prefix to its loader."""
    env = jinja2.Environment(
        loader=jinja2.PrefixLoader(folders),  # reads the mapping at lookup time, so later registrations count
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["phone"] = display_phone  # stored E.164 → 0311-87654321
    env.filters["shown"] = clock.shown  # a moment in Beijing time, the Chinese way
    env.filters["day"] = clock.shown_day  # its Beijing date alone
    env.filters["province_name"] = lambda code: PROVINCES.get(str(code)[:2], "")  # 13 → 河北省
    return env


def setup(app: web.Application) -> None:
    """Give ``app`` its page environment with the web face's own templates (``web/…``) and navigation."""
    folders: dict[str, jinja2.BaseLoader] = {"web": jinja2.FileSystemLoader(TEMPLATES / "web")}
    app[PAGES] = Pages(page_environment(folders), folders)


def register_templates(
    app: web.Application,
    prefix: str,
    folder: Path,
    *,
    filters: Mapping[str, Callable[..., Any]] | None = None,
    globals: Mapping[str, Any] | None = None,
) -> None:
    """Templates named ``<prefix>/<name>`` come from ``folder/<name>``; ``filters``/``globals`` join every page's."""
    pages = app[PAGES]
    if "/" in prefix or not prefix:
        raise ValueError(f"template prefix should be one folder name, not {prefix!r}")
    known = pages.folders.get(prefix)
    if known is not None and not (isinstance(known, jinja2.FileSystemLoader) and known.searchpath == [str(folder)]):
        raise ValueError(f"template prefix {prefix!r} is already registered for another folder")
    pages.folders[prefix] = jinja2.FileSystemLoader(folder)
    pages.env.filters.update(filters or {})
    pages.env.globals.update(globals or {})


def add_nav(app: web.Application, href: str, label: str) -> None:
    """One more navigation entry after the web face's own; adding the same href again changes nothing."""
    nav = app[PAGES].nav
    if all(known != href for known, _ in nav):
        nav.append((href, label))


def render(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """``template`` in the base layout, with the user, the CSRF token, the navigation, the settings and the path."""
    pages = request.app[PAGES]
    values = {
        "user": current_user(request),
        "csrf": csrf_token(request),
        "nav": tuple(pages.nav),
        "settings": request.app[CTX].settings,
        "path": request.path,
        "password_days": password_warning(request),
        **context,
    }
    html = pages.env.get_template(template).render(values)
    return web.Response(text=html, content_type="text/html", status=status)


def password_warning(request: web.Request) -> int | None:
    """Days until this session's password expires, when within ``[security] password_warn_days``; else None."""
    live = request.get(LIVE)
    if not isinstance(live, websessions.Live):
        return None
    age = passwords.password_age(live.account.get("password_changed_at"), request.app[AUTH].settings.security)
    return age.days_left if age.warn else None


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def attachment(name: str, fallback: str) -> str:
    """A Content-Disposition naming a download in Chinese (RFC 6266/5987), with an ASCII name for old clients."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
