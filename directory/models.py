"""SQLModel tables of the directory: Region, RegionAlias, Office, Contact, Account, ApiToken, AppPassword, WebSession,
LoginEvent, PasswordHistory, RecoveryCode, ErrorReport, Change, AuditChain, OfficeChange, Meta.

Owns: the shape of the stored directory. Only ``directory.store`` queries these tables; the schema itself is created and
migrated by Alembic (``directory/migrations``), never by ``create_all`` at run time.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from directory import clock

LEVELS = ("province", "city", "county", "township")
LEVEL_NAMES = {"province": "省级", "city": "地级", "county": "县级", "township": "乡级"}
# Separate duties: the system administrator (accounts, settings, content), the security administrator (2FA resets,
# session revocation) and the auditor (reads the audit only) beside the editor and the reader. An account holds one
# role, or both administering ones (the old ``admin`` became ``secadmin,sysadmin``); see ``directory.accounts``.
ROLES = ("sysadmin", "secadmin", "auditor", "editor", "reader")

# The eight fields of the agreement, in the order of the standard template, with their Chinese names.
OFFICE_FIELDS: tuple[tuple[str, str], ...] = (
    ("unit_name", "单位名称"),
    ("contact_name", "联系人"),
    ("position", "职务"),
    ("phone", "联系电话"),
    ("fax", "传真号码"),
    ("email", "电子邮箱"),
    ("address", "工作地址"),
    ("postal_code", "邮政编码"),
)


class Region(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=64)
    level: str = Field(max_length=10)
    parent_code: str | None = Field(default=None, max_length=12, index=True)
    province_code: str = Field(max_length=12, index=True)


class RegionAlias(SQLModel, table=True):
    """The code of a retired region, kept for a while as another name of the region its office moved to."""

    __tablename__ = "region_alias"
    old_code: str = Field(primary_key=True, max_length=12)
    new_code: str = Field(max_length=12, index=True)
    until: dt.datetime
    created_at: dt.datetime = Field(default_factory=clock.now)


class Office(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    region_code: str = Field(foreign_key="region.code", unique=True, max_length=12)
    unit_name: str = Field(max_length=200)
    contact_name: str = Field(default="", max_length=100)
    position: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)  # E.164, extension as ";ext=123"
    fax: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    address: str = Field(default="", max_length=300)
    postal_code: str = Field(default="", max_length=6)
    liaison: bool = False  # this office's contact person is the province's liaison officer (联络员)
    phone_public: bool = False  # a mobile in ``phone`` is a public work number: whole to every signed-in reader
    email_status: str = Field(default="ok", max_length=20)  # ok | bouncing
    email_status_note: str = Field(default="", max_length=1000)
    verified_at: dt.datetime | None = None  # last confirmed as still true (确认日期)
    verified_by: str = Field(default="", max_length=100)  # who confirmed it, as shown (e.g. 本单位自助核对)
    demo: bool = False
    version: int = 1
    gen: int = Field(default=0, index=True)  # the change counter value of the last write (incremental reloads)
    updated_at: dt.datetime = Field(default_factory=clock.now)
    updated_by: str = Field(default="", max_length=100)


class Contact(SQLModel, table=True):
    """Another named person at an office, beside the office's contact person (联系人).

    The province's liaison officer (联络员) is always an office's contact person, flagged by ``Office.liaison``;
    that flag is the only place the role is kept.
    """

    id: int | None = Field(default=None, primary_key=True)
    office_id: int = Field(foreign_key="office.id", index=True)
    name: str = Field(max_length=100)
    position: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    demo: bool = False


class Account(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=40)  # one of ROLES, or "secadmin,sysadmin" (sorted, comma-joined)
    province_code: str | None = Field(default=None, max_length=12)
    disabled: bool = False
    failed_logins: int = 0
    locked_until: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=clock.now)
    password_changed_at: dt.datetime | None = None  # None: set before expiry existed (counted from the upgrade)
    totp_secret: str | None = Field(default=None, max_length=64)  # base32; None: no second factor enrolled
    totp_enabled_at: dt.datetime | None = None  # None while an enrolment is begun but not confirmed
    totp_last_step: int = 0  # the last accepted 30-second step: a code is good once
    office_code: str | None = Field(default=None, max_length=12)  # one's own office: the default sender
    email: str | None = Field(default=None, max_length=254)  # where reports about one's province are mailed


class WebSession(SQLModel, table=True):
    """A logged-in web session; the cookie names it by a random id, the table keeps only its SHA-256.

    Every request checks its row, so ending a session here ends it on every instance at once and across restarts.
    ``stage`` is ``full``, or ``password`` while the second factor is still to be given."""

    __tablename__ = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    stage: str = Field(default="full", max_length=10)
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime  # the absolute end
    ended_at: dt.datetime | None = None
    end_reason: str = Field(default="", max_length=20)  # logout | password | disabled | 2fa_reset | revoked | ...
    client: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=200)


class LoginEvent(SQLModel, table=True):
    """One login attempt of a known account on the web face: when, from where, and how it ended."""

    __tablename__ = "login_event"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    at: dt.datetime = Field(default_factory=clock.now)
    client: str = Field(default="", max_length=64)
    success: bool = False
    detail: str = Field(default="", max_length=40)  # password | totp | recovery | wrong_password | wrong_code | ...


class PasswordHistory(SQLModel, table=True):
    """The argon2 hashes of an account's earlier passwords (for "no reuse of the last N")."""

    __tablename__ = "password_history"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    password_hash: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=clock.now)


class RecoveryCode(SQLModel, table=True):
    """A single-use recovery code of the second factor; only its SHA-256 is kept."""

    __tablename__ = "recovery_code"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64)
    used_at: dt.datetime | None = None


class ErrorReport(SQLModel, table=True):
    """A note left by staff on an office page ("报告错误"); it waits for the editors of the office's province."""

    __tablename__ = "error_report"
    id: int | None = Field(default=None, primary_key=True)
    region_code: str = Field(max_length=12)
    province: str = Field(max_length=2, index=True)
    message: str = Field(max_length=2000)
    reporter: str = Field(max_length=64)
    reporter_contact: str = Field(default="", max_length=200)
    created_at: dt.datetime = Field(default_factory=clock.now)
    closed_at: dt.datetime | None = None
    closed_by: str = Field(default="", max_length=64)
    closing_note: str = Field(default="", max_length=500)
    mailed: int = 0  # how many editors were told by mail


class ApiToken(SQLModel, table=True):
    """A token for scripts: its rights are its scope and province intersected with its owner's role."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    label: str = Field(max_length=100)
    scope: str = Field(default="write", max_length=10)  # read | write
    province_code: str | None = Field(default=None, max_length=12)  # None: the owner's whole reach
    secret_hash: str = Field(unique=True, max_length=64)  # SHA-256 of the token; the token itself is never stored
    created_at: dt.datetime = Field(default_factory=clock.now)
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    last_used_from: str = Field(default="", max_length=64)


class AppPassword(SQLModel, table=True):
    """A per-device secret of an account for reading the address books over CardDAV, and nothing else.

    Only the SHA-256 of the secret is kept; ``label`` says which device it is for (e.g. 手机)."""

    __tablename__ = "app_password"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    label: str = Field(max_length=64)
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = Field(default_factory=clock.now)
    last_used_at: dt.datetime | None = None


class Change(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=clock.now, index=True)
    actor: str = Field(max_length=100)
    entity: str = Field(max_length=20)  # office | contact | account | ...
    entity_key: str = Field(max_length=64, index=True)
    action: str = Field(max_length=20)  # create | update | delete | verify | ...
    before: str | None = None  # JSON
    after: str | None = None  # JSON
    # Tamper evidence (see directory.store.auditlog): the row's place in its chain and its MAC over every column
    # above and the previous row's MAC. Rows written before the chain existed have none.
    chain: str | None = Field(default=None, max_length=40)
    seq: int | None = None
    mac: str | None = Field(default=None, max_length=128)


class AuditChain(SQLModel, table=True):
    """One chain of audit rows: its head (the last row's seq and MAC, locked only at commit), the key that wrote
    it (fingerprint), how far it is archived, and the anchor of the rows pruned after archiving."""

    __tablename__ = "audit_chain"
    chain: str = Field(primary_key=True, max_length=40)
    seq: int = 0
    mac: str = Field(default="", max_length=128)
    key_id: str = Field(default="", max_length=32)
    archived_seq: int = 0
    pruned_seq: int = 0
    pruned_mac: str = Field(default="", max_length=128)


class OfficeChange(SQLModel, table=True):
    """The durable change log of offices: one row per office per write, tombstones of removed offices included.

    Kept apart from the audit (which may be pruned and records much more): sync tokens of address books and the
    incremental runs of publish targets are generations of this log, so they stay valid for as long as it is kept.
    """

    __tablename__ = "office_change"
    id: int | None = Field(default=None, primary_key=True)
    gen: int = Field(index=True)  # the change counter value of the writing transaction
    region_code: str = Field(max_length=12, index=True)
    removed: bool = False
    at: dt.datetime = Field(default_factory=clock.now)


class Meta(SQLModel, table=True):
    """Small key/value state: ``generation`` (bumped on every directory write), secrets, data versions."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="")
