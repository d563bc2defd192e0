"""Texts of the mail the service writes (letters, reminders, meeting notices), rendered from ``templates/``.

Owns: the one Jinja environment for plain-text mail (autoescape off: a text part or a fax page must show ``<`` and
``&`` as typed) and its twin for the HTML alternative of a mail (autoescape on: a meeting title or agenda written
with markup must reach the recipient as text, not as HTML). Both read the same folder with the same rules
(``StrictUndefined``, ``trim_blocks``/``lstrip_blocks``, the final newline kept), so a template's text reads the
same in either; the caller says which kind of part it renders, the template's file name decides nothing.

Mail is rendered where no web app exists (outbox worker, scheduler, CLI), so these are not the web face's page
environment (``directory.web.render``), whose filters and globals are set per app by what the app plugs in.
Values a template needs come in the context; the only filter is ``local`` (a datetime in Beijing time).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import jinja2

from directory import clock
from directory.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"


def local_time(value: dt.datetime, fmt: str = "%Y年%m月%d日 %H:%M") -> str:
    """``value`` (an aware datetime) as Beijing time, by default like 2026年03月05日 09:30."""
    return value.astimezone(clock.ZONE).strftime(fmt)


@lru_cache(maxsize=2)
def _environment(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["local"] = local_time
    env.filters["shown"] = clock.shown  # Beijing time the Chinese way, as on the pages
    return env


def render_text(template: str, **context: Any) -> str:
    """A plain-text part (or fax text) from ``templates/<template>``, nothing escaped."""
    return _environment(False).get_template(template).render(**context)


def render_html(template: str, **context: Any) -> str:
    """An HTML part from ``templates/<template>``, every value autoescaped."""
    return _environment(True).get_template(template).render(**context)
