"""Mail to a province's editors when staff report an error in one of its offices.

Owns: the ``REPORT_MAIL`` hook of the directory's web face (``directory.web.reports``): one plain-text mail per
enabled editor of the office's province who gave an address, queued through the outbox in one transaction with
the count kept on the report. The directory cannot reach the outbox itself (liaison imports directory, never the
other way round), so the liaison layer plugs this in via ``service.web_extensions``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

from aiohttp import web

from directory import clock
from directory.store import Store
from directory.web.reports import REPORT_MAIL
from liaison.mail import headers, outbox, text
from liaison.settings import Settings


def _message(settings: Settings, report: dict[str, Any], editor: str, address: str) -> EmailMessage:
    base = settings.public_url()
    body = text.render_text(
        "reports/mail/report.txt",
        editor=editor,
        reporter=report["reporter"],
        unit_name=report["unit_name"],
        message=report["message"],
        contact=report["contact"],
        office_url=f"{base}/office/{report['region_code']}",
        queue_url=f"{base}/reports",
        at=clock.shown(clock.now()),
    )
    msg = EmailMessage()
    msg["From"] = headers.mailbox("环渤海通讯联络服务", f"noreply@{settings.liaison.domain}")
    msg["To"] = headers.mailbox("", address)
    msg["Subject"] = headers.one_line(f"【错误报告】{report['unit_name']}")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    return msg


def queue(store: Store, settings: Settings, report: dict[str, Any]) -> int:
    """Queue the mails of one report; returns how many editors will be told."""
    editors = store.editors_to_tell(report["region_code"][:2])
    with store.begin() as conn:
        for name, address in editors:
            msg = _message(settings, report, name, address)
            outbox.enqueue(conn, msg, recipient=address, kind="report", ref=f"report:{report['id']}")
    if editors:
        store.mark_report_mailed(int(report["id"]), len(editors))
    return len(editors)


def extension(store: Store, settings: Settings, wake: Callable[[], None]) -> Callable[[web.Application], None]:
    async def mail(report: dict[str, Any]) -> int:
        count = await store.run(queue, store, settings, report)
        if count:
            wake()
        return count

    def extend(app: web.Application) -> None:
        hook: Callable[[dict[str, Any]], Awaitable[int]] = mail
        app[REPORT_MAIL] = hook

    return extend
