"""Synthetic identifiers with correct (or deliberately wrong) check characters. Never real data."""

from __future__ import annotations

import datetime as dt
import random

from gongshu.core import identifiers as ids

REGIONS = sorted(ids.region_codes())


def cn_id(region: str = "140105", born: dt.date = dt.date(1985, 7, 9), seq: int = 123) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + ids.cn_id_check_char(first17)


def wrong_check(value: str) -> str:
    """The same number with a different (wrong) last character."""
    last = value[-1]
    return value[:-1] + ("0" if last != "0" else "1")


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix.ljust(length - 1, "0")
    for digit in "0123456789":
        if ids.luhn_ok(body + digit):
            return body + digit
    raise AssertionError("unreachable")


def uscc(dept_category: str = "91", region: str = "140100", body: str = "MA0K1234X") -> str:
    return ids.make_uscc(dept_category, region, body)


def random_ids(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(30000))
        out.append(cn_id(rng.choice(REGIONS), born, rng.randrange(1000)))
    return out
