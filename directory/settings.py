"""Typed settings schema and loading.

Owns: the directory's sections (database, http, web, login, ldap, carddav), each a frozen dataclass, and the
machinery every package's sections share: the merge of built-in defaults, an optional TOML file and
``BOHAI_<SECTION>_<OPTION>`` environment overrides, and validation whose errors name the option and the source the
bad value came from (as Radicale does).

Another package adds its sections by subclassing :class:`Settings` with more section fields (``liaison.settings``
does) and loading with :func:`load_as`; a section or option that no class declares is an error, so a typo never
passes silently. Options may carry checks in their field metadata (:data:`POSITIVE`, :data:`URL`). Document each
option in ``config/default.toml`` (a test checks that both agree).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from directory.errors import SettingsError
from directory.sync.targets import PublishTarget, PullSource, check_target_option

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.toml"

POSITIVE: Mapping[str, Any] = types.MappingProxyType({"positive": True})
"""Field metadata: the option must be greater than 0."""
URL: Mapping[str, Any] = types.MappingProxyType({"url": True})
"""Field metadata: the option is empty or an http:// or https:// URL."""

TARGET_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")

S = TypeVar("S", bound="Settings")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///bohai.sqlite3"
    pool_size: int = field(default=5, metadata=POSITIVE)
    poll_interval: float = field(default=0.5, metadata=POSITIVE)
    # The start-up image (directory.startimage): "auto" beside a SQLite file or in the user's cache folder for a
    # server database, "off", or a file path.
    image: str = "auto"


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
    lockout_attempts: int = 5  # deprecated, no effect: accounts are never locked (see LoginSettings)
    lockout_seconds: int = 900  # deprecated, no effect
    search_limit: int = 50
    public_url: str = field(default="", metadata=URL)
    entries_per_minute: int = 5000  # scraping limit of the API and CardDAV per account / anonymous address; 0: off
    entries_exempt: str = ""  # accounts and client addresses (comma-separated) without that limit


@dataclass(frozen=True)
class LoginSettings:
    """The one login-failure policy of every password face (web login, LDAP bind); see ``directory.loginguard``."""

    free_failures: int = 3
    first_delay: float = field(default=1.0, metadata=POSITIVE)
    max_delay: float = field(default=300.0, metadata=POSITIVE)
    account_failures: int = 20
    address_failures: int = 100
    slow_delay: float = 10.0
    forget_seconds: int = field(default=900, metadata=POSITIVE)
    hash_workers: int = field(default=2, metadata=POSITIVE)
    hash_queue: int = 16


@dataclass(frozen=True)
class SecuritySettings:
    """Identification and access (等保 2.0 level 3): second factor, sessions, passwords; see ``docs/security.md``."""

    require_2fa: bool = True  # every role that can change anything logs in with a TOTP code
    session_idle_minutes: int = field(default=30, metadata=POSITIVE)
    session_max_hours: float = field(default=12.0, metadata=POSITIVE)
    password_min_length: int = field(default=12, metadata=POSITIVE)  # any characters
    password_min_length_mixed: int = field(default=8, metadata=POSITIVE)  # with three of four character classes
    password_history: int = 5  # a new password may not be any of the last N (0: no check)
    password_max_age_days: int = 90  # 0: passwords never expire
    password_warn_days: int = 7


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
    max_filter_bytes: int = field(default=64 * 1024, metadata=POSITIVE)
    max_filter_terms: int = field(default=256, metadata=POSITIVE)
    max_search_attributes: int = field(default=256, metadata=POSITIVE)
    paged_sets_per_connection: int = field(default=8, metadata=POSITIVE)
    paged_budget_bytes: int = 16 * 1024 * 1024
    paged_idle_timeout: int = field(default=300, metadata=POSITIVE)
    confirmed_attribute: str = "description"  # carries "信息核对：<date>（<who>）" on office entries ("" : none)
    bind_throttle_failures: int = 5  # deprecated, no effect: binds follow LoginSettings
    bind_throttle_seconds: int = 60  # deprecated, no effect
    entries_per_minute: int = 5000  # scraping limit per bound account / anonymous client address; 0: off
    entries_exempt: str = ""  # accounts and client addresses (comma-separated) without that limit


@dataclass(frozen=True)
class CardDavSettings:
    """The read-only CardDAV face in the web app (``/carddav/``, app passwords only)."""

    enabled: bool = True
    max_body_size: int = field(default=4 * 1024 * 1024, metadata=POSITIVE)
    max_hrefs: int = field(default=20_000, metadata=POSITIVE)


@dataclass(frozen=True)
class AuditSettings:
    """The tamper-evident audit trail: its key (a file outside the database), algorithm, chain and keeping time."""

    key_file: str = ""
    algorithm: str = "hmac-sha256"
    chain: str = ""
    keep_days: int = field(default=190, metadata=POSITIVE)


@dataclass(frozen=True)
class Settings:
    """The directory's settings; a package with sections of its own subclasses this (see the module docstring)."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    web: WebSettings = field(default_factory=WebSettings)
    login: LoginSettings = field(default_factory=LoginSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    ldap: LdapSettings = field(default_factory=LdapSettings)
    carddav: CardDavSettings = field(default_factory=CardDavSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    publish: Mapping[str, PublishTarget] = field(default_factory=dict)
    pull: Mapping[str, PullSource] = field(default_factory=dict)

    def replace(self: S, **sections: Mapping[str, Any]) -> S:
        """A copy with some options changed, e.g. ``s.replace(http={"port": 0})`` (validated like any source)."""
        raw = {name: dict(values) for name, values in sections.items()}
        return _build(self, raw, "replace()")

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Checks that span options (run on every construction); a subclass adds its own and calls this one."""

    @property
    def routing_domain(self) -> str:
        """The domain of the offices' role addresses (``<region code>@<domain>``); the directory alone routes no
        mail, so it has none and shows none."""
        return ""

    def public_url(self) -> str:
        """The public base address for links in mail and pages, without a trailing slash: ``web.public_url``, else
        the address of ``[http]`` (which recipients usually cannot reach; see :meth:`public_url_warning`)."""
        return self.configured_public_url() or f"http://{self.http.host}:{self.http.port}"

    def configured_public_url(self) -> str:
        """The public address the operator set, without a trailing slash ("" if none)."""
        return self.web.public_url.rstrip("/")

    def public_url_warning(self) -> str | None:
        """A warning for the operator when no public address is set (printed at start-up and by commands that
        write links)."""
        if self.configured_public_url():
            return None
        return (
            f"web.public_url 未设置：邮件和页面中的链接将指向 {self.public_url()}，收件人多半无法打开；"
            f"请设置为对外可访问的网址（例如 https://liaison.example.org）"
        )


def schema(cls: type[Settings] = Settings) -> dict[str, dict[str, dataclasses.Field[Any]]]:
    """Section name → option name → dataclass field of ``cls``, for docs and the default.toml check."""
    out: dict[str, dict[str, dataclasses.Field[Any]]] = {}
    hints = typing.get_type_hints(cls)
    for sec in dataclasses.fields(cls):
        if sec.name not in named_schema(cls):
            out[sec.name] = {f.name: f for f in dataclasses.fields(hints[sec.name])}
    return out


def named_schema(cls: type[Settings] = Settings) -> dict[str, type[Any]]:
    """Section name → the class of each of its named tables, for the sections that hold ``[section.NAME]``."""
    hints = typing.get_type_hints(cls)
    out: dict[str, type[Any]] = {}
    for sec in dataclasses.fields(cls):
        if typing.get_origin(hints[sec.name]) is Mapping:
            out[sec.name] = typing.get_args(hints[sec.name])[1]
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
_DB_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")
_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")


def _check(option: str, spec: dataclasses.Field[Any], value: Any, source: str) -> None:
    def fail(why: str) -> SettingsError:
        return SettingsError(f"{option}: {why}, got {value!r} (from {source})")

    name = spec.name
    if name in _PORT_OPTIONS and not 0 <= value <= 65535:
        raise fail("expected a port 0-65535 (0 picks a free port)")
    if isinstance(value, float) and not math.isfinite(value):
        raise fail("expected a finite number")
    if isinstance(value, int | float) and not isinstance(value, bool) and name not in _PORT_OPTIONS and value < 0:
        raise fail("must not be negative")
    if spec.metadata.get("positive") and value <= 0:
        raise fail("must be greater than 0")
    if spec.metadata.get("url") and value and not _URL.fullmatch(value):
        raise fail("expected an http:// or https:// URL")
    if option == "database.url" and not value.startswith(_DB_SCHEMES):
        raise fail("expected sqlite:///PATH or postgresql://USER@HOST/DB")
    check_target_option(spec.metadata, value, fail)


def _build(base: S, raw: Mapping[str, Any], source: str, sources: Mapping[str, str] | None = None) -> S:
    hints = typing.get_type_hints(type(base))
    sections: dict[str, Any] = {}
    for sec_name, values in raw.items():
        if sec_name not in hints:
            known = ", ".join(hints)
            raise SettingsError(f"[{sec_name}]: unknown section (from {source}); known sections: {known}")
        if not isinstance(values, Mapping):
            raise SettingsError(f"[{sec_name}]: expected a table of options (from {source})")
        if typing.get_origin(hints[sec_name]) is Mapping:
            target_cls = typing.get_args(hints[sec_name])[1]
            sections[sec_name] = _build_named(target_cls, sec_name, values, source)
            continue
        cls = hints[sec_name]
        ftypes = typing.get_type_hints(cls)
        specs = {f.name: f for f in dataclasses.fields(cls)}
        current = getattr(base, sec_name)
        changes: dict[str, Any] = {}
        for opt, value in values.items():
            option = f"{sec_name}.{opt}"
            src = (sources or {}).get(option, source)
            if opt not in ftypes:
                raise SettingsError(f"{option}: unknown option (from {src}); known: {', '.join(ftypes)}")
            coerced = _coerce(value, ftypes[opt], option, src)
            _check(option, specs[opt], coerced, src)
            changes[opt] = coerced
        sections[sec_name] = dataclasses.replace(current, **changes)
    return dataclasses.replace(base, **sections)


def _build_named(cls: type[Any], sec_name: str, tables: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The named tables of one section (``[publish.NAME]``), each checked like a section; required options too."""
    out: dict[str, Any] = {}
    ftypes = typing.get_type_hints(cls)
    specs = {f.name: f for f in dataclasses.fields(cls)}
    for name, values in tables.items():
        where = f"{sec_name}.{name}"
        if not TARGET_NAME.fullmatch(name) or not isinstance(values, Mapping):
            raise SettingsError(f"[{where}]: expected a table named with letters, digits, - or _ (from {source})")
        changes: dict[str, Any] = {}
        for opt, value in values.items():
            if opt not in ftypes:
                raise SettingsError(f"{where}.{opt}: unknown option (from {source}); known: {', '.join(ftypes)}")
            coerced = _coerce(value, ftypes[opt], f"{where}.{opt}", source)
            _check(f"{where}.{opt}", specs[opt], coerced, source)
            changes[opt] = coerced
        for opt, spec in specs.items():
            if spec.metadata.get("required") and not changes.get(opt):
                raise SettingsError(f"{where}.{opt}: required, not set (from {source})")
        out[name] = cls(**changes)
    return out


def _env_overrides(cls: type[Settings], env: Mapping[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    raw: dict[str, dict[str, str]] = {}
    sources: dict[str, str] = {}
    for sec, options in schema(cls).items():
        for opt in options:
            var = f"BOHAI_{sec.upper()}_{opt.upper()}"
            if var in env:
                raw.setdefault(sec, {})[opt] = env[var]
                sources[f"{sec}.{opt}"] = f"environment {var}"
    return raw, sources


def load_as(cls: type[S], path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> S:
    """Settings of class ``cls`` (this module's or a subclass with more sections): built-in defaults, then the
    TOML file (``path`` or ``$BOHAI_CONFIG``), then ``BOHAI_*`` variables."""
    env = os.environ if env is None else env
    settings = cls()
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
    raw, sources = _env_overrides(cls, env)
    if raw:
        settings = _build(settings, raw, "environment", sources)
    return settings


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The directory's settings alone (see :func:`load_as`)."""
    return load_as(Settings, path, env)
