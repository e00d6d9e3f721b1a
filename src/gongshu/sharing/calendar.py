"""The working-day calendar that drives every deadline of a share request (pure, no I/O).

A day is a working day when it is a Monday to Friday that is not a public holiday, or a
make-up working day (调休: a Saturday or Sunday worked in exchange for a longer holiday). The
State Council publishes each year's arrangement around November, so each year is data
(``data/calendar/<year>.yaml``, read by ``service``) that administrators extend with
``CalendarDay`` rows. A year without data falls back to weekends only, and every deadline that
crosses such a year says so (``Deadline.missing_years``) so that pages and the API can warn.

A step of ``n`` working days started on day D is due at the end of the n-th working day after D
(the start day itself does not count, as with 国发〔2016〕51号's "10 working days").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

#: end of a due day, in local time
END_OF_DAY = dt.time(23, 59, 59)


class CalendarDataError(ValueError):
    """A year file that does not parse."""


@dataclass(frozen=True)
class YearData:
    year: int
    source: str
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    names: Mapping[dt.date, str] = field(default_factory=dict)


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarDataError(f"{where}: {value!r} is not a date") from exc


def parse_year(data: Mapping[str, Any]) -> YearData:
    """A year's arrangement from its YAML mapping (``year``, ``holidays`` as ranges with
    ``from``/``to``, ``workdays`` as dates); every date must lie in that year."""
    try:
        year = int(data["year"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CalendarDataError("a calendar file needs its 'year'") from exc
    holidays: set[dt.date] = set()
    workdays: set[dt.date] = set()
    names: dict[dt.date, str] = {}
    for i, item in enumerate(data.get("holidays") or []):
        start = _date(item.get("from"), f"holidays[{i}].from")
        end = _date(item.get("to", item.get("from")), f"holidays[{i}].to")
        if end < start:
            raise CalendarDataError(f"holidays[{i}]: ends before it starts")
        day = start
        while day <= end:
            holidays.add(day)
            names[day] = str(item.get("name", ""))
            day += dt.timedelta(days=1)
    for i, item in enumerate(data.get("workdays") or []):
        day = _date(item.get("date") if isinstance(item, Mapping) else item, f"workdays[{i}]")
        workdays.add(day)
        names[day] = str(item.get("name", "")) if isinstance(item, Mapping) else ""
    stray = sorted(d for d in holidays | workdays if d.year != year)
    if stray:
        raise CalendarDataError(f"dates outside {year}: {', '.join(map(str, stray))}")
    both = holidays & workdays
    if both:
        raise CalendarDataError(f"both holiday and working day: {', '.join(map(str, sorted(both)))}")
    return YearData(year, str(data.get("source", "")), frozenset(holidays), frozenset(workdays),
                    names)


@dataclass(frozen=True)
class Deadline:
    due_day: dt.date
    due_at: dt.datetime  # UTC, the end of the due day in the local time zone
    #: years the period crossed for which the calendar has no data (weekends only there)
    missing_years: tuple[int, ...] = ()


class Calendar:
    """Working days from year data plus single-day overrides (``CalendarDay`` rows)."""

    def __init__(self, years: Iterable[YearData] = (),
                 overrides: Mapping[dt.date, bool] | None = None,
                 tz: str = "Asia/Shanghai") -> None:
        self.years = {y.year: y for y in years}
        self.holidays: set[dt.date] = set()
        self.workdays: set[dt.date] = set()
        for y in self.years.values():
            self.holidays |= y.holidays
            self.workdays |= y.workdays
        self.overrides = dict(overrides or {})
        self.tz = ZoneInfo(tz)

    def known_year(self, year: int) -> bool:
        """The year has a file, or an administrator has entered days of it."""
        return year in self.years or any(d.year == year for d in self.overrides)

    def is_working(self, day: dt.date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, n: int) -> tuple[dt.date, tuple[int, ...]]:
        """The n-th working day after ``start`` (``start`` itself when n == 0), and the years
        crossed that have no data."""
        if n < 0:
            raise ValueError("n must not be negative")
        day = start
        missing: set[int] = set()
        if not self.known_year(day.year):
            missing.add(day.year)
        left = n
        while left > 0:
            day += dt.timedelta(days=1)
            if not self.known_year(day.year):
                missing.add(day.year)
            if self.is_working(day):
                left -= 1
        return day, tuple(sorted(missing))

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working(day):
                count += 1
        return count

    def local_day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def deadline(self, start: dt.datetime, n: int) -> Deadline:
        """When a step of ``n`` working days that starts at ``start`` (aware) is due."""
        day, missing = self.add_working_days(self.local_day(start), n)
        local_end = dt.datetime.combine(day, END_OF_DAY, tzinfo=self.tz)
        return Deadline(day, local_end.astimezone(dt.UTC), missing)
