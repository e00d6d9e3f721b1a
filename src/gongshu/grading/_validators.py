"""Check characters and structure of identifiers, vectorised over ``(n, width)`` byte matrices.

These are the column-at-a-time twins of ``gongshu.core.identifiers`` (the scalar reference):
each function takes the ASCII bytes of ``n`` candidates of one length and returns ``n`` booleans.
The tests hold both to each other and to python-stdnum. Sources: ``shared/domain/STANDARDS.md``
§7 (GB 11643-1999, GB 32100-2015, mobile prefixes).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from gongshu.core import identifiers as ids

_ZERO = ord("0")
_X = ord("X")

CN_ID_WEIGHTS = np.array(ids.CN_ID_WEIGHTS, dtype=np.int64)
CN_ID_CHECK = np.frombuffer(ids.CN_ID_CHECK.encode("ascii"), dtype=np.uint8)
USCC_WEIGHTS = np.array(ids.USCC_WEIGHTS, dtype=np.int64)
USCC_ALPHABET = np.frombuffer(ids.USCC_ALPHABET.encode("ascii"), dtype=np.uint8)


def _uscc_values() -> np.ndarray:
    """Byte -> value in the GB 32100 alphabet (lower case folded), -1 for other bytes."""
    table = np.full(256, -1, dtype=np.int16)
    for value, ch in enumerate(ids.USCC_ALPHABET):
        table[ord(ch)] = value
        table[ord(ch.lower())] = value
    return table


USCC_VALUE = _uscc_values()


def _uscc_pairs() -> np.ndarray:
    """Allowed (registration department, organisation category) pairs as a 31 x 31 table."""
    table = np.zeros((31, 31), dtype=bool)
    for dept, categories in ids.USCC_CATEGORIES.items():
        for category in categories:
            table[ids.USCC_ALPHABET.index(dept), ids.USCC_ALPHABET.index(category)] = True
    return table


USCC_PAIRS = _uscc_pairs()
_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def digits(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Digit values, one row per *position* (``width x n``, contiguous so each position is one
    fast vector), and a per-candidate flag: every byte is ``0``-``9``."""
    d = np.ascontiguousarray((matrix - np.uint8(_ZERO)).T)
    if len(d) == 0:
        return d, np.ones(matrix.shape[0], dtype=bool)
    return d, d.max(axis=0) <= 9


def weighted(d: np.ndarray, weights: np.ndarray | list[int]) -> np.ndarray:
    """Sum over positions of digit x weight (``d`` as from :func:`digits`).

    Accumulates in 32 bits (a quarter of the memory traffic of 64): exact for digits, whose
    sums stay far below 2**31; rows with other bytes are rejected by the caller anyway.
    """
    total = np.zeros(d.shape[1], dtype=np.int32)
    term = np.empty(d.shape[1], dtype=np.int32)
    for row, w in zip(d, weights, strict=False):
        if w == 1:
            total += row
        elif w:
            np.multiply(row, np.int32(w), out=term, dtype=np.int32)
            total += term
    return total


def number(d: np.ndarray) -> np.ndarray:
    """The positions of a digit block read as one decimal number per candidate (Horner)."""
    if len(d) == 0:
        return np.zeros(d.shape[1], dtype=np.int32)
    total = d[0].astype(np.int32)
    for row in d[1:]:
        total *= 10
        total += row
    return total


def valid_date(year: np.ndarray, month: np.ndarray, day: np.ndarray, *,
               min_year: int = 1900, today: dt.date | None = None) -> np.ndarray:
    """Calendar dates that exist and lie between 1 January ``min_year`` and today."""
    today = today or dt.date.today()
    year, month, day = (np.asarray(x) for x in (year, month, day))
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (year >= min_year)
    ok &= day <= _DAYS[np.where(ok, month, 0)]
    # 29 February needs a leap year (the only day the table allows that may not exist).
    feb29 = (month == 2) & (day == 29)
    if feb29.any():
        y = year[feb29]
        ok[feb29] &= ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    # Compared as (year, month, day) without forming a number that could overflow.
    later = (year > today.year) | ((year == today.year) & (
        (month > today.month) | ((month == today.month) & (day > today.day))))
    return ok & ~later


def cn_id18(matrix: np.ndarray, regions: np.ndarray, *, min_year: int = 1900) -> np.ndarray:
    """GB 11643-1999: 6-digit region that exists, a real birth date, and the check character.

    ``regions`` is a boolean table over all 6-digit codes (any code ever issued counts: an
    ID's region is where it was issued, which may be later than the birth year).
    """
    last = matrix[:, 17].copy()
    last[last == ord("x")] = _X
    d, ok = digits(matrix[:, :17])
    ok &= ((last >= _ZERO) & (last <= ord("9"))) | (last == _X)
    ok &= regions[np.where(ok, number(d[:6]), 0)]
    ok &= valid_date(number(d[6:10]), number(d[10:12]), number(d[12:14]), min_year=min_year)
    ok &= CN_ID_CHECK[weighted(d, ids.CN_ID_WEIGHTS) % 11] == last
    return ok


def cn_id_shaped(matrix: np.ndarray, regions: np.ndarray, *, min_year: int = 1900) -> np.ndarray:
    """18 characters laid out like an ID number (region, birth date), whatever the check."""
    d, ok = digits(matrix[:, :14])
    ok &= regions[np.where(ok, number(d[:6]), 0)]
    return ok & valid_date(number(d[6:10]), number(d[10:12]), number(d[12:14]),
                           min_year=min_year)


def cn_id15(matrix: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """The 15-digit numbers issued before 1999: region, ``yymmdd`` birth date in the 1900s."""
    d, ok = digits(matrix)
    ok &= regions[np.where(ok, number(d[:6]), 0)]
    ok &= valid_date(1900 + number(d[6:8]), number(d[8:10]), number(d[10:12]))
    return ok


def uscc(matrix: np.ndarray) -> np.ndarray:
    """GB 32100-2015: alphabet, department/category pair, digits 3-8, check character."""
    values = np.ascontiguousarray(USCC_VALUE[matrix].T)
    ok = values.min(axis=0) >= 0
    values[values < 0] = 0
    ok &= USCC_PAIRS[values[0], values[1]]
    ok &= values[2:8].max(axis=0) <= 9
    check = (31 - weighted(values[:17], ids.USCC_WEIGHTS) % 31) % 31
    return ok & (check == values[17])


_LUHN_DOUBLE = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def luhn(matrix: np.ndarray) -> np.ndarray:
    """ISO/IEC 7812 Luhn check over rows of digits (all rows of one length)."""
    d, ok = digits(matrix)
    width = len(d)
    total = np.zeros(d.shape[1], dtype=np.int64)
    for i, row in enumerate(d):
        safe = np.minimum(row, 9)
        total += _LUHN_DOUBLE[safe] if (width - 1 - i) % 2 == 1 else safe
    return ok & (total % 10 == 0)


def bank_card(matrix: np.ndarray, first_digits: str) -> np.ndarray:
    """A card number: Luhn, and an issuer whose first digit is plausible for cards used here."""
    allowed = np.zeros(256, dtype=bool)
    allowed[[ord(c) for c in first_digits]] = True
    return allowed[matrix[:, 0]] & luhn(matrix)


def mobile(matrix: np.ndarray, prefix_table: np.ndarray) -> np.ndarray:
    """Eleven digits whose first five are covered by an assigned prefix."""
    d, ok = digits(matrix)
    return ok & prefix_table[np.where(ok, number(d[:5]), 0)]


def landline(matrix: np.ndarray, three_digit_areas: frozenset[int],
             subscriber_lengths: frozenset[int]) -> np.ndarray:
    """Area code + subscriber number written without separators (``03511234567``).

    Area codes start with 0: 010 and 02x have three digits, the others four (03xx-09xx).
    Subscriber numbers have 7 or 8 digits and start with 2-9.
    """
    d, ok = digits(matrix)
    width = len(d)
    ok &= d[0] == 0
    area3 = np.isin(number(d[:3]), list(three_digit_areas))
    area4 = (d[1] >= 3) & ~area3
    ok &= (area3 & ((width - 3) in subscriber_lengths) & (d[3] >= 2)) | (
        area4 & ((width - 4) in subscriber_lengths) & (d[min(4, width - 1)] >= 2)
    )
    return ok
