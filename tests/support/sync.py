"""Helpers for the publish and pull tests: a config file naming a slapd target, and reading its entries back."""

from __future__ import annotations

from pathlib import Path

from tests.support.slapd import Slapd


def publish_config(
    folder: Path, server: Slapd, base_dn: str, *, password: str | None = None, url: str = "", **extra: str
) -> Path:
    """A config file with ``[publish.hebei]`` (河北, OpenLDAP flavour) pointing at ``server``; ``extra`` adds options
    (TOML literals)."""
    secret = folder / "publish.secret"
    secret.write_text((server.password if password is None else password) + "\n", encoding="utf-8")
    lines = [
        "[publish.hebei]",
        f'url = "{url or server.url}"',
        f'bind_dn = "{server.root_dn}"',
        f'password_file = "{secret}"',
        f'base_dn = "{base_dn}"',
        'regions = ["13"]',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    path = folder / "publish.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
