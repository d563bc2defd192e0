"""Typed settings schema and loading.

Owns: the one schema of every option (a frozen dataclass per section), the merge of built-in defaults, an optional
TOML file and ``BOHAI_<SECTION>_<OPTION>`` environment overrides, and validation whose errors name the option and
the source the bad value came from (as Radicale does).

Each section is its own dataclass; add options to the section that owns them and document each one in
``config/default.toml`` (a test checks that both agree).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from directory.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.toml"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///bohai.sqlite3"
    pool_size: int = 5
    poll_interval: float = 0.5


@dataclass(frozen=True)
class HttpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_size: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class WebSettings:
    anonymous_read: bool = True
    session_secret: str = ""
    session_ttl: int = 8 * 3600
    cookie_secure: bool = False
    lockout_attempts: int = 5
    lockout_seconds: int = 900
    search_limit: int = 50


@dataclass(frozen=True)
class LdapSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 1389
    base_dn: str = "dc=bohai,dc=example"
    anonymous_search: bool = True
    tls_cert: str = ""
    tls_key: str = ""
    ldaps_enabled: bool = False
    ldaps_port: int = 1636
    max_connections: int = 1000
    max_pdu_size: int = 1024 * 1024
    idle_timeout: int = 300
    size_limit: int = 1000
    time_limit: int = 10
    # --- search limits: what one search may ask and what paged results may keep ---
    max_filter_bytes: int = 64 * 1024
    max_filter_terms: int = 256
    max_search_attributes: int = 256
    paged_sets_per_connection: int = 8
    paged_budget_bytes: int = 16 * 1024 * 1024
    paged_idle_timeout: int = 300
    bind_throttle_failures: int = 5
    bind_throttle_seconds: int = 60


@dataclass(frozen=True)
class SmtpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    max_message_size: int = 10 * 1024 * 1024
    max_connections: int = 100


@dataclass(frozen=True)
class RelaySettings:
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 30.0


@dataclass(frozen=True)
class FaxSettings:
    gateway: str = ""


@dataclass(frozen=True)
class LiaisonSettings:
    domain: str = "liaison.bohai.example"
    transport: str = "smtp"
    copy_liaison_officer: bool = False
    reminder_days_before: int = 2
    # --- outbox, fax rendering, letters (issue 4) ---
    retry_first_seconds: int = 300
    retry_max_seconds: int = 4000
    give_up_seconds: int = 5 * 24 * 3600
    outbox_lease_seconds: int = 120
    outbox_batch: int = 50
    outbox_poll_interval: float = 5.0
    fax_font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    max_attachment_size: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class MeetingsSettings:
    organiser_local_part: str = "meetings"
    organiser_name: str = "环渤海流动人口服务管理联席会议"
    reminder_offsets: str = "10 workdays, 1 day"
    link_secret: str = ""
    base_url: str = ""
    scheduler_enabled: bool = True
    scheduler_interval: float = 30.0
    lease_seconds: int = 300
    max_attempts: int = 20
    max_attendees: int = 200


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    web: WebSettings = field(default_factory=WebSettings)
    ldap: LdapSettings = field(default_factory=LdapSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    fax: FaxSettings = field(default_factory=FaxSettings)
    liaison: LiaisonSettings = field(default_factory=LiaisonSettings)
    meetings: MeetingsSettings = field(default_factory=MeetingsSettings)

    def replace(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with some options changed, e.g. ``s.replace(http={"port": 0})`` (validated like any source)."""
        raw = {name: dict(values) for name, values in sections.items()}
        return _build(self, raw, "replace()")


def schema() -> dict[str, dict[str, dataclasses.Field[Any]]]:
    """Section name → option name → dataclass field, for docs and the default.toml check."""
    out: dict[str, dict[str, dataclasses.Field[Any]]] = {}
    for sec in dataclasses.fields(Settings):
        cls = typing.get_type_hints(Settings)[sec.name]
        out[sec.name] = {f.name: f for f in dataclasses.fields(cls)}
    return out


def _coerce(value: Any, typ: Any, option: str, source: str) -> Any:
    def fail(expected: str) -> SettingsError:
        return SettingsError(f"{option}: expected {expected}, got {value!r} (from {source})")

    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.strip().lower() in {"1", "true", "yes", "on"}
        raise fail("true or false")
    if typ is int:
        if isinstance(value, bool):
            raise fail("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise fail("an integer") from None
        raise fail("an integer")
    if typ is float:
        if isinstance(value, bool):
            raise fail("a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise fail("a number") from None
        raise fail("a number")
    if typ is str:
        if isinstance(value, str):
            return value
        raise fail("a string")
    origin = typing.get_origin(typ)
    if origin in (list, tuple):
        (item,) = typing.get_args(typ)[:1]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise fail("a list")
        return tuple(_coerce(v, item, option, source) for v in value)
    if isinstance(typ, types.UnionType):  # pragma: no cover - no optional options yet
        raise fail(str(typ))
    raise fail(str(typ))  # pragma: no cover


_PORT_OPTIONS = {"port", "ldaps_port"}


_POSITIVE = {"database.pool_size", "database.poll_interval", "relay.timeout"}
_POSITIVE.add("smtp.max_connections")  # liaison: inbound SMTP sessions at once
_POSITIVE.update(
    f"ldap.{name}"
    for name in ("max_filter_bytes", "max_filter_terms", "max_search_attributes", "paged_sets_per_connection")
)
_POSITIVE.add("ldap.paged_idle_timeout")
_DB_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")


def _check(option: str, name: str, value: Any, source: str) -> None:
    def fail(why: str) -> SettingsError:
        return SettingsError(f"{option}: {why}, got {value!r} (from {source})")

    if name in _PORT_OPTIONS and not 0 <= value <= 65535:
        raise fail("expected a port 0-65535 (0 picks a free port)")
    if isinstance(value, float) and not math.isfinite(value):
        raise fail("expected a finite number")
    if isinstance(value, int | float) and not isinstance(value, bool) and name not in _PORT_OPTIONS and value < 0:
        raise fail("must not be negative")
    if option in _POSITIVE and value <= 0:
        raise fail("must be greater than 0")
    if option == "database.url" and not value.startswith(_DB_SCHEMES):
        raise fail("expected sqlite:///PATH or postgresql://USER@HOST/DB")


def _build(base: Settings, raw: Mapping[str, Any], source: str, sources: Mapping[str, str] | None = None) -> Settings:
    hints = typing.get_type_hints(Settings)
    sections: dict[str, Any] = {}
    for sec_name, values in raw.items():
        if sec_name not in hints:
            known = ", ".join(hints)
            raise SettingsError(f"[{sec_name}]: unknown section (from {source}); known sections: {known}")
        if not isinstance(values, Mapping):
            raise SettingsError(f"[{sec_name}]: expected a table of options (from {source})")
        cls = hints[sec_name]
        ftypes = typing.get_type_hints(cls)
        current = getattr(base, sec_name)
        changes: dict[str, Any] = {}
        for opt, value in values.items():
            option = f"{sec_name}.{opt}"
            src = (sources or {}).get(option, source)
            if opt not in ftypes:
                raise SettingsError(f"{option}: unknown option (from {src}); known: {', '.join(ftypes)}")
            coerced = _coerce(value, ftypes[opt], option, src)
            _check(option, opt, coerced, src)
            changes[opt] = coerced
        sections[sec_name] = dataclasses.replace(current, **changes)
    return dataclasses.replace(base, **sections)


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    raw: dict[str, dict[str, str]] = {}
    sources: dict[str, str] = {}
    for sec, options in schema().items():
        for opt in options:
            var = f"BOHAI_{sec.upper()}_{opt.upper()}"
            if var in env:
                raw.setdefault(sec, {})[opt] = env[var]
                sources[f"{sec}.{opt}"] = f"environment {var}"
    return raw, sources


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Built-in defaults, then the TOML file (``path`` or ``$BOHAI_CONFIG``), then ``BOHAI_*`` variables."""
    env = os.environ if env is None else env
    settings = Settings()
    file = path if path is not None else env.get("BOHAI_CONFIG")
    if file:
        p = Path(file)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"config file {p} does not exist") from None
        except UnicodeDecodeError:
            raise SettingsError(f"config file {p}: not UTF-8 text (save it as UTF-8)") from None
        except OSError as exc:
            raise SettingsError(f"config file {p}: cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {p}: not valid TOML: {exc}") from None
        settings = _build(settings, data, f"config file {p}")
    raw, sources = _env_overrides(env)
    if raw:
        settings = _build(settings, raw, "environment", sources)
    return settings
