"""``bohai doctor``: what is misconfigured, found before the users find it, each finding with its fix (in Chinese).

Owns: the checks (database reachable and migrated, relay reachable with STARTTLS, fax gateway, public address,
anonymous reading on a public address, the LDAP certificate and its expiry, the working-day calendar of this year and
the next, free disk space beside a SQLite database, clock skew against PostgreSQL) and the verdict: the worst level
found, which is also the exit code (0 ok, 1 warnings, 2 errors). It never writes: the database is opened without
migrating it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import shutil
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import sqlalchemy as sa

from directory import clock
from directory.store import Store, engine_url
from liaison.ops import tables as tables_mod
from liaison.settings import Settings

LEVELS = ("ok", "warning", "error")
DISK_WARNING = 1024**3  # free bytes beside a SQLite database below which the outbox may run out of room
DISK_ERROR = 100 * 1024**2
CERT_WARNING_DAYS = 30
SKEW_WARNING, SKEW_ERROR = 5.0, 60.0  # seconds
NEXT_YEAR_FROM_MONTH = 10  # the State Council publishes the next year's holidays from October to December


@dataclass(frozen=True)
class Finding:
    check: str
    level: str
    message: str
    fix: str = ""


def ok(check: str, message: str) -> Finding:
    return Finding(check, "ok", message)


def warning(check: str, message: str, fix: str) -> Finding:
    return Finding(check, "warning", message, fix)


def error(check: str, message: str, fix: str) -> Finding:
    return Finding(check, "error", message, fix)


@dataclass(frozen=True)
class Limits:
    disk_warning: int = DISK_WARNING
    disk_error: int = DISK_ERROR


def verdict(findings: list[Finding]) -> int:
    """The exit code: 0 all ok, 1 a warning, 2 an error."""
    return max((LEVELS.index(f.level) for f in findings), default=0)


def as_json(findings: list[Finding]) -> dict[str, Any]:
    return {"status": LEVELS[verdict(findings)], "checks": [asdict(f) for f in findings]}


async def diagnose(settings: Settings, limits: Limits = Limits()) -> list[Finding]:
    """Every check, in a fixed order."""
    findings = [
        *config_checks(settings),
        await check_relay(settings),
    ]
    with database(settings) as (first, store):
        findings.insert(0, first)
        if store is not None:
            findings += [check_calendar(store), check_clock(store)]
    findings.append(check_disk(settings, limits))
    return findings


def config_checks(settings: Settings) -> list[Finding]:
    return [check_fax(settings), check_public_url(settings), check_anonymous_read(settings), check_ldap_tls(settings)]


# -- database ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[tuple[Finding, Store | None]]:
    """The database check, and the store (unmigrated, closed afterwards) when it is usable."""
    url = engine_url(settings.database.url)
    if url.startswith("sqlite"):
        path = sa.make_url(url).database or ""
        if path and path != ":memory:" and not Path(path).expanduser().is_file():
            fix = "检查 [database] url；首次运行 bohai serve 或任一 bohai 命令会创建数据库"
            yield error("database", f"数据库文件 {path} 不存在", fix), None
            return
    try:
        revisions = _revisions(url)
    except sa.exc.SQLAlchemyError as exc:
        fix = "检查 [database] url、数据库服务是否运行、网络与口令"
        yield error("database", f"无法连接数据库：{_first_line(exc)}", fix), None
        return
    finding = _migrated(revisions)
    if finding.level != "ok":  # the checks that read tables need the current schema
        yield finding, None
        return
    store = Store(settings.database.url, pool_size=1)
    try:
        yield finding, store
    finally:
        store.close()


def _revisions(url: str) -> dict[str, str | None]:
    args = {} if url.startswith("sqlite") else {"connect_timeout": 5}
    engine = sa.create_engine(url, connect_args=args)
    try:
        with engine.connect() as conn:
            return tables_mod.revisions(conn)
    finally:
        engine.dispose()


def _migrated(revisions: dict[str, str | None]) -> Finding:
    heads = {s.name: s.head for s in tables_mod.SCHEMAS}
    shown = "，".join(f"{k} {v or '无'}" for k, v in revisions.items())
    if revisions == heads:
        return ok("database", f"数据库可连接，结构为当前版本（{shown}）")
    known = all(r is None or tables_mod.known_revision(s, r) for s in tables_mod.SCHEMAS if (r := revisions[s.name]))
    if not known:
        return error("database", f"数据库结构比本程序新（{shown}）", "升级本程序到与数据库相同的版本")
    return warning("database", f"数据库结构不是当前版本（{shown}）", "运行 bohai serve 或任一 bohai 命令自动升级")


# -- relay and fax -----------------------------------------------------------------------------------------------


async def check_relay(settings: Settings) -> Finding:
    relay = settings.relay
    if settings.liaison.transport == "null":
        return warning("relay", "[liaison] transport = null：函件只进发件队列，不会发出", '设置 transport = "smtp"')
    where = f"{relay.host}:{relay.port}"
    client = aiosmtplib.SMTP(hostname=relay.host, port=relay.port, timeout=min(relay.timeout, 10.0), start_tls=False)
    try:
        await client.connect()
        await client.ehlo()
        offered = client.supports_extension("starttls")
        await client.quit()
    except (aiosmtplib.SMTPException, OSError) as exc:
        fix = "检查 [relay] host 与 port，以及本机 Postfix（或中继）是否运行、防火墙是否放行"
        return error("relay", f"无法连接邮件中继 {where}（EHLO）：{exc}", fix)
    return _starttls(settings, where, offered)


def _starttls(settings: Settings, where: str, offered: bool) -> Finding:
    wanted, local = settings.relay.starttls, is_loopback(settings.relay.host)
    if wanted and not offered:
        return error("relay", f"邮件中继 {where} 未提供 STARTTLS，而 [relay] starttls = true", "在中继上启用 TLS")
    if not offered and not local:
        fix = "在中继上启用 STARTTLS，再设置 [relay] starttls = true"
        return warning("relay", f"邮件中继 {where} 不在本机且未提供 STARTTLS：邮件明文传输", fix)
    if offered and not wanted and not local:
        return warning("relay", f"邮件中继 {where} 提供 STARTTLS 但未启用", "设置 [relay] starttls = true")
    return ok("relay", f"邮件中继 {where} 可连接（EHLO）" + ("，提供 STARTTLS" if offered else ""))


def check_fax(settings: Settings) -> Finding:
    if settings.fax.gateway:
        return ok("fax", f"传真网关：{settings.fax.gateway}")
    fix = "在 [fax] gateway 设置电子邮件转传真网关的域名"
    return warning("fax", "未设置传真网关：没有电子邮箱的单位收不到函件", fix)


# -- web ---------------------------------------------------------------------------------------------------------


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", ""):
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    return False


def is_public(host: str) -> bool:
    """An address others can reach from the internet: a global IP, or a dotted name not of a local zone."""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.strip("[]")).is_global
    return "." in host and not host.lower().endswith((".local", ".lan", ".internal", ".localdomain", ".localhost"))


def deployed(settings: Settings) -> bool:
    """Served to others: the web face listens beyond this machine, or the database is PostgreSQL."""
    return not is_loopback(settings.http.host) or not settings.database.url.startswith("sqlite")


def check_public_url(settings: Settings) -> Finding:
    url = settings.configured_public_url()
    level = error if deployed(settings) else warning
    fix = "在 [web] public_url 设置对外可访问的网址，例如 https://liaison.example.org"
    if not url:
        return level("public_url", f"[web] public_url 未设置：邮件中的链接将指向 {settings.public_url()}", fix)
    if is_loopback(host_of(url)):
        return level("public_url", f"[web] public_url = {url} 是本机地址，收件人无法打开", fix)
    return ok("public_url", f"对外网址：{url}")


def check_anonymous_read(settings: Settings) -> Finding:
    url = settings.configured_public_url()
    if settings.web.anonymous_read and url and is_public(host_of(url)):
        fix = "在 [web] 设置 anonymous_read = false，只让工作人员登录后查看"
        return warning("anonymous_read", f"匿名可读已开启，而对外网址 {url} 是公网地址：任何人都能读取通讯录", fix)
    return ok("anonymous_read", "匿名可读已开启（仅限内网）" if settings.web.anonymous_read else "匿名可读已关闭")


# -- LDAP certificate --------------------------------------------------------------------------------------------


def check_ldap_tls(settings: Settings, today: dt.date | None = None) -> Finding:
    ldap = settings.ldap
    if not ldap.enabled:
        return ok("ldap_tls", "LDAP 未启用")
    if not ldap.tls_cert:
        fix = "在 [ldap] 设置 tls_cert 与 tls_key（PEM 证书和私钥）"
        return warning("ldap_tls", "LDAP 未配置 TLS 证书：StartTLS 与 LDAPS 不可用，绑定口令明文传输", fix)
    for option, path in (("tls_cert", ldap.tls_cert), ("tls_key", ldap.tls_key)):
        if not path or not Path(path).is_file():
            return error("ldap_tls", f"[ldap] {option} 文件 {path or '（未设置）'} 不存在", f"检查 [ldap] {option}")
    expires = certificate_expiry(Path(ldap.tls_cert))
    if expires is None:
        return error("ldap_tls", f"[ldap] tls_cert {ldap.tls_cert} 不是可读的 PEM 证书", "换用 PEM 格式的证书")
    return _expiry(expires, today or clock.today())


def _expiry(expires: dt.date, today: dt.date) -> Finding:
    fix = "更换证书（更新 [ldap] tls_cert 与 tls_key 所指文件）并重启 bohai serve"
    if expires < today:
        return error("ldap_tls", f"LDAP 证书已于 {clock.shown(expires)} 过期", fix)
    if (expires - today).days < CERT_WARNING_DAYS:
        return warning("ldap_tls", f"LDAP 证书将于 {clock.shown(expires)} 过期", fix)
    return ok("ldap_tls", f"LDAP 证书有效期至 {clock.shown(expires)}")


def certificate_expiry(path: Path) -> dt.date | None:
    """The last day of a PEM certificate (UTC), by the standard library's own decoder; None if unreadable."""
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:  # pragma: no cover - every CPython has it
        return None
    try:
        info = decode(str(path))
        seconds = ssl.cert_time_to_seconds(info["notAfter"])
    except (ssl.SSLError, OSError, KeyError, ValueError):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date()


# -- data and clocks ---------------------------------------------------------------------------------------------


def check_calendar(store: Store, today: dt.date | None = None) -> Finding:
    from liaison.workdays.store import load_calendar

    today = today or clock.today()
    calendar = load_calendar(store)
    fix = "按国务院办公厅的放假通知写 TOML（示例 config/workdays-sample.toml），运行 bohai workdays load 文件"
    if not calendar.is_official(today.year):
        return error("workdays", f"{today.year} 年没有官方放假安排：回复期限都是“暂定”", fix)
    nxt = today.year + 1
    if not calendar.is_official(nxt):
        if today.month >= NEXT_YEAR_FROM_MONTH:
            return warning("workdays", f"{nxt} 年的放假安排还没有载入：跨入 {nxt} 年的回复期限为“暂定”", fix)
        return ok("workdays", f"{today.year} 年放假安排已有（{nxt} 年的通知通常在 10 月以后发布）")
    return ok("workdays", f"{today.year}、{nxt} 年放假安排均已载入")


def check_disk(settings: Settings, limits: Limits) -> Finding:
    url = engine_url(settings.database.url)
    if not url.startswith("sqlite"):
        return ok("disk", "发件队列在 PostgreSQL 中：请在数据库服务器上监控磁盘空间")
    folder = Path(sa.make_url(url).database or ".").expanduser().resolve().parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return error("disk", f"无法查看 {folder} 的磁盘空间：{exc.strerror}", "检查 [database] url 所指目录")
    shown = f"{folder} 所在磁盘剩余 {free / 1024**3:.1f} GB"
    fix = "清理该磁盘或把数据库移到更大的磁盘（bohai backup 后 bohai restore）"
    if free < limits.disk_error:
        return error("disk", f"{shown}：发件队列与数据库即将写满", fix)
    if free < limits.disk_warning:
        return warning("disk", f"{shown}：空间不多", fix)
    return ok("disk", shown)


def check_clock(store: Store) -> Finding:
    if store.is_sqlite:
        return ok("clock", "SQLite 与服务在同一台机器，共用一个时钟")
    before = clock.now()
    with store.read() as conn:
        theirs = clock.aware(conn.execute(sa.text("SELECT now()")).scalar_one())
    after = clock.now()
    skew = (theirs - (before + (after - before) / 2)).total_seconds()
    shown = f"本机时钟与数据库相差 {skew:+.1f} 秒"
    fix = "在本机和数据库服务器上启用 NTP 时间同步（如 chrony 或 systemd-timesyncd）"
    if abs(skew) >= SKEW_ERROR:
        return error("clock", f"{shown}：租约与期限会出错", fix)
    if abs(skew) >= SKEW_WARNING:
        return warning("clock", shown, fix)
    return ok("clock", shown)


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0][:300] if str(exc) else type(exc).__name__
