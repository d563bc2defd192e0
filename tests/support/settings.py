"""The one builder of a service's settings in the tests.

``service_settings(url, sink=sink, ldap={"enabled": False})``: every face on 127.0.0.1 with a port the system picks,
the database ``url``, the relay pointed at a mail sink; the given sections are merged over those option by option.
Tests that need one section only (``Settings().replace(login=...)``) keep saying so directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liaison.settings import Settings
from tests.support.mailsink import Sink


def service_settings(url: str | None = None, *, sink: Sink | None = None, **sections: Mapping[str, Any]) -> Settings:
    # The second factor is off unless a test asks for it: the tests of other features log in with a password only.
    # Sender checks need DNS; tests of them turn them on with a table of answers (service.start(dns=...)). The
    # scraping limits would slow tests that read the whole directory many times; their own tests turn them on.
    # The start-up image is off: most tests start a service once on data they made; its own tests turn it on.
    merged: dict[str, dict[str, Any]] = {
        "http": {"port": 0},
        "web": {"entries_per_minute": 0},
        "ldap": {"port": 0, "entries_per_minute": 0},
        "smtp": {"port": 0, "check_senders": False},
        "security": {"require_2fa": False},
    }
    merged["database"] = {"image": "off"} if url is None else {"url": url, "image": "off"}
    if sink is not None:
        merged["relay"] = {"host": sink.host, "port": sink.port, "timeout": 10}
    for name, values in sections.items():
        merged[name] = {**merged.get(name, {}), **values}
    return Settings().replace(**merged)
