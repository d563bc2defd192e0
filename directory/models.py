"""SQLModel tables of the directory: Region, RegionAlias, Office, Contact, Account, ApiToken, AppPassword, Change,
AuditChain, OfficeChange, Meta.

Owns: the shape of the stored directory. Only ``directory.store`` queries these tables; the schema itself is created and
migrated by Alembic (``directory/migrations``), never by ``create_all`` at run time.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from directory import clock

LEVELS = ("province", "city", "county", "township")
LEVEL_NAMES = {"province": "省级", "city": "地级", "county": "县级", "township": "乡级"}
ROLES = ("admin", "editor", "reader")

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
    verified_at: dt.datetime | None = None
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
    role: str = Field(max_length=10)
    province_code: str | None = Field(default=None, max_length=12)
    disabled: bool = False
    failed_logins: int = 0
    locked_until: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=clock.now)


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
