"""Helpers of the verification-campaign tests: a small world of offices under 石家庄市 长安区 (e-mail, fax only,
neither), the web face with the campaign pages behind a real login on 127.0.0.1:0, reading tokens and fax codes out
of queued notices, and the outbox worker with the follow-up job on the service's hand-moved clock.

Every contact here is made up for the tests (``*.example`` domains).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from directory import accounts, clock
from directory.clock import ManualClock
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData
from directory.web.app import make_app
from directory.web.context import WebContext
from liaison.mail.models import outbox_t
from liaison.mail.worker import OutboxWorker
from liaison.settings import Settings
from liaison.verify import followup
from liaison.verify import web as verify_web
from liaison.verify.models import item_t
from tests.support.mailsink import Sink
from tests.support.settings import service_settings
from tests.support.web import PASSWORD, FormLogin

CITY = "130100000000"  # 石家庄市
COUNTY = "130102000000"  # 长安区
EMAIL_A = "130102001000"  # 建北街道
EMAIL_B = "130102002000"  # 青园街道
EMAIL_C = "130102003000"  # 广安街道
FAX_ONLY = "130102004000"  # 育才街道
NEITHER = "130102005000"  # 跃进街道
OTHER_PROVINCE = "370102000000"  # 济南市 历下区

OFFICES = [
    OfficeData(CITY, "石家庄市流动人口服务管理办公室", email="sjz@hebei.example", phone="+8631186000001"),
    OfficeData(COUNTY, "长安区流动人口服务管理办公室", email="changan@hebei.example", phone="+8631186000002"),
    OfficeData(EMAIL_A, "建北街道流动人口服务站", email="jianbei@hebei.example", phone="+8631186000003"),
    OfficeData(EMAIL_B, "青园街道流动人口服务站", email="qingyuan@hebei.example", phone="+8631186000004"),
    OfficeData(EMAIL_C, "广安街道流动人口服务站", email="guangan@hebei.example", phone="+8631186000005"),
    OfficeData(FAX_ONLY, "育才街道流动人口服务站", fax="+8631186000006"),
    OfficeData(NEITHER, "跃进街道流动人口服务站", phone="+8631186000007"),
    OfficeData(OTHER_PROVINCE, "历下区流动人口服务管理办公室", email="lixia@shandong.example"),
]
USERS = {"hebei": ("editor", "130000000000"), "shandong": ("editor", "370000000000"), "admin": ("admin", None)}
TOKEN_RE = re.compile(r"/check\?t=([A-Za-z0-9_-]+)")
CODE_RE = re.compile(r"核对码 ([A-Z0-9]{8})")


def settings_for(url: str, sink: Sink | None = None, **verify: object) -> Settings:
    """A fax gateway, an outbox that polls rarely (tests wake it), ``[verify]`` changes."""
    return service_settings(
        url,
        sink=sink,
        fax={"gateway": "fax.gw.example"},
        liaison={"outbox_poll_interval": 60},
        # http, so the test client (plain http) keeps the session cookie, which is Secure under an https address
        web={"public_url": "http://bohai.example"},
        verify=verify,
    )


def add_world(store: Store) -> None:
    store.upsert_offices(OFFICES, "test")
    for name, (role, province) in USERS.items():
        accounts.add_user(store, name, PASSWORD, role, province, "test")


# -- reading the outbox -----------------------------------------------------------------------------------------------


def queued(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    with store.read() as conn:
        query = sa.select(outbox_t).order_by(outbox_t.c.id)
        if kind is not None:
            query = query.where(outbox_t.c.kind == kind)
        return [dict(r) for r in conn.execute(query).mappings()]


def parsed(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def token_for(store: Store, region_code: str) -> str:
    """The link token in the queued notice of ``region_code``'s office (read from the mail, as the office would)."""
    return _in_notice(store, region_code, TOKEN_RE, "link")


def fax_code_for(store: Store, region_code: str) -> str:
    """The short code in the queued fax notice of ``region_code``'s office (its text part; the PDF says the same)."""
    return _in_notice(store, region_code, CODE_RE, "short code")


def _in_notice(store: Store, region_code: str, pattern: re.Pattern[str], what: str) -> str:
    for row in queued(store, "verify"):
        if str(row["ref"]).endswith(f":{region_code}"):
            m = pattern.search(text_of(parsed(row["body"])))
            assert m, f"no {what} in the notice"
            return m[1]
    raise AssertionError(f"no notice for {region_code}")


def item_states(store: Store) -> dict[str, str]:
    with store.read() as conn:
        return {r.region_code: r.state for r in conn.execute(sa.select(item_t.c.region_code, item_t.c.state))}


# -- the web face -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Pages(FormLogin):
    """A client of the web face with the campaign pages; ``woken`` grows when the pages wake the outbox."""

    client: TestClient[Any, Any]
    store: Store
    holder: SnapshotHolder
    settings: Settings
    woken: list[int]

    async def post(self, path: str, data: dict[str, str]) -> Any:
        token = await self.csrf("/verify")
        return await self.client.post(path, data={**data, "csrf": token}, allow_redirects=False)


@asynccontextmanager
async def pages(store: Store, settings: Settings) -> AsyncIterator[Pages]:
    woken: list[int] = []
    holder = SnapshotHolder(store)
    app = make_app(WebContext(settings, store, holder), [verify_web.extension(lambda: woken.append(1))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NotAppKeyWarning
        async with TestClient(TestServer(app, host="127.0.0.1")) as c:
            yield Pages(c, store, holder, settings, woken)


# -- the worker with the follow-up job --------------------------------------------------------------------------------


def follow_up_worker(store: Store, settings: Settings, holder: SnapshotHolder, clk: ManualClock) -> OutboxWorker:
    worker = OutboxWorker(store, settings, clock=clk)
    worker.add_job(followup.job(settings, lambda: holder.current))
    return worker


def beijing(day: dt.date, hour: int = 9) -> dt.datetime:
    """``hour`` o'clock Beijing time on ``day``, as aware UTC."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=clock.ZONE).astimezone(dt.UTC)
