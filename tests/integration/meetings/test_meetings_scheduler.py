"""The durable scheduler with meetings' reminders: exactly once across restarts, leases, misfires, retries."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from directory import clock
from directory.clock import ManualClock
from directory.store import Store
from liaison.mail import scheduler
from liaison.meetings import reminders, rules
from liaison.meetings.rules import MeetingInput
from liaison.settings import Settings
from liaison.workdays.calendar import Calendar
from tests.support.meetings import NOW, START, Sink, drain, make_scheduler, send_outbox

PEOPLE = ["a@example.org", "b@example.org", "c@example.org"]
TEN_WORKDAYS = dt.datetime(2026, 12, 3, 9, 0, tzinfo=clock.ZONE)  # 10th working day strictly before 2026-12-17
ONE_DAY = START - dt.timedelta(days=1)


def create(store: Store, settings: Settings, start: dt.datetime = START) -> int:
    data = MeetingInput(title="联席会议", host="11", start=start, end=start + dt.timedelta(hours=4), attendees=PEOPLE)
    return rules.create_meeting(store, None, settings, data, "t", now=NOW).meeting.id


async def subjects(store: Store, settings: Settings, sink: Sink) -> list[tuple[str, str]]:
    """Send what the outbox holds; (recipient, kind of subject) of each mail received."""
    await send_outbox(store, settings)
    return sorted((m.rcpt_tos[0], str(m.message["Subject"]).split("：")[0]) for m in drain(sink))


def jobs(store: Store, mid: int, kind: str) -> list[scheduler.JobRow]:
    return [j for j in scheduler.jobs_for(store, str(mid)) if j.kind == kind]


def test_reminder_times_follow_the_offsets(store: Store, settings: Settings) -> None:
    mid = create(store, settings)
    due = sorted({j.due_at for j in jobs(store, mid, "reminder")})
    assert due == [TEN_WORKDAYS.astimezone(dt.UTC), ONE_DAY]
    assert reminders.reminder_time(START, 3, "hour", Calendar()) == START - dt.timedelta(hours=3)
    assert reminders.reminder_time(START, 1, "workday", Calendar()) == START - dt.timedelta(days=1)


async def test_restart_while_a_reminder_is_due_sends_it_once(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    mid = create(store, settings)
    await make_scheduler(store, settings, clock, "first").run_due()
    assert await subjects(store, settings, sink) == [(p, "会议通知") for p in PEOPLE]
    clock.now = ONE_DAY - dt.timedelta(minutes=1)  # the 10-workday reminder is due; the first process "stops"
    # A second process starts after the 10-workday reminder came due; it sends it, once.
    second = make_scheduler(store, settings, clock, "second")
    await second.run_due()
    assert await subjects(store, settings, sink) == [(p, "会议提醒") for p in PEOPLE]
    # ... and it restarts again (third instance) and runs twice more: nothing is sent again.
    third = make_scheduler(store, settings, clock, "third")
    assert await third.run_due() == 0 and await second.run_due() == 0
    assert await send_outbox(store, settings) == 0 and drain(sink) == []
    outcomes = sorted((j.label, j.outcome) for j in jobs(store, mid, "reminder"))
    assert outcomes == [("1 day", "")] * 3 + [("10 workdays", "sent")] * 3
    clock.now = ONE_DAY
    await third.run_due()
    assert await subjects(store, settings, sink) == [(p, "会议提醒") for p in PEOPLE]


async def test_a_crashed_claim_is_taken_over_only_after_its_lease(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    mid = create(store, settings)
    assert len(await subjects(store, settings, sink)) == 3  # the invitations
    clock.now = ONE_DAY
    crashed = make_scheduler(store, settings, clock, "crashed")
    claimed = await store.run(crashed.claim, clock.now)  # claimed, then the process died before running them
    assert len(claimed) == 6 and all(j.attempts == 1 for j in claimed)
    other = make_scheduler(store, settings, clock, "other")
    assert await other.run_due() == 0
    clock.now += dt.timedelta(seconds=settings.meetings.lease_seconds + 1)
    assert await other.run_due() == 6
    got = await subjects(store, settings, sink)
    assert got == sorted([(p, "会议提醒") for p in PEOPLE] * 2)
    # The old owner wakes up and tries to finish its jobs: the lease is gone, nothing changes.
    with store.begin() as conn:
        assert not any(scheduler.finish(conn, j, "sent", clock.now) for j in claimed)
    with pytest.raises(scheduler.LeaseLost):
        await reminders.run_reminder(store, settings, claimed[0], clock.now)
    assert await send_outbox(store, settings) == 0
    assert {j.outcome for j in jobs(store, mid, "reminder")} == {"sent"}


async def test_two_schedulers_at_once_run_each_reminder_once(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    for _ in range(4):
        create(store, settings)
    await subjects(store, settings, sink)
    clock.now = ONE_DAY
    a, b = make_scheduler(store, settings, clock, "a"), make_scheduler(store, settings, clock, "b")
    a.batch = b.batch = 2
    ran = await asyncio.gather(a.run_due(), b.run_due())
    assert sum(ran) == 24
    got = await subjects(store, settings, sink)
    assert len(got) == 24 and sorted(set(got)) == [(p, "会议提醒") for p in PEOPLE]


async def test_misfire_policy(store: Store, settings: Settings, clock: ManualClock, sink: Sink) -> None:
    mid = create(store, settings)
    clock.now = START + dt.timedelta(minutes=5)  # nobody ran the scheduler until the meeting had started
    await make_scheduler(store, settings, clock).run_due()
    assert await subjects(store, settings, sink) == [(p, "会议通知") for p in PEOPLE]  # notices are always sent
    assert {j.outcome for j in jobs(store, mid, "reminder")} == {"skipped"}


async def test_late_reminder_is_sent_while_the_meeting_has_not_started(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    mid = create(store, settings)
    clock.now = START - dt.timedelta(minutes=5)
    await make_scheduler(store, settings, clock).run_due()
    got = await subjects(store, settings, sink)
    assert got.count(("a@example.org", "会议提醒")) == 2 and len(got) == 9
    assert {j.outcome for j in jobs(store, mid, "reminder")} == {"sent"}


async def test_declined_attendees_get_no_reminder(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    mid = create(store, settings)
    assert rules.set_partstat(store, mid, "b@example.org", "DECLINED")
    clock.now = ONE_DAY
    await make_scheduler(store, settings, clock).run_due()
    reminded = {r for r, s in await subjects(store, settings, sink) if s == "会议提醒"}
    assert reminded == {"a@example.org", "c@example.org"}


async def test_moving_supersedes_old_reminders(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    mid = create(store, settings)
    later = START + dt.timedelta(days=7)
    rules.update_meeting(
        store, None, settings, mid, MeetingInput(start=later, end=later + dt.timedelta(hours=2)), "t", now=NOW
    )
    reminders = jobs(store, mid, "reminder")
    assert sorted(j.outcome for j in reminders) == [""] * 6 + ["superseded"] * 6
    assert min(j.due_at for j in reminders if not j.outcome) == dt.datetime(2026, 12, 10, 1, 0, tzinfo=dt.UTC)
    rules.cancel_meeting(store, settings, mid, "t", now=NOW)
    assert {j.outcome for j in jobs(store, mid, "reminder")} == {"superseded"}


async def test_a_failing_handler_is_retried_with_backoff_then_given_up(store: Store, clock: ManualClock) -> None:
    with store.begin() as conn:
        scheduler.add_job(conn, "flaky", due_at=NOW, ref="f")
    calls: list[dt.datetime] = []

    async def flaky(job: scheduler.JobRow, now: dt.datetime) -> str:
        calls.append(now)
        raise OSError("relay unreachable")

    sched = scheduler.Scheduler(store, {"flaky": flaky}, clock=clock, max_attempts=2)
    assert await sched.run_due() == 1
    (job,) = scheduler.jobs_for(store, "f")
    assert (job.attempts, job.done_at, job.due_at) == (1, None, NOW + dt.timedelta(seconds=300))
    assert job.error == "OSError: relay unreachable"
    assert await sched.run_due() == 0
    clock.now = NOW + dt.timedelta(seconds=300)
    assert await sched.run_due() == 1
    (job,) = scheduler.jobs_for(store, "f")
    assert (job.attempts, job.outcome) == (2, "failed") and len(calls) == 2


def test_backoff_is_bounded() -> None:
    assert [scheduler.backoff(n) for n in (1, 2, 3, 4, 5, 9)] == [300, 600, 1200, 2400, 4000, 4000]


async def test_unknown_kind_is_retried_not_lost(store: Store, clock: ManualClock) -> None:
    with store.begin() as conn:
        scheduler.add_job(conn, "mystery", due_at=NOW, ref="x")
    sched = scheduler.Scheduler(store, {}, clock=clock)
    assert await sched.run_due() == 1
    with store.read() as conn:
        row = conn.execute(sa.select(scheduler.job_t).where(scheduler.job_t.c.ref == "x")).mappings().one()
    assert row["done_at"] is None and "no handler" in row["error"]


async def test_loop_wakes_and_stops(store: Store, settings: Settings, clock: ManualClock) -> None:
    mid = create(store, settings)
    sched = make_scheduler(store, settings, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(sched.loop(3600, stop))
    await sched.wait_idle()
    assert {j.outcome for j in jobs(store, mid, "reminder")} == {""}
    clock.now = ONE_DAY
    await sched.wait_idle()  # woken at once, not after the hour-long interval
    assert {j.outcome for j in jobs(store, mid, "reminder")} == {"sent"}
    stop.set()
    await asyncio.wait_for(task, 10)
