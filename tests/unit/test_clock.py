"""The one clock: Beijing dates across the UTC midnight, injected time, naive values from SQLite."""

from __future__ import annotations

import datetime as dt

from directory import clock

# 01:30 on 1 March in Beijing is still 28 February in UTC.
EARLY_MORNING = dt.datetime(2026, 2, 28, 17, 30, tzinfo=dt.UTC)


def test_today_is_the_date_in_beijing_not_in_utc() -> None:
    with clock.use(EARLY_MORNING):
        assert clock.today() == dt.date(2026, 3, 1)
        assert clock.now() == EARLY_MORNING and clock.now().tzinfo == dt.UTC
    with clock.use(EARLY_MORNING - dt.timedelta(minutes=91)):  # 23:59 on 28 February in Beijing
        assert clock.today() == dt.date(2026, 2, 28)


def test_use_restores_the_previous_source_even_after_an_error() -> None:
    before = clock.now()
    try:
        with clock.use(EARLY_MORNING):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert clock.now() >= before and clock.now().year >= 2025


def test_a_manual_clock_moves_only_when_told() -> None:
    manual = clock.ManualClock(EARLY_MORNING)
    with clock.use(manual):
        assert clock.now() == clock.now() == EARLY_MORNING
        manual.advance(hours=6, minutes=30)
        assert clock.now() == dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)
        manual.set(dt.datetime(2026, 3, 1, 9, 0, tzinfo=clock.ZONE))
        assert clock.now() == dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)


def test_stored_values_are_read_as_utc_and_shown_in_beijing() -> None:
    naive = dt.datetime(2026, 2, 28, 17, 30)  # what SQLite hands back for EARLY_MORNING
    assert clock.aware(naive) == EARLY_MORNING
    assert clock.local(naive).hour == 1 and clock.local(naive).tzinfo is clock.ZONE
    assert clock.local_date(naive) == dt.date(2026, 3, 1)
    assert clock.local_date(dt.datetime(2026, 3, 1, 1, 30, tzinfo=clock.ZONE)) == dt.date(2026, 3, 1)
