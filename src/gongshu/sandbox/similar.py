"""Similar earlier queries, for the output review (Art. 14: differencing attacks are caught by
a person who sees the operator's history beside the result). Pure: no I/O.

A query is normalised (case folded, string and number literals replaced by ``?``, whitespace
collapsed); two queries are compared by the Jaccard similarity of their token sets, so
``… WHERE county = 'A'`` and ``… WHERE county <> 'A'`` rank high together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TypeVar

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")
_TOKEN = re.compile(r"[A-Za-z_\u4e00-\u9fff][\w\u4e00-\u9fff]*|<>|!=|<=|>=|[?=<>*(),+\-/%]")
_SPACE = re.compile(r"\s+")

T = TypeVar("T")


def normalise(sql: str) -> str:
    """The query's shape: lower case, literals as ``?``, one space between tokens."""
    text = _STRING.sub("?", sql)
    text = _NUMBER.sub("?", text)
    return _SPACE.sub(" ", text).strip().rstrip(";").strip().lower()


def tokens(normalised: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(normalised))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the token sets of two normalised queries (0 … 1)."""
    ta, tb = tokens(a), tokens(b)
    if not ta and not tb:
        return 1.0
    return len(ta & tb) / len(ta | tb)


def rank(target: str, candidates: Iterable[tuple[str, T]], *, threshold: float = 0.5,
         limit: int = 5) -> list[tuple[float, T]]:
    """The candidates (normalised query, item) most similar to ``target``, best first."""
    scored = [(similarity(target, text), item) for text, item in candidates]
    kept: Sequence[tuple[float, T]] = [s for s in scored if s[0] >= threshold]
    return sorted(kept, key=lambda s: -s[0])[:limit]
