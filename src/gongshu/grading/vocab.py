"""Word lists and settings of the detectors, loaded from ``grading/data/*.yaml``.

Why data and not code: surnames, header hints, plate abbreviations and mobile prefixes come
from documents we could only partly check (``shared/domain/STANDARDS.md`` §7 marks each [V] or
[GK]), and they change (new prefixes are assigned). A bureau corrects a file, not the code.

:func:`load_vocab` returns one frozen :class:`Vocab` with both the raw lists (for people and
tests) and the lookup tables the vectorised detectors need (built once, cached).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from gongshu.core.identifiers import region_codes

DATA_PACKAGE = "gongshu.grading.data"

#: The detector type names of the scan contract (issue 4 §6), in a stable order.
DETECTOR_TYPES: tuple[str, ...] = (
    "cn_id",
    "cn_mobile",
    "cn_landline",
    "bank_card",
    "uscc",
    "email",
    "passport",
    "license_plate",
    "ip",
    "geo",
    "person_name",
    "address",
)


def read_yaml(name: str) -> dict[str, Any]:
    """Read one YAML file of ``grading/data`` (``name`` may contain a sub-folder)."""
    node = resources.files(DATA_PACKAGE)
    for part in name.split("/"):
        node = node.joinpath(part)
    loaded = yaml.safe_load(node.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"grading/data/{name} must hold a mapping")
    return loaded


def _chars(text: str) -> tuple[str, ...]:
    """The characters of a YAML block of characters, ignoring whitespace, in order, unique."""
    return tuple(dict.fromkeys(ch for ch in text if not ch.isspace()))


def normalise_header(header: str) -> str:
    """Fold a column name for hint matching: lower case, no spaces, underscores or punctuation."""
    return re.sub(r"[\s_\-./:：()（）\[\]【】#]+", "", header).casefold()


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (cache keys)
class Vocab:
    """Everything the detectors read from data files, plus derived lookup tables."""

    settings: Mapping[str, Mapping[str, Any]]
    single_surnames: tuple[str, ...]
    compound_surnames: tuple[str, ...]
    not_in_given_names: tuple[str, ...]
    #: Whole values that look like names but are words of a closed vocabulary (not_names.yaml).
    not_names: frozenset[str]
    header_hints: Mapping[str, tuple[str, ...]]
    province_abbreviations: tuple[str, ...]
    plate_suffixes: tuple[str, ...]
    plate_separators: str
    mobile_prefixes: tuple[str, ...]
    country_prefixes: tuple[str, ...]
    division_suffixes: tuple[str, ...]
    street_words: tuple[str, ...]
    number_words: tuple[str, ...]
    max_name_chars: int
    # Derived tables (numpy): index by code point, region code or 5-digit mobile prefix.
    region_table: np.ndarray
    surname_table: np.ndarray
    compound_keys: np.ndarray
    not_given_table: np.ndarray
    mobile_prefix_table: np.ndarray
    province_keys: np.ndarray

    def setting(self, detector: str, key: str, default: Any = None) -> Any:
        return self.settings.get(detector, {}).get(key, default)

    def hinted_types(self, header: str | None) -> frozenset[str]:
        """Detector types whose header hints the column name contains."""
        if not header:
            return frozenset()
        folded = normalise_header(header)
        if not folded:
            return frozenset()
        words = set(re.split(r"[^0-9a-z]+", header.casefold()))
        matched: list[tuple[str, str]] = []
        for kind, hints in self.header_hints.items():
            for hint in hints:
                # Short Latin hints (ip, tel, xm …) must be the whole name or a delimited word,
                # or "description" would hint "ip".
                short = hint.isascii() and len(hint) <= 3
                if (hint == folded or hint in words) if short else hint in folded:
                    matched.append((kind, hint))
        # A hint inside a longer hint of another type gives way: IP地址 is an IP, not an address.
        return frozenset(
            kind for kind, hint in matched
            if not any(hint != other and hint in other and kind != k for k, other in matched)
        )

def _utf8_key(ch: str) -> int:
    """A three-byte UTF-8 character as one integer (for byte-level look-ups)."""
    raw = ch.encode("utf-8")
    if len(raw) != 3:
        raise ValueError(f"{ch!r} is not a three-byte UTF-8 character")
    return (raw[0] << 16) | (raw[1] << 8) | raw[2]


def _prefix_table(prefixes: tuple[str, ...]) -> np.ndarray:
    """A table over all 5-digit starts: True where the start is covered by a listed prefix."""
    table = np.zeros(100_000, dtype=bool)
    for prefix in prefixes:
        if not prefix.isdigit() or not 1 <= len(prefix) <= 5:
            raise ValueError(f"mobile prefix {prefix!r} must be 1-5 digits")
        span = 10 ** (5 - len(prefix))
        start = int(prefix) * span
        table[start : start + span] = True
    return table


@cache
def load_vocab() -> Vocab:
    """Load and check every data file once per process."""
    detectors = read_yaml("detectors.yaml")
    surnames = read_yaml("surnames.yaml")
    hints = read_yaml("header_hints.yaml")
    plates = read_yaml("plates.yaml")
    mobiles = read_yaml("mobile_prefixes.yaml")
    address = read_yaml("address.yaml")
    not_names = read_yaml("not_names.yaml")

    single = _chars(surnames["single"] + surnames.get("common_additions", ""))
    compound = tuple(dict.fromkeys(surnames["compound"]))
    not_given = _chars(surnames.get("not_in_given_names", ""))
    provinces = _chars(plates["province_abbreviations"])
    prefixes = tuple(p for group in mobiles["carriers"].values() for p in group)

    regions = np.zeros(1_000_000, dtype=bool)
    regions[np.fromiter((int(c) for c in region_codes()), dtype=np.int64)] = True
    surname_table = np.zeros(0x10000, dtype=bool)
    surname_table[[ord(c) for c in single]] = True
    not_given_table = np.zeros(0x10000, dtype=bool)
    not_given_table[[ord(c) for c in not_given]] = True
    compound_keys = np.array(sorted((ord(c[0]) << 16) | ord(c[1]) for c in compound), np.int64)
    province_keys = np.array(sorted(_utf8_key(c) for c in provinces), dtype=np.int64)

    unknown = set(hints["hints"]) - set(DETECTOR_TYPES)
    if unknown:
        raise ValueError(f"header_hints.yaml names unknown detector types: {sorted(unknown)}")
    return Vocab(
        settings={k: dict(v or {}) for k, v in detectors["types"].items()},
        single_surnames=single,
        compound_surnames=compound,
        not_in_given_names=not_given,
        not_names=frozenset(str(w).strip() for words in not_names["lists"].values()
                            for w in words),
        header_hints={k: tuple(normalise_header(h) for h in v) for k, v in hints["hints"].items()},
        province_abbreviations=provinces,
        plate_suffixes=_chars(plates.get("special_suffixes", "")),
        plate_separators=str(plates.get("separators", "")),
        mobile_prefixes=prefixes,
        country_prefixes=tuple(mobiles.get("country_prefixes", ())),
        division_suffixes=tuple(address["division_suffixes"]),
        street_words=tuple(address["street_words"]),
        number_words=tuple(address["number_words"]),
        max_name_chars=int(address.get("max_name_chars", 10)),
        region_table=regions,
        surname_table=surname_table,
        compound_keys=compound_keys,
        not_given_table=not_given_table,
        mobile_prefix_table=_prefix_table(prefixes),
        province_keys=province_keys,
    )
