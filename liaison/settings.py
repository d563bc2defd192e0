"""The liaison service's settings sections and its full settings object.

Owns: the ``[smtp]`` (inbound), ``[relay]`` (outbound), ``[fax]``, ``[liaison]``, ``[meetings]`` and ``[verify]``
sections, the :class:`Settings` that adds them to the directory's (one config file, one environment scheme, one loader:
``directory.settings`` validates and names the option and source of a bad value), the role-address domain the
directory's pages show, and ``[meetings] base_url``, the deprecated alias of ``[web] public_url``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from directory import settings as directory_settings
from directory.errors import SettingsError
from directory.settings import POSITIVE, URL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    max_message_size: int = 10 * 1024 * 1024
    max_connections: int = field(default=100, metadata=POSITIVE)
    max_connections_per_client: int = field(default=20, metadata=POSITIVE)
    idle_timeout: int = field(default=300, metadata=POSITIVE)
    max_forwards_per_sender: int = field(default=100, metadata=POSITIVE)
    max_forwards_per_client: int = field(default=1000, metadata=POSITIVE)
    check_senders: bool = True  # SPF, DKIM and DMARC of inbound mail (see liaison.mail.authcheck)
    authserv_id: str = ""  # the name in the Authentication-Results we record; "" = [liaison] domain
    trusted_relays: str = ""  # IP addresses (comma-separated) of relays of ours whose Authentication-Results count
    relay_authserv_id: str = ""  # the authserv-id those relays write


@dataclass(frozen=True)
class RelaySettings:
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = field(default=30.0, metadata=POSITIVE)
    dkim_key_file: str = ""  # PEM private key: outgoing mail is DKIM-signed with it
    dkim_selector: str = ""
    dkim_domain: str = ""  # "" = [liaison] domain


@dataclass(frozen=True)
class FaxSettings:
    gateway: str = ""


@dataclass(frozen=True)
class LiaisonSettings:
    domain: str = "liaison.bohai.example"
    transport: str = "smtp"
    copy_liaison_officer: bool = False
    reminder_days_before: int = 2
    retry_first_seconds: int = 300
    retry_max_seconds: int = 4000
    give_up_seconds: int = 5 * 24 * 3600
    outbox_lease_seconds: int = 120
    outbox_batch: int = 50
    outbox_poll_interval: float = 5.0
    fax_font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    max_attachment_size: int = 5 * 1024 * 1024
    domain_limits: str = ""  # "qq.com=100/60, 163.com=100/60": at most N messages per S seconds to that domain
    domain_limit_default: str = ""  # "N/S" for every other domain; empty: unpaced

    def pacing(self) -> tuple[dict[str, tuple[int, int]], tuple[int, int] | None]:
        """The parsed pacing: domain → (messages, seconds), and the default (or None); SettingsError names the
        option of a bad entry."""
        limits: dict[str, tuple[int, int]] = {}
        for part in self.domain_limits.replace("，", ",").split(","):
            if not part.strip():
                continue
            domain, eq, rate = part.partition("=")
            if not eq or not domain.strip():
                raise SettingsError(f"liaison.domain_limits: {part.strip()!r} should be <domain>=<messages>/<seconds>")
            limits[domain.strip().lower()] = _rate("liaison.domain_limits", rate)
        if not self.domain_limit_default:
            return limits, None
        return limits, _rate("liaison.domain_limit_default", self.domain_limit_default)


def _rate(option: str, text: str) -> tuple[int, int]:
    n, slash, seconds = text.strip().partition("/")
    if not slash or not n.strip().isdigit() or not seconds.strip().isdigit() or not int(n) or not int(seconds):
        raise SettingsError(f"{option}: {text.strip()!r} should be <messages>/<seconds>, both positive, e.g. 100/60")
    return int(n), int(seconds)


@dataclass(frozen=True)
class LettersSettings:
    max_recipients_editor: int = field(default=200, metadata=POSITIVE)
    max_recipients_admin: int = field(default=2000, metadata=POSITIVE)


@dataclass(frozen=True)
class MeetingsSettings:
    organiser_local_part: str = "meetings"
    organiser_name: str = "环渤海流动人口服务管理联席会议"
    reminder_offsets: str = "10 workdays, 1 day"
    link_secret: str = ""
    base_url: str = field(default="", metadata=URL)  # deprecated alias of web.public_url
    scheduler_enabled: bool = True
    scheduler_interval: float = 30.0
    lease_seconds: int = 300
    max_attempts: int = 20
    max_attendees: int = 200


@dataclass(frozen=True)
class VerifySettings:
    remind_days: str = "3, 1"
    grace_days: int = field(default=5, metadata=POSITIVE)
    max_offices_editor: int = field(default=5000, metadata=POSITIVE)
    code_failures_per_hour: int = field(default=5, metadata=POSITIVE)
    client_failures_per_hour: int = field(default=30, metadata=POSITIVE)


@dataclass(frozen=True)
class Settings(directory_settings.Settings):
    """Every section: the directory's and the liaison service's."""

    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    fax: FaxSettings = field(default_factory=FaxSettings)
    liaison: LiaisonSettings = field(default_factory=LiaisonSettings)
    letters: LettersSettings = field(default_factory=LettersSettings)
    meetings: MeetingsSettings = field(default_factory=MeetingsSettings)
    verify: VerifySettings = field(default_factory=VerifySettings)

    def check(self) -> None:
        super().check()
        self.liaison.pacing()
        new, old = self.web.public_url.rstrip("/"), self.meetings.base_url.rstrip("/")
        if new and old and new != old:
            raise SettingsError(
                f"meetings.base_url: an old name of web.public_url, and the two differ ({old!r} and {new!r}); "
                f"keep only web.public_url"
            )

    @property
    def routing_domain(self) -> str:
        return self.liaison.domain

    def configured_public_url(self) -> str:
        return super().configured_public_url() or self.meetings.base_url.rstrip("/")


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """All settings from defaults, the TOML file and ``BOHAI_*`` variables (see ``directory.settings.load_as``);
    warns once when the deprecated ``meetings.base_url`` is used."""
    settings = directory_settings.load_as(Settings, path, env)
    if settings.meetings.base_url:
        log.warning(
            "meetings.base_url 已改名为 web.public_url（在 [web] 中设置，所有邮件和页面中的链接共用）；"
            "旧名称暂时仍然有效，请尽快改用新名称"
        )
    return settings


def of(settings: directory_settings.Settings) -> Settings:
    """The liaison settings behind a directory-typed reference (e.g. the web context's, in pages only the liaison
    service installs); a directory-only object here is a wiring mistake, not a user error."""
    if not isinstance(settings, Settings):
        raise TypeError("liaison pages need liaison.settings.Settings; the app was built with the directory's only")
    return settings
