"""Check characters of Chinese identifiers, one value at a time (pure, no I/O but one data file).

These are the scalar reference implementations; ``grading.detectors`` has vectorised twins for
scanning columns, and the tests hold both to python-stdnum (``cn.ric``, ``cn.uscc``).

Sources (see ``shared/domain/STANDARDS.md`` §7):
- GB 11643-1999 citizen identity number: 6 address + 8 birth date + 3 sequence + 1 check.
- GB 32100-2015 unified social credit code: 1 registration dept + 1 category + 6 region
  + 9 organisation code (GB 11714, with its own check) + 1 check.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from importlib import resources

CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CN_ID_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 32100 Table 1: registration department -> allowed organisation categories.
USCC_CATEGORIES: dict[str, str] = {
    "1": "1239",
    "2": "19",
    "3": "123459",
    "4": "19",
    "5": "1239",
    "6": "129",
    "7": "129",
    "8": "19",
    "9": "123",
    "A": "19",
    "N": "1239",
    "Y": "1",
}
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

_CN_ID18 = re.compile(r"^\d{17}[\dX]$")
_CN_ID15 = re.compile(r"^\d{15}$")
_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


@cache
def region_codes() -> frozenset[str]:
    """Every 6-digit administrative division code ever issued (GB/T 2260, with history).

    An ID number's region code is where it was issued, which may be later than the birth year,
    so we test only that the code exists, never its years. The table is python-stdnum's.
    """
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    codes: set[str] = set()
    province = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
        else:
            codes.add(province + line.split()[0])
    return frozenset(codes)


def cn_id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, CN_ID_WEIGHTS, strict=True))
    return CN_ID_CHECK[total % 11]


def _valid_date(yyyymmdd: str) -> bool:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()


def is_valid_cn_id(value: str) -> bool:
    """An 18-digit (GB 11643) or legacy 15-digit citizen identity number."""
    value = value.strip().upper()
    if _CN_ID18.match(value):
        return (
            value[:6] in region_codes()
            and _valid_date(value[6:14])
            and cn_id_check_char(value[:17]) == value[17]
        )
    if _CN_ID15.match(value):
        return value[:6] in region_codes() and _valid_date("19" + value[6:12])
    return False


def org_code_check_char(first8: str) -> str:
    """GB 11714 organisation code check character over its first eight characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first8, ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    """A unified social credit code with a correct GB 32100 check character.

    The department/category pair must be one GB 32100 defines. The embedded GB 11714
    organisation code check is not required: codes issued to individual businesses (92…)
    carry registration numbers, not organisation codes, in those positions.
    """
    value = value.strip().upper()
    if not _USCC.match(value):
        return False
    if value[1] not in USCC_CATEGORIES.get(value[0], ""):
        return False
    return uscc_check_char(value[:17]) == value[17]


def make_uscc(dept_category: str, region: str, body9: str) -> str:
    """Build a code from its parts, computing the check character (used by the demo)."""
    first17 = (dept_category + region + body9).upper()
    if len(first17) != 17:
        raise ValueError("department+category (2), region (6) and body (9) make 17 characters")
    return first17 + uscc_check_char(first17)


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check used by bank cards."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
