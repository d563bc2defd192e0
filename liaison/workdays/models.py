"""SQLModel tables of the working-day override: the years an operator loaded and their days.

Owns: the shape of these tables and their Core table objects (``*_t``); the schema comes from the liaison migrations.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from directory import clock


class WorkdayYear(SQLModel, table=True):
    """A year whose official calendar (State Council notice) an operator loaded into the override table."""

    __tablename__ = "workday_year"
    year: int = Field(primary_key=True)
    source: str = Field(default="", max_length=300)
    loaded_at: dt.datetime = Field(default_factory=clock.now)


class WorkdayOverride(SQLModel, table=True):
    """One day of a loaded year that differs from Monday-Friday: a holiday (False) or a make-up working day (True)."""

    __tablename__ = "workday_override"
    day: dt.date = Field(primary_key=True)
    year: int = Field(index=True)
    workday: bool


workday_year_t = WorkdayYear.__table__  # type: ignore[attr-defined]
workday_override_t = WorkdayOverride.__table__  # type: ignore[attr-defined]
