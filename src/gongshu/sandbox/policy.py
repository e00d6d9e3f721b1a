"""The sandbox's release policy (Art. 14, ``domain/SANDBOX.md``): pure, no I/O.

``check(sql, tables, k=…)`` parses an operator's SQL with sqlglot, decides before anything runs
whether every value that would leave is allowed to leave, and returns a :class:`Checked` query:
the rewritten SQL that also counts each group's contributors, so the runner can suppress groups
with fewer than ``k`` of them. A refusal raises :class:`Rejected` with a stable reason code and
the fragment of the query at fault; the message in the reader's language is the i18n key
``sandbox.reason.<CODE>`` formatted with ``Rejected.params``.

The rules (Art. 14: "usable, not visible")
- One statement, a SELECT (``UNION``/``INTERSECT``/``EXCEPT`` are refused as NOT_A_SELECT). Only
  the authorised tables, by their bare name; table functions (``read_csv``, ``range``,
  ``query``, ``duckdb_tables()`` …) are forbidden functions; every scalar function must be on an
  allow-list (arithmetic, strings, dates, CAST, CASE …), every aggregate is classified.
- Levels: an expression's level is the most restrictive of its inputs (constants are plain).
  An output column is releasable when it is plain; a group key of level ≤ ``group_by``; or an
  aggregate — COUNT / SUM / AVG over inputs of level ≤ ``aggregate``; MIN / MAX / median /
  mode / quantiles, list and string aggregates, first/last/any_value/arg_max return one
  member's value, so they take plain inputs only (else MEMBER_REVEALING_AGGREGATE). Group keys themselves must be
  ≤ ``group_by``.
- Filters — WHERE, HAVING, JOIN ON conditions other than key equalities, CASE/IF conditions,
  ``FILTER (WHERE …)`` — may use columns up to ``compare``; ``join`` and ``hidden`` columns there
  are PROTECTED_COLUMN_IN_FILTER (this stops ``SUM(CASE WHEN id_no = '…' THEN income END)``).
  ``join`` columns may appear only in ``JOIN … ON a.x = b.y`` / ``USING``; ``hidden`` nowhere.
- Row-level output (no aggregate, no GROUP BY, no DISTINCT) is allowed only when every column the
  query reads is plain (it is then released whole, nothing to suppress); otherwise
  ROW_LEVEL_OUTPUT. ``SELECT DISTINCT`` is a GROUP BY of its outputs. ``SELECT *`` is
  ROW_LEVEL_OUTPUT; window functions and QUALIFY are WINDOW_FUNCTION.
- Suppression counts contributors, not rows: the rewritten query adds
  ``COUNT(DISTINCT <table>.<contributor>)`` (``COUNT(*)`` when the table has no contributor
  column; ``CEIL(COUNT(*) / m)`` when the table declares that no contributor has more than
  ``m`` rows, ``rows_per_contributor``) as its last column ``__gs_contributors``; for a join it is the LEAST of the joined
  tables' distinct contributors (a table without a contributor column gets a row number as one).
  A query without GROUP BY is one group. The outermost aggregation runs in two stages: the data
  query computes only the group keys, the bare aggregates and the contributor count; the runner
  drops the groups with fewer than ``k`` contributors, and only then the release step computes
  the outputs from the aggregates (``ROUND(SUM(x) / COUNT(*), 2)`` …), applies HAVING and
  ORDER BY / LIMIT / OFFSET (which may name output columns only: positions, aliases, or the same
  expression). So nothing — an ordering, a limit, a HAVING condition, an error such as a division
  by zero — can depend on a suppressed group. Computations on row values (arithmetic, casts,
  functions, ``IN`` lists) are wrapped in ``TRY(…)``: a member's value that would make them fail
  gives NULL instead of an error (whose existence, or DuckDB's message quoting the value, would
  reveal it); the runner never passes DuckDB's error text on (QUERY_FAILED).
- Subqueries in FROM and CTEs (non-recursive) are allowed. A derived table that does not
  aggregate passes its sources' contributor columns through (``__gs_k0``, …) and the levels of its
  outputs; one that aggregates (GROUP BY / aggregates) yields groups that carry their own
  ``__gs_contributors``; it must be the only source of the query above it, which then either
  passes its rows through (each row is a group; its count is kept) or aggregates them again with
  ``MAX`` of the inner counts as the outer group's contributor count (a lower bound of the distinct
  contributors of the union of the inner groups). Such a subquery may output only group keys and
  bare aggregates, and its HAVING only compare them (what it computes runs on small groups too). The inner aggregates are ``aggregate`` level
  above (SUM/AVG/COUNT of them are fine, MIN/MAX are member-revealing). Scalar subqueries,
  ``IN (SELECT …)``, ``EXISTS``, LATERAL, VALUES, ORDER BY / LIMIT inside a derived table, and
  semi/anti/asof/natural joins are UNSUPPORTED_QUERY.
- DP mode (``dp=True``): one table, no subqueries, outputs are group keys (released columns or
  expressions of them) and COUNT(*) / COUNT(col) / SUM(col) / AVG(col) of plain columns; SUM and
  AVG need declared bounds (DP_BOUNDS_MISSING). No HAVING, no DISTINCT, no FILTER, no expressions
  over aggregates (DP_UNSUPPORTED). Contribution bounding: after the WHERE filter, ONE row per
  contributor is kept (an arbitrary one, chosen without looking at other contributors), so each
  contributor changes one group by at most one row; values are clamped into their bounds. The SQL
  computes per group: the keys, then for aggregate i ``__gs_n<i>`` (the count: of rows for
  COUNT(*), of non-null values for COUNT(col)/AVG) and ``__gs_s<i>`` (the clamped sum, SUM/AVG),
  then ``__gs_contributors`` (rows = contributors). ``sandbox.dp`` adds the noise.

Known limits of static rules (documented in SANDBOX.md): differencing two large groups whose
difference is one person cannot be stopped here (use DP mode); the number of suppressed groups is
itself an answer about small groups (one bit per query about a known small group), so the room
should show it to reviewers, not as an exact figure to operators.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

#: a sqlglot syntax node (typed loosely: sqlglot's own types change between releases)
Node = Any

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to Command" is our refusal


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
    #: a valid SELECT whose shape the policy cannot vouch for (scalar subqueries, LATERAL, …)
    UNSUPPORTED_QUERY = "UNSUPPORTED_QUERY"
    #: the query failed while running; DuckDB's own message is not passed on (it can quote a
    #: member's value, e.g. "Could not convert string '…'")
    QUERY_FAILED = "QUERY_FAILED"


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
    #: the most rows any one contributor has in the table, when the caller knows it (e.g.
    #: measured per dataset version with ``runner.rows_per_contributor``); 1: the contributor
    #: column is a key. A query over this table alone then counts contributors as
    #: ``CEIL(COUNT(*) / rows_per_contributor)`` — a lower bound, so sound, and far cheaper
    #: than COUNT(DISTINCT) — and with 1, DP mode needs no one-row-per-contributor step.
    #: Joins and subqueries still count distinct contributors.
    rows_per_contributor: int | None = None


def effective_levels(defaults: Mapping[str, str],
                     overrides: Mapping[str, str]) -> dict[str, ReleaseLevel]:
    """The levels one authorisation's queries run under (SANDBOX.md: "per dataset column, per
    operator or default"): the dataset's default for each column, replaced by the
    authorisation's override where it has one. An override of a column the dataset no longer
    has is ignored (a column not listed is hidden anyway). Raises ``ValueError`` on an
    unknown level."""
    return {column: ReleaseLevel(overrides.get(column, level))
            for column, level in defaults.items()}


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
#: the name of the first stage's result in the release step (:meth:`Checked.release_sql`)
RESULT = "__gs_result"


@dataclass(frozen=True)
class Checked:
    """A query the policy accepts, ready to run."""

    original: str
    #: the rewritten query in DuckDB's dialect (the first stage, run on the data): the query's
    #: output columns — or, for an aggregating query, its group keys ``__gs_g<j>`` and bare
    #: aggregates ``__gs_a<i>``, from which :meth:`release_sql` computes the outputs — then
    #: CONTRIBUTORS. Run it with ``runner.run``, which does both stages.
    sql: str
    columns: list[str]  # output column names, keeping the query's aliases
    tables: list[str]  # the authorised tables it reads
    k: int
    dp: DpPlan | None = None
    #: the rewritten AST (a ``sqlglot.exp.Expression``), for transpiling to another engine
    tree: Any = None
    #: False: the query reads plain columns only and is released whole (CONTRIBUTORS is NULL)
    suppress: bool = True
    #: the query's ORDER BY, applied after suppression: (output index, descending, nulls first)
    order_by: tuple[tuple[int, bool, bool], ...] = ()
    limit: int | None = None
    offset: int | None = None
    #: the release step's output expressions over the first stage's columns (DuckDB SQL), one
    #: per output; empty: the first stage's output columns as they are
    release_exprs: tuple[str, ...] = ()
    #: the query's HAVING over the first stage's columns, applied to released groups only
    release_filter: str | None = None

    def sql_for(self, dialect: str) -> str:
        """The rewritten query in another engine's dialect (``spark``)."""
        if dialect == "duckdb":
            return self.sql
        return str(self.tree.sql(dialect=dialect))

    def release_sql(self, result: str = RESULT) -> str:
        """The second stage, over the first stage's rows of the groups with at least ``k``
        contributors (the runner drops the others first) registered as ``result``: the
        outputs computed from the groups' aggregates, HAVING, then ORDER BY / LIMIT / OFFSET.
        Whatever fails or is filtered here concerns released groups only."""
        exprs = self.release_exprs or tuple(_quote(c) for c in self.columns)
        cols = ", ".join(f"{e} AS {_quote(f'o{i}')}" for i, e in enumerate(exprs)) or "*"
        sql = f"SELECT {cols} FROM {_quote(result)}"
        if self.release_filter:
            sql += f" WHERE {self.release_filter}"
        if self.order_by:
            keys = ", ".join(
                f"{_quote(f'o{i}')} {'DESC' if desc else 'ASC'} "
                f"NULLS {'FIRST' if nulls_first else 'LAST'}"
                for i, desc, nulls_first in self.order_by
            )
            sql += f" ORDER BY {keys}"
        if self.limit is not None:
            sql += f" LIMIT {int(self.limit)}"
        if self.offset is not None:
            sql += f" OFFSET {int(self.offset)}"
        return sql


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- levels ------------------------------------------------------------------------------------

_RANK = {level: i for i, level in enumerate(ReleaseLevel)}
PLAIN, GROUP_BY, AGGREGATE, COMPARE, JOIN, HIDDEN = list(ReleaseLevel)


def _worst(*levels: ReleaseLevel) -> ReleaseLevel:
    return max(levels, key=_RANK.__getitem__, default=PLAIN)


def _le(a: ReleaseLevel, b: ReleaseLevel) -> bool:
    return _RANK[a] <= _RANK[b]


# -- functions ---------------------------------------------------------------------------------

#: scalar functions (sqlglot classes) allowed anywhere: arithmetic, strings, dates, conditionals
_SCALAR = frozenset(
    {
        "Abs", "Round", "Floor", "Ceil", "Sign", "Sqrt", "Ln", "Log", "Log2", "Log10", "Exp",
        "Pow", "Least", "Greatest", "Coalesce", "Nullif", "If", "Case", "Cast", "TryCast",
        "Substring", "Left", "Right", "Upper", "Lower", "Length", "Trim", "Concat", "ConcatWs",
        "Replace", "StrPosition", "Pad", "Initcap", "Reverse", "Year", "Month", "Day", "Quarter",
        "Week", "WeekOfYear", "DayOfWeek", "DayOfWeekIso", "DayOfMonth", "DayOfYear", "Extract",
        "DateTrunc", "TimestampTrunc", "DateDiff", "DateAdd", "DateSub", "TimestampDiff",
        "TimeToStr", "StrToDate", "StrToTime", "CurrentDate", "Date", "TsOrDsToDate",
        "DateFromParts", "Mod", "SafeDivide", "StartsWith", "Contains", "Trunc",
        "LastDay", "MonthsBetween", "ToChar", "DateStrToDate", "TimeStrToTime",
    }
)
#: functions sqlglot does not model (``exp.Anonymous``), allowed by their lower-case name
_SCALAR_NAMES = frozenset(
    {
        "age", "date_part", "datepart", "date_sub", "date_diff", "datediff", "prefix", "suffix",
        "starts_with", "lpad", "rpad", "strftime", "strptime", "make_date", "last_day",
        "yearweek", "isodow", "isoyear", "dayname", "monthname", "century", "decade",
        "era", "ltrim", "rtrim", "strlen", "length_grapheme", "left_grapheme", "ucase", "lcase",
        "trunc", "even", "ceiling", "div", "nullif", "ifnull", "nvl", "epoch", "to_days",
        "to_months", "to_years", "greatest", "least", "instr", "position", "array_length",
    }
)
_COUNT_SUM_AVG = frozenset({"Count", "Sum", "Avg"})
#: aggregates returning a member's value or an order statistic: fine on group_by (≤), else not
_ORDER_STAT = frozenset(
    {"Min", "Max", "Median", "Mode", "PercentileCont", "PercentileDisc", "Quantile",
     "ApproxQuantile", "Stddev", "StddevPop", "StddevSamp", "Variance", "VariancePop"}
)
_ORDER_STAT_NAMES = frozenset(
    {"min", "max", "median", "mode", "quantile", "quantile_cont", "quantile_disc",
     "approx_quantile", "reservoir_quantile", "percentile_cont", "percentile_disc", "mad",
     "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "kurtosis",
     "skewness", "entropy"}
)
#: aggregates that return members themselves (lists, strings, one row's value): plain only
_MEMBER = frozenset(
    {"GroupConcat", "ArrayAgg", "ArrayUniqueAgg", "ArrayConcatAgg", "First", "Last",
     "AnyValue", "ArgMax", "ArgMin", "FirstValue", "LastValue", "ApproxTopK", "Histogram"}
)
_MEMBER_NAMES = frozenset(
    {"string_agg", "group_concat", "listagg", "list", "array_agg", "first", "last",
     "any_value", "arbitrary", "arg_max", "arg_min", "argmax", "argmin", "max_by", "min_by",
     "histogram", "list_distinct", "bitstring_agg", "approx_top_k", "arg_max_null",
     "arg_min_null", "mode", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or", "fsum",
     "sumkahan", "kahan_sum", "product", "count_if", "countif", "favg", "geomean", "bitstring"}
)
_UNSUPPORTED_NODES = (exp.Subquery, exp.Select, exp.Exists, exp.Union, exp.Lateral, exp.Unnest,
                      exp.Placeholder, exp.Parameter, exp.Lambda)
#: operator node classes allowed (besides the functions above)
_OPERATORS = (exp.Binary, exp.Not, exp.Neg, exp.Paren, exp.Between, exp.In, exp.Is,
              exp.Literal, exp.Boolean, exp.Null, exp.DataType, exp.Var, exp.Interval,
              exp.Identifier, exp.Tuple, exp.BitwiseNot, exp.Connector, exp.IgnoreNulls,
              exp.RespectNulls)


def _fname(node: Node) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return type(node).__name__


def _is_aggregate(node: Node) -> bool:
    if isinstance(node, exp.AggFunc):
        return True
    if isinstance(node, exp.Anonymous):
        name = str(node.name).lower()
        return name in _ORDER_STAT_NAMES or name in _MEMBER_NAMES
    return False


# -- the scope model ---------------------------------------------------------------------------


@dataclass
class _Source:
    alias: str  # lower-case name in the query's scope
    columns: dict[str, ReleaseLevel]  # lower-case column -> level
    table: str | None = None  # the authorised table's name, for a table
    #: column names (in this source) holding contributor ids; [] and rows=True: count rows
    contributors: list[str] = field(default_factory=list)
    rows: bool = False  # every row is its own contributor (a table without contributor)
    rows_per: int | None = None  # the table's declared most rows per contributor
    grouped: bool = False  # an aggregating derived table: its rows are groups with CONTRIBUTORS
    plain_only: bool = True  # a derived table that read plain columns only
    node: Node | None = None  # the FROM/JOIN node (for rewriting)


@dataclass
class _Shape:
    """What a (sub)query exposes to the query above it."""

    columns: dict[str, ReleaseLevel]
    contributors: list[str]
    rows: bool
    grouped: bool
    plain_only: bool
    tables: list[str]


def _reject(code: Reason, message: str, node: Node | str | None = None,
            **params: Any) -> Rejected:
    fragment = node.sql(dialect="duckdb") if isinstance(node, exp.Expression) else node or ""
    if len(fragment) > 200:
        fragment = fragment[:197] + "…"
    return Rejected(code, message.format(fragment=fragment, **params), fragment=fragment, **params)


class _Checker:
    def __init__(self, tables: Mapping[str, TablePolicy], k: int) -> None:
        self.policies = {name.lower(): pol for name, pol in tables.items()}
        self.k = k
        self.used: list[str] = []
        self.counter = 0
        self.dp = False

    # ---- statements
    def statement(self, sql: str) -> exp.Select:
        try:
            statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
        except (ParseError, TokenError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise _reject(Reason.SYNTAX_ERROR, "The query is not valid SQL: {detail}",
                          sql.strip()[:80], detail=first[:200]) from None
        if not statements:
            raise _reject(Reason.SYNTAX_ERROR, "The query is empty.", "")
        if len(statements) > 1:
            raise _reject(Reason.NOT_A_SELECT,
                          "Exactly one statement is allowed; found {count}.",
                          statements[1], count=len(statements))
        tree = statements[0]
        if not isinstance(tree, exp.Select):
            raise _reject(Reason.NOT_A_SELECT, "Only a SELECT query may run: {fragment}",
                          tree.sql(dialect="duckdb")[:80])
        for ident in tree.find_all(exp.Identifier):
            if str(ident.this).lower().startswith("__gs"):
                raise _reject(Reason.UNSUPPORTED_QUERY,
                              "Names starting with __gs are reserved: {fragment}", ident)
        return tree

    # ---- one SELECT
    def select(self, sel: exp.Select, ctes: dict[str, _Shape], *, top: bool) -> tuple[_Shape, dict]:
        allowed = {"expressions", "from_", "joins", "where", "group", "having", "order", "limit",
                   "offset", "with_", "distinct", "kind"}
        for key, value in sel.args.items():
            if not value or key in allowed:
                continue
            if key in ("qualify", "windows"):
                raise _reject(Reason.WINDOW_FUNCTION, "Window functions are not allowed: {fragment}",
                              value if isinstance(value, exp.Expression) else None)
            if key == "into":
                raise _reject(Reason.NOT_A_SELECT, "SELECT … INTO is not allowed.", value)
            node = value if isinstance(value, exp.Expression) else sel
            raise _reject(Reason.UNSUPPORTED_QUERY, "This kind of query is not supported: {fragment}",
                          node)
        if not top:
            for key in ("order", "limit", "offset"):
                if sel.args.get(key):
                    raise _reject(Reason.UNSUPPORTED_QUERY,
                                  "ORDER BY, LIMIT and OFFSET are allowed only in the outermost "
                                  "query: {fragment}", sel.args[key])
        window = sel.find(exp.Window)
        if window is not None:
            raise _reject(Reason.WINDOW_FUNCTION, "Window functions are not allowed: {fragment}",
                          window)
        distinct = sel.args.get("distinct")
        if distinct is not None and distinct.args.get("on"):
            raise _reject(Reason.UNSUPPORTED_QUERY, "DISTINCT ON is not supported: {fragment}",
                          distinct)

        # CTEs (visible to this select and, in order, to later CTEs)
        scope_ctes = dict(ctes)
        with_ = sel.args.get("with_")
        if with_ is not None:
            if with_.args.get("recursive"):
                raise _reject(Reason.UNSUPPORTED_QUERY, "Recursive CTEs are not supported.", with_)
            for cte in with_.expressions:
                inner = cte.this
                if not isinstance(inner, exp.Select):
                    raise _reject(Reason.NOT_A_SELECT, "A CTE must be a single SELECT: {fragment}",
                                  inner)
                shape, _ = self.select(inner, scope_ctes, top=False)
                scope_ctes[cte.alias_or_name.lower()] = shape

        # FROM and JOINs
        sources: list[_Source] = []
        from_ = sel.args.get("from_")
        if from_ is not None:
            sources.append(self.source(from_.this, scope_ctes))
        joins = sel.args.get("joins") or []
        for join in joins:
            if join.args.get("method") or join.args.get("kind") in ("SEMI", "ANTI", "ASOF",
                                                                      "POSITIONAL"):
                raise _reject(Reason.UNSUPPORTED_QUERY, "This kind of join is not supported: "
                              "{fragment}", join)
            sources.append(self.source(join.this, scope_ctes))
        aliases = [s.alias for s in sources]
        if len(set(aliases)) != len(aliases):
            raise _reject(Reason.UNSUPPORTED_QUERY, "Two sources share the name {name}; give "
                          "each an alias.", sel, name=next(a for a in aliases if aliases.count(a) > 1))
        grouped_sources = [s for s in sources if s.grouped]
        if grouped_sources and len(sources) > 1:
            raise _reject(Reason.UNSUPPORTED_QUERY, "A subquery that aggregates must be the only "
                          "source of the query around it (no joins with it): {fragment}", sel)
        scope = _Scope(self, sources)
        scope.all_plain = all(s.plain_only for s in sources)
        # substitute output aliases used in GROUP BY / HAVING / ORDER BY
        outputs: list[Node] = list(sel.expressions)
        for out in outputs:
            if isinstance(out, exp.Star) or (isinstance(out, exp.Column)
                                              and isinstance(out.this, exp.Star)):
                raise _reject(Reason.ROW_LEVEL_OUTPUT, "SELECT * would release rows: "
                              "{fragment}", out)
        alias_map = {o.alias.lower(): o.this for o in outputs if isinstance(o, exp.Alias)}

        for join in joins:
            self.join_condition(join, scope)
        where = sel.args.get("where")
        if where is not None:
            scope.filter(where.this)

        # GROUP BY
        group = sel.args.get("group")
        keys: list[Node] = []
        if group is not None:
            if group.args.get("all") or any(group.args.get(x) for x in ("rollup", "cube",
                                                                         "grouping_sets")):
                raise _reject(Reason.UNSUPPORTED_QUERY, "GROUP BY ALL / ROLLUP / CUBE / "
                              "GROUPING SETS are not supported: {fragment}", group)
            new_keys = []
            for key in group.expressions:
                resolved = self.alias_or_position(key, outputs, alias_map, scope)
                if resolved is not key:
                    key = resolved.copy()
                new_keys.append(key)
            group.set("expressions", new_keys)
            keys = new_keys
        having = sel.args.get("having")
        has_agg = bool(keys) or having is not None or any(
            _is_aggregate(n) for o in outputs for n in o.walk())
        if distinct is not None and not has_agg:
            # SELECT DISTINCT x, y … is GROUP BY x, y
            sel.set("distinct", None)
            keys = [(o.this if isinstance(o, exp.Alias) else o).copy() for o in outputs]
            sel.set("group", exp.Group(expressions=keys))
            has_agg = True
        elif distinct is not None:
            raise _reject(Reason.UNSUPPORTED_QUERY, "DISTINCT with aggregates is not supported; "
                          "use COUNT(DISTINCT …): {fragment}", distinct)

        passthrough = bool(grouped_sources) and not has_agg
        key_levels: list[tuple[Node, ReleaseLevel]] = []
        for key in keys:
            level = scope.level(key, agg=None)
            if not _le(level, GROUP_BY):
                raise _reject(Reason.COLUMN_NOT_RELEASABLE, "A group key must be a released "
                              "column (level plain or group_by); {fragment} is {level}.", key,
                              level=level.value)
            key_levels.append((key, level))
        scope.keys = key_levels

        # outputs
        names: list[str] = []
        for out in outputs:
            expr = out.this if isinstance(out, exp.Alias) else out
            if isinstance(out, exp.Alias):
                names.append(out.alias)
            elif isinstance(expr, exp.Column):
                names.append(expr.name)
            else:
                names.append(expr.sql(dialect="duckdb"))
        levels: list[ReleaseLevel] = []
        for out in outputs:
            expr = out.this if isinstance(out, exp.Alias) else out
            if has_agg:
                scope.qualify(expr)
                level = scope.level(expr, agg=True)
                if not _le(level, GROUP_BY):
                    raise _reject(Reason.COLUMN_NOT_RELEASABLE, "{fragment} is {level} and "
                                  "may not leave (only group keys of level plain/group_by and "
                                  "COUNT/SUM/AVG may).", expr, level=level.value)
            elif not top and not passthrough and isinstance(expr, exp.Column) \
                    and not isinstance(expr.this, exp.Star):
                # a derived table passes a column on with its level (a join key stays one)
                level = scope.resolve(expr)[2]
                if level == HIDDEN:
                    raise _reject(Reason.COLUMN_NOT_RELEASABLE, "{fragment} is hidden and may "
                                  "not be used at all.", expr)
            else:
                level = scope.level(expr, agg=False)
                limit = AGGREGATE if passthrough else PLAIN if top else HIDDEN
                if not _le(level, limit):
                    raise _reject(Reason.ROW_LEVEL_OUTPUT, "{fragment} would leave row by row "
                                  "but is {level}; aggregate it (COUNT/SUM/AVG … GROUP BY).",
                                  expr, level=level.value)
            levels.append(level)
        if having is not None:
            cond = having.this
            resolved = self.substitute_aliases(cond, alias_map, scope)
            if resolved is not cond:
                having.set("this", resolved)
            scope.qualify(having.this)
            scope.filter(having.this, agg=True)

        plain_only = not has_agg and not passthrough and scope.all_plain
        if top and not has_agg and not passthrough and not plain_only:
            raise _reject(Reason.ROW_LEVEL_OUTPUT, "Row-level output is allowed only when the "
                          "query reads plain columns only; aggregate it (COUNT/SUM/AVG … "
                          "GROUP BY): {fragment}", sel)

        # unique output names
        seen: dict[str, int] = {}
        unique: list[str] = []
        for name in names:
            base = name or "col"
            n = seen.get(base.lower(), 0)
            seen[base.lower()] = n + 1
            unique.append(base if n == 0 else f"{base}_{n + 1}")
        new_outputs = [exp.alias_((o.this if isinstance(o, exp.Alias) else o), name, quoted=True, copy=False)
                       for o, name in zip(outputs, unique, strict=True)]

        # contributors
        contributor_cols: list[Node] = []
        shape_contributors: list[str] = []
        rows = False
        if passthrough:
            src = grouped_sources[0]
            contributor_cols.append(exp.alias_(exp.column(CONTRIBUTORS, src.alias, quoted=True),
                                               CONTRIBUTORS, quoted=True, copy=False))
            grouped_out = True
        elif has_agg:
            contributor_cols.append(exp.alias_(scope.contributor_count(), CONTRIBUTORS,
                                               quoted=True, copy=False))
            grouped_out = True
        else:
            grouped_out = False
            if top:
                contributor_cols.append(exp.alias_(exp.cast(exp.null(), "BIGINT"), CONTRIBUTORS,
                                                   quoted=True, copy=False))
            else:
                for i, (src_alias, col) in enumerate(scope.contributor_columns()):
                    name = f"__gs_k{i}"
                    contributor_cols.append(exp.alias_(exp.column(col, src_alias, quoted=True),
                                                       name, quoted=True, copy=False))
                    shape_contributors.append(name)
        sel.set("expressions", new_outputs + contributor_cols)

        order_info: dict[str, Any] = {}
        if top:
            order_info = self.order_limit(sel, outputs, unique, alias_map, scope)
        if has_agg and not passthrough and (not top or self.dp):
            # computed here, on every group, small ones included: only what cannot fail
            for out in outputs:
                _post_aggregate_safe(out.this if isinstance(out, exp.Alias) else out, scope)
            if having is not None:
                _post_aggregate_safe(having.this, scope)
        elif has_agg and not passthrough:
            order_info.update(self.split(sel, outputs, scope, contributor_cols))
        columns = {name.lower(): level for name, level in zip(unique, levels, strict=True)}
        if grouped_out and not passthrough:
            # inner aggregates are aggregate level above; keys keep theirs
            columns = {
                name.lower(): (level if scope.is_key(out.this if isinstance(out, exp.Alias)
                                                     else out) else _worst(level, AGGREGATE))
                for name, level, out in zip(unique, levels, outputs, strict=True)
            }
        shape = _Shape(columns=columns, contributors=shape_contributors, rows=rows,
                       grouped=grouped_out, plain_only=scope.all_plain and not grouped_out,
                       tables=[s.table for s in sources if s.table])
        return shape, {"names": unique, "suppress": not plain_only, **order_info}

    def split(self, sel: exp.Select, outputs: list[Node], scope: _Scope,
              contributor_cols: list[Node]) -> dict[str, Any]:
        """The outermost aggregation in two stages: the data query computes only the group
        keys, the aggregates and the contributors; the outputs computed from them and HAVING run
        in the release step, over released groups only (so an error, e.g. a division by zero,
        or a HAVING condition, can never depend on a suppressed group)."""
        aggs: dict[Node, tuple[str, Node]] = {}  # by structure
        keys = [key for key, _ in scope.keys]

        def lift(expr: Node) -> Node:
            def repl(node: Node) -> Node:
                for j, key in enumerate(keys):
                    if node == key:
                        return exp.column(f"__gs_g{j}", quoted=True)
                if isinstance(node, exp.Filter) or _is_aggregate(node):
                    if node not in aggs:
                        aggs[node] = (f"__gs_a{len(aggs)}", node.copy())
                    return exp.column(aggs[node][0], quoted=True)
                return node

            return expr.copy().transform(repl, copy=False)

        lifted = [lift(o.this if isinstance(o, exp.Alias) else o) for o in outputs]
        having = sel.args.get("having")
        release_filter = lift(having.this) if having is not None else None
        sel.set("having", None)
        stage1 = [exp.alias_(key.copy(), f"__gs_g{j}", quoted=True, copy=False)
                  for j, key in enumerate(keys)]
        stage1 += [exp.alias_(node, name, quoted=True, copy=False)
                   for name, node in aggs.values()]
        sel.set("expressions", stage1 + contributor_cols)
        return {
            # the lifted expressions are copies of their own: no need to copy them again
            "release_exprs": tuple(e.sql(dialect="duckdb", copy=False) for e in lifted),
            "release_filter": (release_filter.sql(dialect="duckdb", copy=False)
                               if release_filter is not None else None),
        }

    def alias_or_position(self, key: Node, outputs: list[Node],
                          alias_map: dict[str, Node], scope: _Scope) -> Node:
        if isinstance(key, exp.Literal) and not key.is_string:
            pos = int(key.this)
            if not 1 <= pos <= len(outputs):
                raise _reject(Reason.UNKNOWN_COLUMN, "There is no output column {fragment}.", key)
            out = outputs[pos - 1]
            return out.this if isinstance(out, exp.Alias) else out
        return self.substitute_aliases(key, alias_map, scope)

    def substitute_aliases(self, expr: Node, alias_map: dict[str, Node],
                           scope: _Scope) -> Node:
        def repl(node: exp.Expression) -> Node:
            if (isinstance(node, exp.Column) and not node.table
                    and node.name.lower() in alias_map and not scope.has_column(node.name)):
                return alias_map[node.name.lower()].copy()
            return node

        return expr.transform(repl, copy=False)

    def order_limit(self, sel: exp.Select, outputs: list[Node], names: list[str],
                    alias_map: dict[str, Node], scope: _Scope) -> dict[str, Any]:
        info: dict[str, Any] = {"order_by": (), "limit": None, "offset": None}
        order = sel.args.get("order")
        if order is not None:
            plain_exprs = [(o.this if isinstance(o, exp.Alias) else o) for o in outputs]
            by_sql: dict[str, int] | None = None  # made only if an item needs it
            lowered = [n.lower() for n in names]
            items = []
            for ordered in order.expressions:
                target = ordered.this
                index = None
                if isinstance(target, exp.Literal) and not target.is_string:
                    pos = int(target.this)
                    if 1 <= pos <= len(outputs):
                        index = pos - 1
                elif isinstance(target, exp.Column) and not target.table and \
                        target.name.lower() in lowered:
                    index = lowered.index(target.name.lower())
                if index is None:
                    scope.qualify(target)
                    if by_sql is None:
                        by_sql = {e.sql(dialect="duckdb"): i for i, e in enumerate(plain_exprs)}
                    index = by_sql.get(target.sql(dialect="duckdb"))
                if index is None:
                    raise _reject(Reason.COLUMN_NOT_RELEASABLE, "ORDER BY may name only output "
                                  "columns (by name, position or the same expression): "
                                  "{fragment}", target)
                desc = bool(ordered.args.get("desc"))
                nulls_first = ordered.args.get("nulls_first")
                if nulls_first is None:
                    nulls_first = desc
                items.append((index, desc, bool(nulls_first)))
            info["order_by"] = tuple(items)
            sel.set("order", None)
        for key in ("limit", "offset"):
            node = sel.args.get(key)
            if node is None:
                continue
            value = node.expression if key == "limit" else node.expression
            if not (isinstance(value, exp.Literal) and not value.is_string
                    and str(value.this).isdigit()):
                raise _reject(Reason.UNSUPPORTED_QUERY, "LIMIT and OFFSET must be whole numbers: "
                              "{fragment}", node)
            info[key] = int(value.this)
            sel.set(key, None)
        return info

    # ---- sources
    def source(self, node: Node, ctes: dict[str, _Shape]) -> _Source:
        if isinstance(node, exp.Table):
            target = node.this
            if isinstance(target, exp.Func) or not isinstance(target, exp.Identifier):
                raise _reject(Reason.FORBIDDEN_FUNCTION, "Table functions are not allowed: "
                              "{fragment}", node)
            if node.args.get("db") or node.args.get("catalog"):
                raise _reject(Reason.TABLE_NOT_AUTHORISED, "Only the authorised tables may be "
                              "read, by their bare name: {fragment}", node)
            for key in ("sample", "joins", "pivots", "laterals", "version", "when"):
                if node.args.get(key):
                    raise _reject(Reason.UNSUPPORTED_QUERY, "This table clause is not supported: "
                                  "{fragment}", node)
            name = str(target.this).lower()
            alias = node.alias_or_name.lower()
            if name in ctes:
                shape = ctes[name]
                return _Source(alias=alias, columns=shape.columns,
                               contributors=list(shape.contributors), rows=shape.rows,
                               grouped=shape.grouped, plain_only=shape.plain_only, node=node)
            policy = self.policies.get(name)
            if policy is None:
                raise _reject(Reason.TABLE_NOT_AUTHORISED, "The table {fragment} is not "
                              "authorised.", str(target.this))
            if policy.name not in self.used:
                self.used.append(policy.name)
            columns = {c.lower(): ReleaseLevel(level) for c, level in policy.columns.items()}
            contributors = [policy.contributor.lower()] if policy.contributor else []
            return _Source(alias=alias, columns=columns, table=policy.name,
                           contributors=contributors, rows=not contributors, node=node,
                           rows_per=policy.rows_per_contributor)
        if isinstance(node, exp.Subquery):
            inner = node.this
            if not isinstance(inner, exp.Select):
                raise _reject(Reason.NOT_A_SELECT, "A subquery must be a single SELECT: "
                              "{fragment}", inner)
            if not node.alias:
                node.set("alias", exp.TableAlias(this=exp.to_identifier(self.fresh("sub"))))
            shape, _ = self.select(inner, ctes, top=False)
            return _Source(alias=node.alias.lower(), columns=shape.columns,
                           contributors=list(shape.contributors), rows=shape.rows,
                           grouped=shape.grouped, plain_only=shape.plain_only, node=node)
        if isinstance(node, exp.Func):
            raise _reject(Reason.FORBIDDEN_FUNCTION, "Table functions are not allowed: {fragment}",
                          node)
        raise _reject(Reason.UNSUPPORTED_QUERY, "This kind of source is not supported: {fragment}",
                      node)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"__gs_{prefix}{self.counter}"

    def join_condition(self, join: exp.Join, scope: _Scope) -> None:
        using = join.args.get("using")
        if using:
            for ident in using:
                name = ident.name.lower()
                for src in scope.sources:
                    if name in src.columns and src.columns[name] == HIDDEN:
                        raise _reject(Reason.COLUMN_NOT_RELEASABLE, "{fragment} is hidden and "
                                      "may not be used at all.", ident)
                if not scope.has_column(name):
                    raise _reject(Reason.UNKNOWN_COLUMN, "Unknown column {fragment}.", ident)
        on = join.args.get("on")
        if on is None:
            return
        conjuncts = list(on.flatten()) if isinstance(on, exp.And) else [on]
        for part in conjuncts:
            if (isinstance(part, exp.EQ) and isinstance(part.this, exp.Column)
                    and isinstance(part.expression, exp.Column)):
                left = scope.resolve(part.this)
                right = scope.resolve(part.expression)
                if left[0] is not right[0] and left[2] != HIDDEN and right[2] != HIDDEN:
                    continue  # a key equality between two sources
            scope.filter(part)


class _Scope:
    """The sources of one SELECT, resolving columns and deriving levels."""

    def __init__(self, checker: _Checker, sources: list[_Source]) -> None:
        self.checker = checker
        self.sources = sources
        self.keys: list[tuple[Node, ReleaseLevel]] = []
        self.all_plain = True

    def has_column(self, name: str) -> bool:
        return any(name.lower() in s.columns for s in self.sources)

    def resolve(self, col: exp.Column) -> tuple[_Source, str, ReleaseLevel]:
        name = col.name.lower()
        if col.args.get("db") or col.args.get("catalog"):
            raise _reject(Reason.UNKNOWN_COLUMN, "Unknown column {fragment}.", col)
        if col.table:
            matches = [s for s in self.sources if s.alias == col.table.lower()]
            if not matches:
                raise _reject(Reason.UNKNOWN_COLUMN, "Unknown table or alias in {fragment}.", col)
            src = matches[0]
            if name not in src.columns:
                raise _reject(Reason.UNKNOWN_COLUMN, "Unknown column {fragment}.", col)
        else:
            found = [s for s in self.sources if name in s.columns]
            if not found:
                raise _reject(Reason.UNKNOWN_COLUMN, "Unknown column {fragment}.", col)
            if len(found) > 1:
                raise _reject(Reason.UNKNOWN_COLUMN, "The column {fragment} is ambiguous; name "
                              "its table.", col)
            src = found[0]
            col.set("table", exp.to_identifier(src.alias))
        if not col.this.quoted and col.this.this != name:
            col.set("this", exp.to_identifier(name))  # DuckDB: names are case-insensitive
        level = src.columns[name]
        if level != PLAIN:
            self.all_plain = False
        return src, name, level

    def qualify(self, expr: exp.Expression) -> None:
        """Name the source of every column in ``expr`` (so equal expressions compare equal)."""
        for col in list(expr.find_all(exp.Column)):
            if not isinstance(col.this, exp.Star):
                self.resolve(col)

    def is_key(self, expr: exp.Expression) -> bool:
        return any(expr == key for key, _ in self.keys)

    def filter(self, cond: Node, *, agg: bool = False) -> None:
        """A condition rows or groups are chosen by: join/hidden columns may not appear."""
        self.level(cond, agg=agg if agg else False, in_filter=True)

    def level(self, expr: Node, *, agg: bool | None, in_filter: bool = False,
              in_aggregate: bool = False) -> ReleaseLevel:
        """The level of ``expr``. ``agg``: True in an aggregating query's output/HAVING (bare
        columns must be group keys), False in row context, None for a group key itself."""
        if agg and not in_aggregate:
            for key, level in self.keys:
                if expr == key:
                    return level
        if isinstance(expr, exp.Window) or (type(expr).__name__ in ("RowNumber", "Rank",
                                                                     "DenseRank", "Lag", "Lead",
                                                                     "Ntile", "NthValue")):
            raise _reject(Reason.WINDOW_FUNCTION, "Window functions are not allowed: {fragment}",
                          expr)
        if isinstance(expr, _UNSUPPORTED_NODES):
            raise _reject(Reason.UNSUPPORTED_QUERY, "Subqueries are allowed only in FROM and "
                          "WITH: {fragment}", expr)
        if isinstance(expr, exp.Column):
            if isinstance(expr.this, exp.Star):
                raise _reject(Reason.ROW_LEVEL_OUTPUT, "{fragment} would release rows.", expr)
            src, name, level = self.resolve(expr)
            if level == HIDDEN:
                code = Reason.PROTECTED_COLUMN_IN_FILTER if in_filter else \
                    Reason.COLUMN_NOT_RELEASABLE
                raise _reject(code, "{fragment} is hidden and may not be used at all.", expr)
            if in_filter and level == JOIN:
                raise _reject(Reason.PROTECTED_COLUMN_IN_FILTER, "{fragment} is a join key and "
                              "may be used only in JOIN … ON a = b, not in a condition.", expr)
            if level == JOIN and in_aggregate:
                return level  # the aggregate decides (COUNT/SUM/AVG: not releasable; MAX: member)
            if level == JOIN:
                raise _reject(Reason.COLUMN_NOT_RELEASABLE, "{fragment} is a join key and may be "
                              "used only in JOIN … ON a = b.", expr)
            if agg and not in_aggregate:
                raise _reject(Reason.ROW_LEVEL_OUTPUT, "{fragment} is neither a group key nor "
                              "inside an aggregate: it would leave row by row.", expr)
            return level
        if isinstance(expr, exp.Star):
            raise _reject(Reason.ROW_LEVEL_OUTPUT, "* would release rows.", expr)
        if isinstance(expr, exp.Filter):
            agg_level = self.level(expr.this, agg=agg, in_filter=in_filter,
                                   in_aggregate=in_aggregate)
            self.level(expr.expression.this, agg=False, in_filter=True, in_aggregate=True)
            return agg_level
        if _is_aggregate(expr):
            return self.aggregate(expr, agg=agg, in_aggregate=in_aggregate)
        if isinstance(expr, exp.Func) and not isinstance(expr, _OPERATORS):
            name = _fname(expr)
            ok = name in _SCALAR_NAMES if isinstance(expr, exp.Anonymous) else name in _SCALAR
            if not ok:
                raise _reject(Reason.FORBIDDEN_FUNCTION, "The function {name} is not allowed "
                              "here: {fragment}", expr, name=name if isinstance(name, str) else "")
            if isinstance(expr, (exp.Case, exp.If)):
                return self.conditional(expr, agg=agg, in_filter=in_filter,
                                        in_aggregate=in_aggregate)
        elif not isinstance(expr, _OPERATORS):
            raise _reject(Reason.UNSUPPORTED_QUERY, "This expression is not supported: {fragment}",
                          expr)
        levels = [self.level(child, agg=agg, in_filter=in_filter, in_aggregate=in_aggregate)
                  for child in _children(expr)]
        return _worst(*levels)

    def conditional(self, expr: Node, **ctx: Any) -> ReleaseLevel:
        levels: list[ReleaseLevel] = []
        if isinstance(expr, exp.Case):
            if expr.this is not None:  # CASE x WHEN … compares x
                levels.append(self.level(expr.this, **{**ctx, "in_filter": True}))
            for branch in expr.args.get("ifs") or []:
                levels.append(self.level(branch.this, **{**ctx, "in_filter": True}))
                levels.append(self.level(branch.args["true"], **ctx))
            if expr.args.get("default") is not None:
                levels.append(self.level(expr.args["default"], **ctx))
        else:
            levels.append(self.level(expr.this, **{**ctx, "in_filter": True}))
            for key in ("true", "false"):
                if expr.args.get(key) is not None:
                    levels.append(self.level(expr.args[key], **ctx))
        return _worst(*levels)

    def aggregate(self, expr: Node, *, agg: bool | None,
                  in_aggregate: bool) -> ReleaseLevel:
        if in_aggregate:
            raise _reject(Reason.UNSUPPORTED_QUERY, "Nested aggregates are not supported: "
                          "{fragment}", expr)
        if agg is not True:
            raise _reject(Reason.UNSUPPORTED_QUERY, "An aggregate is not allowed here: "
                          "{fragment}", expr)
        name = _fname(expr)
        args = _children(expr)
        if isinstance(expr, exp.Count):
            inner = expr.this
            if inner is None or isinstance(inner, exp.Star):
                return PLAIN
            if isinstance(inner, exp.Distinct):
                args = list(inner.expressions)
        if any(isinstance(a, exp.Star) for a in args):
            raise _reject(Reason.ROW_LEVEL_OUTPUT, "{fragment} would release rows.", expr)
        levels = [self.level(a, agg=False, in_aggregate=True) for a in args]
        level = _worst(*levels)
        if name in _COUNT_SUM_AVG:
            if not _le(level, AGGREGATE):
                raise _reject(Reason.COLUMN_NOT_RELEASABLE, "{fragment} aggregates a column of "
                              "level {level}.", expr, level=level.value)
            return PLAIN
        if name in _ORDER_STAT or name in _ORDER_STAT_NAMES:
            # MIN(birth_date) is the oldest person's birth date: one member's value, which a
            # group_by column may release only as the key of a group of k contributors
            if level == PLAIN:
                return PLAIN
        elif (name in _MEMBER or name in _MEMBER_NAMES) and level == PLAIN:
            return PLAIN
        elif not (name in _MEMBER or name in _MEMBER_NAMES):
            raise _reject(Reason.FORBIDDEN_FUNCTION, "The aggregate {name} is not allowed: "
                          "{fragment}", expr, name=name)
        raise _reject(Reason.MEMBER_REVEALING_AGGREGATE, "{name} returns a member's value; it "
                      "is not allowed on a column of level {level}: {fragment}", expr, name=name,
                      level=level.value)

    def contributor_columns(self) -> list[tuple[str, str]]:
        cols: list[tuple[str, str]] = []
        for src in self.sources:
            if src.rows:
                self.number_rows(src)
            cols.extend((src.alias, c) for c in src.contributors)
        return cols

    def number_rows(self, src: _Source) -> None:
        """Give a table without a contributor column a row number as one (joins, subqueries)."""
        node = src.node
        assert isinstance(node, exp.Table) and src.table is not None
        inner = exp.select(exp.Star(), exp.alias_(
            exp.Window(this=exp.RowNumber()), "__gs_rid", quoted=True, copy=False)).from_(
            exp.Table(this=exp.to_identifier(src.table)))
        sub = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(src.alias)))
        node.replace(sub)
        src.node = sub
        src.contributors = ["__gs_rid"]
        src.rows = False

    def contributor_count(self) -> Node:
        if len(self.sources) == 1 and self.sources[0].grouped:
            src = self.sources[0]
            return exp.Max(this=exp.column(CONTRIBUTORS, src.alias, quoted=True))
        if not self.sources:
            return exp.Literal.number(1)
        if len(self.sources) == 1 and self.sources[0].rows:
            return exp.Count(this=exp.Star())
        if len(self.sources) == 1 and self.sources[0].rows_per and self.sources[0].table:
            per = int(self.sources[0].rows_per)
            if per == 1:
                return exp.Count(this=exp.Star())
            # each contributor has at most `per` rows: rows / per contributors at least
            return exp.cast(exp.Ceil(this=exp.Div(
                this=exp.Count(this=exp.Star()), expression=exp.Literal.number(per),
                typed=False, safe=False)), "BIGINT")
        counts: list[Node] = [
            exp.Count(this=exp.Distinct(expressions=[exp.column(col, alias, quoted=True)]))
            for alias, col in self.contributor_columns()
        ]
        if not counts:  # derived tables of constants only
            return exp.Count(this=exp.Star())
        if len(counts) == 1:
            return counts[0]
        return exp.Anonymous(this="LEAST", expressions=counts)


_SAFE_ABOVE_AGGREGATES = (exp.Column, exp.Literal, exp.Boolean, exp.Null, exp.Paren,
                          exp.Predicate, exp.Connector, exp.Not, exp.Alias, exp.Identifier)


def _post_aggregate_safe(expr: Node, scope: _Scope) -> None:
    """In a subquery that aggregates, what is computed from the aggregates (and HAVING) runs on
    every group, small ones included; arithmetic or functions there could fail on one of them
    and so reveal it. Only keys, bare aggregates, comparisons and AND/OR/NOT are allowed."""
    if isinstance(expr, exp.Filter) or _is_aggregate(expr) or scope.is_key(expr):
        return
    if not isinstance(expr, _SAFE_ABOVE_AGGREGATES):
        raise _reject(Reason.UNSUPPORTED_QUERY, "A subquery that aggregates may output only "
                      "group keys and aggregates (compute with them in the outermost query): "
                      "{fragment}", expr)
    for child in _children(expr):
        _post_aggregate_safe(child, scope)


_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Pow, exp.Neg)
_NEVER_WRAP = (exp.Case, exp.If, exp.Coalesce, exp.Connector, exp.Try, exp.Window)


def _harden(tree: Node) -> Node:
    """Wrap every computation on row values (arithmetic, casts, functions) in ``TRY(…)``, so
    that a value making it fail (an overflow, a bad cast, a date out of range) gives NULL
    instead of an error whose existence — or text, which quotes the value — would reveal a
    member. Computations over aggregates are not wrapped (DuckDB does not allow it): the
    outermost ones run in the release step, and subqueries may not have any."""

    def wrappable(node: Node) -> bool:
        if isinstance(node, exp.In) and not node.args.get("query"):
            return node.find(exp.Column) is not None  # IN (1, 2) may cast each value
        if not isinstance(node, _ARITHMETIC) and not (
                isinstance(node, exp.Func)
                and not isinstance(node, (exp.Predicate, *_NEVER_WRAP))):
            return False
        if _is_aggregate(node) or isinstance(node, exp.Filter):
            return False
        if node.find(exp.Column) is None:
            return False  # constants cannot depend on the data
        return not any(_is_aggregate(n) or isinstance(n, (exp.Window, exp.Select, exp.Filter))
                       for n in node.walk())

    def visit(node: Node) -> None:
        for child in _children(node):
            if wrappable(child):
                wrapper = exp.Try()
                child.replace(wrapper)
                wrapper.set("this", child)
            else:
                visit(child)

    visit(tree)
    return tree


def _children(expr: Node) -> list[Node]:
    out: list[Node] = []
    for value in expr.args.values():
        if isinstance(value, exp.Expression):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, exp.Expression))
    return out


def check(sql: str, tables: Mapping[str, TablePolicy], *, k: int = 10,
          dp: bool = False) -> Checked:
    """Accept ``sql`` under the policy of ``tables`` or raise :class:`Rejected`."""
    if k < 1:
        raise ValueError("k must be at least 1")
    checker = _Checker(tables, k)
    checker.dp = dp
    tree = checker.statement(sql)
    plan: DpPlan | None = None
    if dp:
        plan = _dp_plan(tree, checker)  # validates and rewrites the tree itself
    shape, info = checker.select(tree, {}, top=True)
    if dp:
        assert plan is not None
        tree = _dp_rewrite(tree, plan, checker)
    tree = _harden(tree)
    return Checked(
        original=sql,
        sql=tree.sql(dialect="duckdb"),
        columns=list(info["names"]),
        tables=list(checker.used),
        k=k,
        dp=plan,
        tree=tree,
        suppress=bool(info["suppress"]) or dp,
        order_by=info.get("order_by", ()),
        limit=info.get("limit"),
        offset=info.get("offset"),
        release_exprs=info.get("release_exprs", ()),
        release_filter=info.get("release_filter"),
    )


# -- differential privacy ----------------------------------------------------------------------


def _dp_plan(tree: exp.Select, checker: _Checker) -> DpPlan:
    """Validate a DP query's shape before the ordinary check (which then checks its levels)."""
    if tree.args.get("with_") or tree.args.get("joins"):
        raise _reject(Reason.DP_UNSUPPORTED, "In DP mode a query reads one table, without joins "
                      "or WITH: {fragment}", tree.args.get("with_") or tree.args["joins"][0])
    from_ = tree.args.get("from_")
    if from_ is None or not isinstance(from_.this, exp.Table) or isinstance(from_.this.this,
                                                                          exp.Func):
        node = from_.this if from_ is not None else tree
        if isinstance(node, exp.Table):  # table functions: the ordinary reason
            checker.source(node, {})
        raise _reject(Reason.DP_UNSUPPORTED, "In DP mode a query reads one table directly: "
                      "{fragment}", node)
    table = from_.this
    checker.source(table, {})  # authorised?
    policy = checker.policies[str(table.this.this).lower()]
    for key in ("having", "distinct"):
        if tree.args.get(key):
            raise _reject(Reason.DP_UNSUPPORTED, "{clause} is not supported in DP mode: "
                          "{fragment}", tree.args[key], clause=key.upper())
    group = tree.args.get("group")
    key_sql: set[str] = set()
    keys_by_pos: set[int] = set()
    if group is not None:
        for key in group.expressions:
            if isinstance(key, exp.Literal) and not key.is_string:
                keys_by_pos.add(int(key.this) - 1)
            else:
                key_sql.add(key.sql(dialect="duckdb").lower())
    aggregates: list[DpAggregate] = []
    group_keys: list[str] = []
    columns = {c.lower(): c for c in policy.columns}
    bounds = {c.lower(): b for c, b in policy.bounds.items()}
    for i, out in enumerate(tree.expressions):
        expr = out.this if isinstance(out, exp.Alias) else out
        name = out.alias if isinstance(out, exp.Alias) else (
            expr.name if isinstance(expr, exp.Column) else expr.sql(dialect="duckdb"))
        if not any(_is_aggregate(n) for n in expr.walk()):
            is_key = (i in keys_by_pos or expr.sql(dialect="duckdb").lower() in key_sql
                      or (isinstance(out, exp.Alias) and out.alias.lower() in key_sql))
            if not is_key:
                raise _reject(Reason.DP_UNSUPPORTED, "In DP mode every output is a group key or "
                              "an aggregate: {fragment}", expr)
            group_keys.append(name)
            continue
        if not isinstance(expr, (exp.Count, exp.Sum, exp.Avg)):
            raise _reject(Reason.DP_UNSUPPORTED, "DP mode supports COUNT(*), COUNT(col), SUM(col) "
                          "and AVG(col) only, not expressions of them: {fragment}", expr)
        arg = expr.this
        if isinstance(expr, exp.Count) and (arg is None or isinstance(arg, exp.Star)):
            aggregates.append(DpAggregate(name, "count", None, None))
            continue
        if not isinstance(arg, exp.Column) or arg.table and arg.table.lower() != \
                table.alias_or_name.lower():
            raise _reject(Reason.DP_UNSUPPORTED, "In DP mode an aggregate takes a column, not an "
                          "expression or DISTINCT: {fragment}", expr)
        col = arg.name.lower()
        if col not in columns:
            raise _reject(Reason.UNKNOWN_COLUMN, "Unknown column {fragment}.", arg)
        if isinstance(expr, exp.Count):
            aggregates.append(DpAggregate(name, "count", columns[col], None))
            continue
        if col not in bounds:
            raise _reject(Reason.DP_BOUNDS_MISSING, "{fragment} has no declared bounds; DP "
                          "mode needs them to clamp SUM and AVG.", arg)
        lo, hi = bounds[col]
        aggregates.append(DpAggregate(name, "sum" if isinstance(expr, exp.Sum) else "avg",
                                      columns[col], (float(lo), float(hi))))
    if group is not None and len(group_keys) != len(group.expressions):
        raise _reject(Reason.DP_UNSUPPORTED, "In DP mode every group key must be an output: "
                      "{fragment}", group)
    if not aggregates:
        raise _reject(Reason.DP_UNSUPPORTED, "A DP query needs an aggregate: {fragment}", tree)
    return DpPlan(table=policy.name, group_keys=group_keys, aggregates=aggregates)


def _dp_rewrite(tree: exp.Select, plan: DpPlan, checker: _Checker) -> exp.Select:
    """The exact per-group components over one row per contributor (see the module's doc)."""
    policy = checker.policies[plan.table.lower()]
    outputs = tree.expressions[:-1]  # the last is the contributor count
    new: list[Node] = []
    agg_iter = iter(plan.aggregates)
    for out in outputs:
        expr = out.this if isinstance(out, exp.Alias) else out
        if not any(_is_aggregate(n) for n in expr.walk()):
            new.append(out)
            continue
        agg = next(agg_iter)
        i = plan.aggregates.index(agg)
        arg = expr.this
        if agg.kind == "count":
            count: Node = exp.Count(this=exp.Star() if agg.column is None else arg.copy())
            new.append(exp.alias_(count, f"__gs_n{i}", quoted=True, copy=False))
            continue
        assert agg.bounds is not None
        lo, hi = agg.bounds
        clamped = exp.Anonymous(this="LEAST", expressions=[exp.Anonymous(
            this="GREATEST", expressions=[exp.cast(arg.copy(), "DOUBLE"), exp.Literal.number(lo)]),
            exp.Literal.number(hi)])
        new.append(exp.alias_(exp.Sum(this=clamped), f"__gs_s{i}", quoted=True, copy=False))
        if agg.kind == "avg":
            new.append(exp.alias_(exp.Count(this=arg.copy()), f"__gs_n{i}", quoted=True, copy=False))
    new.append(exp.alias_(exp.Count(this=exp.Star()), CONTRIBUTORS, quoted=True, copy=False))
    tree.set("expressions", new)
    if policy.contributor and policy.rows_per_contributor != 1:
        from_ = tree.args["from_"]
        table = from_.this
        alias = table.alias_or_name
        inner = exp.select(exp.Star()).from_(exp.Table(this=exp.to_identifier(policy.name)))
        where = tree.args.get("where")
        if where is not None:
            # the filter runs first, then one row per contributor among the rows it keeps
            inner.set("where", where.copy())
            unqualify = inner.args["where"]
            for col in unqualify.find_all(exp.Column):
                col.set("table", None)
            tree.set("where", None)
        inner.set("qualify", exp.Qualify(this=exp.EQ(
            this=exp.Window(this=exp.RowNumber(), partition_by=[
                exp.column(policy.contributor, quoted=True)]),
            expression=exp.Literal.number(1))))
        from_.set("this", exp.Subquery(this=inner, alias=exp.TableAlias(
            this=exp.to_identifier(alias))))
    return tree
