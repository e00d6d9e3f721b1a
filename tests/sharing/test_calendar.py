"""The working-day calendar: weekends, public holidays and make-up working days (调休), across
the Spring Festival and National Day of 2025 and 2026, as tables of cases."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshu.sharing import calendar as cal
from gongshu.sharing import service

D = dt.date


@pytest.fixture(scope="module")
def calendar() -> cal.Calendar:
    return cal.Calendar(service.year_files())


@pytest.mark.parametrize(("day", "working"), [
    (D(2025, 1, 1), False),   # New Year
    (D(2025, 1, 26), True),   # Sunday, make-up day for the Spring Festival
    (D(2025, 1, 27), True),   # Monday before the holiday
    (D(2025, 1, 28), False),  # Spring Festival eve
    (D(2025, 2, 4), False),   # last day of the holiday (a Tuesday)
    (D(2025, 2, 5), True),
    (D(2025, 2, 8), True),    # Saturday, make-up day
    (D(2025, 2, 9), False),   # ordinary Sunday
    (D(2025, 4, 27), True),   # Sunday before Labour Day, make-up day
    (D(2025, 5, 5), False),
    (D(2025, 9, 28), True),   # Sunday, make-up day for National Day
    (D(2025, 10, 8), False),  # Mid-Autumn joined to National Day
    (D(2025, 10, 11), True),  # Saturday, make-up day
    (D(2026, 1, 4), True),    # Sunday, make-up day
    (D(2026, 2, 14), True),   # Saturday before the Spring Festival
    (D(2026, 2, 15), False),
    (D(2026, 2, 23), False),  # a Monday inside the holiday
    (D(2026, 2, 24), True),
    (D(2026, 2, 28), True),   # Saturday, make-up day
    (D(2026, 5, 9), True),
    (D(2026, 9, 20), True),
    (D(2026, 10, 7), False),
    (D(2026, 10, 10), True),
    (D(2026, 10, 11), False),  # ordinary Sunday
    (D(2027, 1, 1), True),     # no file for 2027: a Friday counts as a working day
])
def test_working_days(calendar: cal.Calendar, day: dt.date, working: bool) -> None:
    assert calendar.is_working(day) is working


@pytest.mark.parametrize(("start", "n", "due"), [
    # an ordinary week: Friday + 2 working days = Tuesday
    (D(2025, 3, 7), 2, D(2025, 3, 11)),
    # Spring Festival 2025: a request on Friday 24 Jan, 2 working days: Sun 26 (make-up), Mon 27
    (D(2025, 1, 24), 2, D(2025, 1, 27)),
    # started the day before the holiday: the next working days are 5 and 6 Feb
    (D(2025, 1, 27), 2, D(2025, 2, 6)),
    # 5 working days from 4 Feb: 5, 6, 7, Sat 8 (make-up), 10
    (D(2025, 2, 4), 5, D(2025, 2, 10)),
    # 10 working days across National Day 2025: 29, 30 Sep, then 9, 10, 11 (Sat), 13 … 17 Oct
    (D(2025, 9, 26), 10, D(2025, 10, 16)),
    (D(2025, 9, 27), 2, D(2025, 9, 29)),  # Sun 28 Sep is a make-up day
    # Spring Festival 2026: Fri 13 Feb + 2: Sat 14 (make-up), then 24 Feb
    (D(2026, 2, 13), 2, D(2026, 2, 24)),
    # 10 working days: Sat 14, 24, 25, 26, 27, Sat 28 (both make-up days), 2, 3, 4, 5 Mar
    (D(2026, 2, 13), 10, D(2026, 3, 5)),
    # National Day 2026: Wed 30 Sep + 5: 8, 9, Sat 10 (make-up), 12, 13
    (D(2026, 9, 30), 5, D(2026, 10, 13)),
    (D(2026, 12, 30), 2, D(2027, 1, 1)),  # into a year without a file
    (D(2026, 5, 6), 0, D(2026, 5, 6)),
])
def test_add_working_days(calendar: cal.Calendar, start: dt.date, n: int, due: dt.date) -> None:
    got, _missing = calendar.add_working_days(start, n)
    assert got == due
    assert calendar.working_days_between(start, got) == n


def test_a_year_without_a_file_is_reported() -> None:
    c = cal.Calendar(service.year_files())
    assert c.add_working_days(D(2026, 6, 1), 3)[1] == ()
    assert c.add_working_days(D(2026, 12, 30), 2)[1] == (2027,)
    extended = cal.Calendar(service.year_files(), {D(2027, 1, 1): False})
    assert extended.known_year(2027)
    assert extended.add_working_days(D(2026, 12, 30), 2) == (D(2027, 1, 4), ())


def test_deadline_is_the_end_of_the_local_due_day() -> None:
    c = cal.Calendar(service.year_files())
    # Friday 13 Feb 2026, 20:00 in Beijing = 12:00 UTC
    start = dt.datetime(2026, 2, 13, 12, 0, tzinfo=dt.UTC)
    got = c.deadline(start, 2)
    assert got.due_day == D(2026, 2, 24)
    assert got.due_at == dt.datetime(2026, 2, 24, 15, 59, 59, tzinfo=dt.UTC)
    # 23:30 UTC on the 13th is already Saturday the 14th in Beijing (a make-up working day)
    assert c.deadline(dt.datetime(2026, 2, 13, 23, 30, tzinfo=dt.UTC), 1).due_day == D(2026, 2, 24)


@pytest.mark.parametrize(("data", "message"), [
    ({"holidays": []}, "year"),
    ({"year": 2027, "holidays": [{"from": "2026-12-31", "to": "2026-12-31"}]}, "outside 2027"),
    ({"year": 2027, "holidays": [{"from": "2027-02-10", "to": "2027-02-01"}]}, "ends before"),
    ({"year": 2027, "holidays": [{"from": "2027-02-01"}], "workdays": [{"date": "2027-02-01"}]},
     "both"),
    ({"year": 2027, "workdays": [{"date": "not a date"}]}, "not a date"),
])
def test_bad_year_files_are_refused(data: dict, message: str) -> None:
    with pytest.raises(cal.CalendarDataError, match=message):
        cal.parse_year(data)


def test_shipped_files_match_the_notices() -> None:
    years = {y.year: y for y in service.year_files()}
    assert len(years[2025].holidays) == 1 + 8 + 3 + 5 + 3 + 8
    assert len(years[2025].workdays) == 5
    assert len(years[2026].holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert len(years[2026].workdays) == 6
    for y in years.values():
        assert all(d.weekday() >= 5 for d in y.workdays)


@given(start=st.dates(min_value=D(2024, 12, 1), max_value=D(2027, 1, 31)),
       n=st.integers(min_value=0, max_value=40))
def test_adding_working_days_round_trips(start: dt.date, n: int) -> None:
    c = cal.Calendar(service.year_files())
    due, _missing = c.add_working_days(start, n)
    assert c.working_days_between(start, due) == n
    if n:
        assert c.is_working(due)
        # the day before the due day is at most n-1 working days away
        assert c.working_days_between(start, due - dt.timedelta(days=1)) == n - 1
