"""HTTP hardening of the web face: the Origin check of state-changing requests, Secure cookies and HSTS.

Owns: which origins may send a state-changing request (this host, and ``[web] public_url``), whether cookies are
``Secure`` (``[web] cookie_secure``, or an https ``public_url``), and the security headers of every response
(HSTS only with an https ``public_url``: a plain-HTTP test or intranet set-up must not be pinned to HTTPS).
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from directory.errors import Forbidden
from directory.settings import Settings

HSTS = "max-age=31536000; includeSubDomains"
CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'"


def https(settings: Settings) -> bool:
    return settings.web.public_url.lower().startswith("https://")


def cookie_secure(settings: Settings) -> bool:
    return settings.web.cookie_secure or https(settings)


def headers(settings: Settings, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", CSP)
    if https(settings):
        response.headers.setdefault("Strict-Transport-Security", HSTS)


def _origins(request: web.Request, settings: Settings) -> set[str]:
    allowed = {f"http://{request.host}", f"https://{request.host}"}
    public = urllib.parse.urlsplit(settings.web.public_url)
    if public.scheme and public.netloc:
        allowed.add(f"{public.scheme}://{public.netloc}")
    return {o.lower() for o in allowed}


def check_origin(request: web.Request, settings: Settings) -> None:
    """A state-changing request from a browser must come from this site: ``Origin`` (else ``Referer``), when sent,
    names this host or ``[web] public_url``. Scripts with a token send neither and are not asked."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if not referer:
            return
        parts = urllib.parse.urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin.lower() not in _origins(request, settings):
        raise Forbidden("请求来源不是本站（Origin 校验失败），未做任何更改")
