"""The sandbox's release policy (Art. 14, ``domain/SANDBOX.md``): pure, no I/O.

``check(sql, tables, k=…)`` parses an operator's SQL with sqlglot, decides before anything runs
whether every value that would leave is allowed to leave, and returns a :class:`Checked` query:
the rewritten SQL that also counts each group's contributors, so the runner can suppress groups
with fewer than ``k`` of them. A refusal raises :class:`Rejected` with a stable reason code and
the fragment of the query at fault; the message in the reader's language is the i18n key
``sandbox.reason.<CODE>`` formatted with ``Rejected.params``.

THIS FILE IS THE AGREED INTERFACE; the implementation is being written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReleaseLevel(StrEnum):
    """How a column's values may leave (字段发布级别), least to most restrictive."""

    PLAIN = "plain"  # as they are
    GROUP_BY = "group_by"  # only as the key of a group with at least k contributors
    AGGREGATE = "aggregate"  # only through COUNT / SUM / AVG
    COMPARE = "compare"  # only as the boolean result of a comparison in a filter
    JOIN = "join"  # only as a join key; never in output, filters or CASE conditions
    HIDDEN = "hidden"  # never, in any form (the default for a column without a rule)


class Reason(StrEnum):
    """Stable reason codes of a refusal (API ``code``, CLI ``code``, i18n ``sandbox.reason.*``)."""

    SYNTAX_ERROR = "SYNTAX_ERROR"
    NOT_A_SELECT = "NOT_A_SELECT"
    FORBIDDEN_FUNCTION = "FORBIDDEN_FUNCTION"
    TABLE_NOT_AUTHORISED = "TABLE_NOT_AUTHORISED"
    UNKNOWN_COLUMN = "UNKNOWN_COLUMN"
    COLUMN_NOT_RELEASABLE = "COLUMN_NOT_RELEASABLE"
    ROW_LEVEL_OUTPUT = "ROW_LEVEL_OUTPUT"
    MEMBER_REVEALING_AGGREGATE = "MEMBER_REVEALING_AGGREGATE"
    PROTECTED_COLUMN_IN_FILTER = "PROTECTED_COLUMN_IN_FILTER"
    WINDOW_FUNCTION = "WINDOW_FUNCTION"
    DP_UNSUPPORTED = "DP_UNSUPPORTED"
    DP_BOUNDS_MISSING = "DP_BOUNDS_MISSING"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    RESOURCE_LIMIT = "RESOURCE_LIMIT"
    NOT_AUTHORISED = "NOT_AUTHORISED"  # no active authorisation covers the operator


class Rejected(Exception):
    """A refused query: ``code``, an English ``message`` (logs, the default), the ``fragment``
    of the query at fault and ``params`` for the translated message."""

    def __init__(self, code: Reason, message: str, *, fragment: str = "", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fragment = fragment
        self.params = {"fragment": fragment, **params}


@dataclass(frozen=True)
class TablePolicy:
    """One authorised table as the sandbox sees it."""

    name: str  # the table's name in the operator's SQL, e.g. "population"
    columns: Mapping[str, ReleaseLevel]  # column -> level; a column not listed is HIDDEN
    #: the column naming the person (or other unit) a row is about; groups count distinct
    #: values of it. None: every row is its own contributor.
    contributor: str | None = None
    #: declared bounds [lower, upper] of numeric columns, for clamping in DP mode
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class DpAggregate:
    output: str  # the output column (the query's alias)
    kind: str  # count | sum | avg
    column: str | None  # None for COUNT(*)
    bounds: tuple[float, float] | None


@dataclass(frozen=True)
class DpPlan:
    table: str
    group_keys: list[str]  # output columns that are group keys
    aggregates: list[DpAggregate]


#: the contributor count the rewritten SQL adds as its last output column
CONTRIBUTORS = "__gs_contributors"


@dataclass(frozen=True)
class Checked:
    """A query the policy accepts, ready to run."""

    original: str
    #: the rewritten query in DuckDB's dialect: the query's output columns, then CONTRIBUTORS
    sql: str
    columns: list[str]  # output column names, keeping the query's aliases
    tables: list[str]  # the authorised tables it reads
    k: int
    dp: DpPlan | None = None
    #: the rewritten AST (a ``sqlglot.exp.Expression``), for transpiling to another engine
    tree: Any = None

    def sql_for(self, dialect: str) -> str:
        """The rewritten query in another engine's dialect (``spark``)."""
        raise NotImplementedError


def check(sql: str, tables: Mapping[str, TablePolicy], *, k: int = 10,
          dp: bool = False) -> Checked:
    """Accept ``sql`` under the policy of ``tables`` or raise :class:`Rejected`."""
    raise NotImplementedError
