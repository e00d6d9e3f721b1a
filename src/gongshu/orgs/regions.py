"""Administrative divisions of the province (GB/T 2260), from python-stdnum's table.

The table carries each code's years of validity; a code is *current* when it has no end year.
Arts. 4-5: the province, its cities (设区的市) and its counties (县/市/区) each have a government
and a data bureau. "市辖区" rows are statistical groupings, not governments, and are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

_ENTRY = re.compile(r'^\s+(\d{4}) county="(?:\[(\d{4})?-(\d{4})?\])?([^"]+)"')


class Level(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: Level
    parent_code: str | None


@cache
def regions(province_code: str = "140000") -> tuple[Region, ...]:
    """The current divisions of one province: itself, its cities, their counties."""
    prefix = province_code[:2]
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    out: list[Region] = []
    in_province = False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            in_province = line.split()[0] == prefix
            continue
        if not in_province:
            continue
        m = _ENTRY.match(line)
        if m is None:
            continue
        tail, _start, end, name = m.groups()
        if end is not None or name in {"市辖区", "县", "省直辖县级行政区划"}:
            continue
        code = prefix + tail
        if tail == "0000":
            out.append(Region(code, name, Level.PROVINCE, None))
        elif tail.endswith("00"):
            out.append(Region(code, name, Level.CITY, province_code))
        else:
            out.append(Region(code, name, Level.COUNTY, code[:4] + "00"))
    return tuple(out)


def region_by_code(code: str, province_code: str = "140000") -> Region | None:
    return next((r for r in regions(province_code) if r.code == code), None)
