"""Pages other parts plug in: their template folder under a prefix, their filters, globals and navigation entry,
all through ``directory.web.render`` — rendered in the base layout, autoescaped like every page."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from aiohttp import web

from directory.web import render
from directory.web.context import Extension
from tests.support.web import WebFactory

PAGE = """{% extends "web/base.html" %}
{% block main %}<p id="shown">{{ value | shout }} {{ greeting }}</p>{% endblock %}
"""


def plug_in(folder: Path) -> Extension:
    (folder / "page.html").write_text(PAGE, encoding="utf-8")

    async def page(request: web.Request) -> web.Response:
        return render.render(request, "extra/page.html", {"value": request.query.get("v", "")})

    def extend(app: web.Application) -> None:
        render.register_templates(app, "extra", folder, filters={"shout": str.upper}, globals={"greeting": "你好"})
        render.add_nav(app, "/extra", "扩展页")
        render.add_nav(app, "/extra", "扩展页")  # twice: still one entry
        app.router.add_get("/extra", page)

    return extend


async def test_a_plugged_in_page_renders_in_the_layout_escaped(
    web: WebFactory, sqlite_demo_url: str, tmp_path: Path
) -> None:
    w = await web(sqlite_demo_url, (plug_in(tmp_path),))
    resp = await w.client.get("/extra", params={"v": "<script>x</script>"})
    text = await resp.text()
    assert resp.status == 200, text[:500]
    assert '<p id="shown">&lt;SCRIPT&gt;X&lt;/SCRIPT&gt; 你好</p>' in text
    assert "<script>X" not in text
    assert text.count('href="/extra"') == 1  # the navigation entry, once
    home = await (await w.client.get("/")).text()
    assert 'href="/extra"' in home and 'href="/tree"' in home  # every page shows it, after the web face's own
    assert home.index('href="/tree"') < home.index('href="/extra"')


async def test_templates_outside_the_registered_prefixes_are_not_found(
    web: WebFactory, sqlite_demo_url: str, tmp_path: Path
) -> None:
    w = await web(sqlite_demo_url)
    app = w.client.app
    assert app is not None
    with pytest.raises(ValueError, match="already registered"):
        render.register_templates(app, "web", tmp_path)
    with pytest.raises(ValueError, match="one folder name"):
        render.register_templates(app, "a/b", tmp_path)
    env = app[render.PAGES].env
    assert env.autoescape is True
    assert env.get_template("web/base.html") is not None
    for name in ("letters/pages/compose.html", "meetings/pages/list.html", "extra/page.html"):
        with pytest.raises(jinja2.TemplateNotFound):
            env.get_template(name)  # liaison registers its own folders; the web face alone knows only web/
