"""Wiring of joint meetings for the composition root and the CLI.

Owns: building the scheduler with the meetings' job handler (``reminder``: queue a reminder mail in the outbox or
skip it per the misfire policy), the inbound hooks and organiser local parts that
the inbound SMTP face takes, and the small use-case functions the ``bohai meeting`` commands call.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from pathlib import Path

from directory import clock
from directory.errors import FieldError, ValidationFailed
from directory.snapshot import SnapshotHolder
from directory.store import Store
from liaison.mail import scheduler
from liaison.meetings import reminders, replies, rules
from liaison.settings import Settings

MAX_AGENDA_FILE = 256 * 1024


def build_scheduler(
    store: Store,
    settings: Settings,
    *,
    clock: scheduler.Clock = clock.now,
    owner: str | None = None,
    on_queued: Callable[[], None] = lambda: None,
) -> scheduler.Scheduler:
    """A scheduler running the meetings' reminder jobs, with the lease and attempt limits of ``[meetings]``.

    ``on_queued`` is called after a reminder put mail into the outbox (the service wakes its outbox worker).
    """

    async def reminder(job: scheduler.JobRow, now: dt.datetime) -> str:
        outcome = await reminders.run_reminder(store, settings, job, now)
        if outcome == "sent":
            on_queued()
        return outcome

    m = settings.meetings
    return scheduler.Scheduler(
        store,
        {"reminder": reminder},
        clock=clock,
        owner=owner,
        lease_seconds=m.lease_seconds,
        max_attempts=m.max_attempts,
    )


def check_settings(settings: Settings) -> None:
    """Fail the start with a SettingsError naming the option when a ``[meetings]`` value is unusable."""
    rules.check_settings(settings)


def inbound_hooks(settings: Settings) -> list[replies.Hook]:
    """Hooks for ``liaison.inbound``: iMIP replies to the organiser address."""
    return [replies.reply_hook(settings)]


def organiser_local_parts(settings: Settings) -> list[str]:
    """Extra local parts the inbound face must accept (the organiser address)."""
    return [settings.meetings.organiser_local_part]


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def read_agenda(path: str | None) -> str | None:
    """The agenda file's text (UTF-8, at most 256 KiB); errors name the file."""
    if path is None:
        return None
    p = Path(path)
    try:
        raw = p.read_bytes()[: MAX_AGENDA_FILE + 1]
    except OSError as exc:
        raise ValidationFailed([FieldError("agenda-file", f"无法读取：{exc.strerror}", value=path)]) from None
    if len(raw) > MAX_AGENDA_FILE:
        raise ValidationFailed([FieldError("agenda-file", "文件过大（最多 256 KiB）", value=path)])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            [FieldError("agenda-file", f"不是 UTF-8 文本（第 {exc.start} 字节）", value=path)]
        ) from None


def create(store: Store, settings: Settings, data: rules.MeetingInput) -> rules.Outcome:
    snap = SnapshotHolder(store).current if data.attendees is None else None
    return rules.create_meeting(store, snap, settings, data, actor())


def update(store: Store, settings: Settings, meeting_id: int, data: rules.MeetingInput) -> rules.Outcome:
    snap = SnapshotHolder(store).current if data.add else None
    return rules.update_meeting(store, snap, settings, meeting_id, data, actor())
