"""The release policy (Art. 14, domain/SANDBOX.md): a table of queries and their verdicts.

Every threat in SANDBOX.md has cases here, and so do the ordinary analyses the sandbox must
answer (counts, sums and averages by released columns and expressions of them, joins, CTEs).
"""

from __future__ import annotations

import time

import pytest

from gongshu.sandbox.policy import (
    CONTRIBUTORS,
    Reason,
    Rejected,
    ReleaseLevel,
    TablePolicy,
    check,
)

L = ReleaseLevel
POPULATION = TablePolicy(
    "population",
    {"id_no": L.JOIN, "name": L.HIDDEN, "gender": L.GROUP_BY, "birth_date": L.GROUP_BY,
     "county": L.GROUP_BY, "address": L.HIDDEN, "mobile": L.HIDDEN,
     "annual_income": L.AGGREGATE},
    contributor="id_no",
    bounds={"annual_income": (0, 500000)},
)
INSURANCE = TablePolicy("insurance", {"id_no": L.JOIN, "pay_base": L.AGGREGATE, "year": L.PLAIN},
                        contributor="id_no")
HOUSEHOLDS = TablePolicy(
    "households",
    {"household_id": L.JOIN, "county": L.GROUP_BY, "members": L.AGGREGATE, "gap": L.COMPARE},
    contributor="household_id",
)
FACILITY = TablePolicy("facility", {"name": L.PLAIN, "kind": L.PLAIN, "county": L.PLAIN})
TABLES = {t.name: t for t in (POPULATION, INSURANCE, HOUSEHOLDS, FACILITY)}

OK = "OK"
R = Reason

CASES: list[tuple[str, str]] = [
    # --- ordinary analyses (useful)
    ("SELECT county, COUNT(*) FROM population GROUP BY county", OK),
    ("SELECT county, COUNT(*) AS n, SUM(annual_income), AVG(annual_income) FROM population "
     "GROUP BY county", OK),
    ("SELECT gender, county, COUNT(*) FROM population GROUP BY gender, county", OK),
    ("SELECT (2026 - year(birth_date)) // 10 * 10 AS band, COUNT(*) FROM population GROUP BY band",
     OK),
    ("SELECT (2026 - year(birth_date)) // 10 * 10 AS band, gender, AVG(annual_income) "
     "FROM population GROUP BY 1, 2", OK),
    ("SELECT date_diff('year', birth_date, DATE '2026-12-01') AS age, COUNT(*) FROM population "
     "GROUP BY age", OK),
    ("SELECT year(birth_date) AS y, COUNT(*) FROM population GROUP BY year(birth_date)", OK),
    ("SELECT extract(year FROM birth_date) AS y, COUNT(*) FROM population GROUP BY 1", OK),
    ("SELECT date_trunc('month', birth_date) AS m, COUNT(*) FROM population GROUP BY 1", OK),
    ("SELECT substr(county, 1, 4) AS region, SUM(annual_income) FROM population GROUP BY region",
     OK),
    ("SELECT left(county, 4) AS region, COUNT(*) FROM population GROUP BY 1", OK),
    ("SELECT upper(gender) || '-' || county AS k, COUNT(*) FROM population GROUP BY 1", OK),
    ("SELECT county, COUNT(*) FROM population WHERE gender = 'F' GROUP BY county", OK),
    ("SELECT county, COUNT(*) FROM population WHERE annual_income > 100000 GROUP BY county", OK),
    ("SELECT county, COUNT(*) FROM population WHERE birth_date >= DATE '1980-01-01' "
     "AND county LIKE '1401%' GROUP BY county", OK),
    ("SELECT county, COUNT(*) FROM population GROUP BY county HAVING COUNT(*) > 20", OK),
    ("SELECT county, AVG(annual_income) FROM population GROUP BY county "
     "HAVING AVG(annual_income) > 1000 ORDER BY 2 DESC LIMIT 3", OK),
    ("SELECT county, COUNT(*) AS n FROM population GROUP BY county ORDER BY n DESC, county", OK),
    ("SELECT COUNT(*) FROM population", OK),
    ("SELECT COUNT(*), AVG(annual_income) FROM population WHERE gender = 'M'", OK),
    ("SELECT county, ROUND(AVG(annual_income), 2) AS avg_income, "
     "SUM(annual_income) / COUNT(*) AS per_head FROM population GROUP BY county", OK),
    ("SELECT county, COUNT(DISTINCT gender) FROM population GROUP BY county", OK),
    ("SELECT county, SUM(CASE WHEN annual_income > 100000 THEN 1 ELSE 0 END) AS rich "
     "FROM population GROUP BY county", OK),
    ("SELECT county, COUNT(*) FILTER (WHERE gender = 'F') AS women FROM population GROUP BY 1", OK),
    ("SELECT CASE WHEN year(birth_date) < 1970 THEN 'old' ELSE 'young' END AS g, COUNT(*) "
     "FROM population GROUP BY 1", OK),
    # the oldest and the youngest member's birth dates: one person's value each
    ("SELECT county, MIN(birth_date), MAX(birth_date) FROM population GROUP BY county",
     R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT DISTINCT county FROM population", OK),
    ("SELECT p.county, SUM(i.pay_base) FROM population p JOIN insurance i ON p.id_no = i.id_no "
     "GROUP BY p.county", OK),
    ("SELECT p.gender, i.year, AVG(i.pay_base) FROM population AS p JOIN insurance AS i "
     "ON p.id_no = i.id_no WHERE i.year >= 2020 GROUP BY p.gender, i.year", OK),
    ("SELECT i.year, COUNT(*) FROM insurance i LEFT JOIN population p USING (id_no) "
     "GROUP BY i.year", OK),
    ("WITH t AS (SELECT county, COUNT(*) AS n FROM population GROUP BY county) "
     "SELECT county, n FROM t WHERE n > 100", OK),
    ("WITH t AS (SELECT county, gender, COUNT(*) AS n FROM population GROUP BY county, gender) "
     "SELECT county, SUM(n) FROM t GROUP BY county", OK),
    ("SELECT band, COUNT(*) FROM (SELECT (2026 - year(birth_date)) // 10 * 10 AS band "
     "FROM population) s GROUP BY band", OK),
    ("WITH w AS (SELECT id_no, county FROM population WHERE gender = 'F') "
     "SELECT w.county, SUM(i.pay_base) FROM w JOIN insurance i ON w.id_no = i.id_no "
     "GROUP BY w.county", OK),
    ("SELECT county, COUNT(*) FROM households WHERE gap > 0 GROUP BY county", OK),
    ("SELECT county, SUM(members) FROM households GROUP BY county", OK),
    ("SELECT name, kind FROM facility WHERE kind = 'school' ORDER BY name", OK),
    ("SELECT kind, COUNT(*) FROM facility GROUP BY kind", OK),
    ("SELECT 1 + 1 AS two", OK),
    ("FROM population SELECT county, COUNT(*) GROUP BY county", OK),
    # --- reading anything but the authorised datasets
    ("SELECT * FROM read_csv('/etc/passwd')", R.FORBIDDEN_FUNCTION),
    ("SELECT COUNT(*) FROM read_parquet('/data/*.parquet')", R.FORBIDDEN_FUNCTION),
    ("SELECT COUNT(*) FROM range(1000000000)", R.FORBIDDEN_FUNCTION),
    ("SELECT COUNT(*) FROM glob('/*')", R.FORBIDDEN_FUNCTION),
    ("SELECT COUNT(*) FROM query('SELECT * FROM population')", R.FORBIDDEN_FUNCTION),
    ("SELECT COUNT(*) FROM query_table('population')", R.FORBIDDEN_FUNCTION),
    ("SELECT COUNT(*) FROM duckdb_tables()", R.FORBIDDEN_FUNCTION),
    ("SELECT COUNT(*) FROM '/etc/passwd'", R.TABLE_NOT_AUTHORISED),
    ("SELECT COUNT(*) FROM information_schema.tables", R.TABLE_NOT_AUTHORISED),
    ("SELECT COUNT(*) FROM main.population", R.TABLE_NOT_AUTHORISED),
    ("SELECT COUNT(*) FROM other_dataset", R.TABLE_NOT_AUTHORISED),
    ("SELECT getenv('HOME')", R.FORBIDDEN_FUNCTION),
    ("SELECT current_setting('memory_limit')", R.FORBIDDEN_FUNCTION),
    ("SELECT county, COUNT(*) FROM population WHERE county = getenv('X') GROUP BY 1",
     R.FORBIDDEN_FUNCTION),
    ("SELECT version()", R.FORBIDDEN_FUNCTION),
    ("COPY population TO '/tmp/out.csv'", R.NOT_A_SELECT),
    ("ATTACH '/tmp/other.db' AS other", R.NOT_A_SELECT),
    ("INSTALL httpfs", R.NOT_A_SELECT),
    ("LOAD httpfs", R.NOT_A_SELECT),
    ("PRAGMA database_list", R.NOT_A_SELECT),
    ("SET enable_external_access = true", R.NOT_A_SELECT),
    ("CREATE TABLE x AS SELECT 1", R.NOT_A_SELECT),
    ("INSERT INTO population VALUES (1)", R.NOT_A_SELECT),
    ("SELECT COUNT(*) FROM population; SELECT 1", R.NOT_A_SELECT),
    ("SELECT county FROM population UNION SELECT county FROM households", R.NOT_A_SELECT),
    ("SELEC county FROM population", R.SYNTAX_ERROR),
    ("SELECT COUNT(* FROM population", R.SYNTAX_ERROR),
    ("", R.SYNTAX_ERROR),
    # --- raw rows
    ("SELECT * FROM population", R.ROW_LEVEL_OUTPUT),
    ("SELECT population.* FROM population", R.ROW_LEVEL_OUTPUT),
    ("SELECT county FROM population", R.ROW_LEVEL_OUTPUT),
    ("SELECT annual_income FROM population WHERE county = '140105'", R.ROW_LEVEL_OUTPUT),
    ("SELECT name FROM population", R.COLUMN_NOT_RELEASABLE),
    ("SELECT id_no FROM population", R.COLUMN_NOT_RELEASABLE),
    ("SELECT year FROM insurance WHERE pay_base > 9000", R.ROW_LEVEL_OUTPUT),
    ("WITH t AS (SELECT county, annual_income FROM population) SELECT annual_income FROM t",
     R.ROW_LEVEL_OUTPUT),
    ("SELECT x FROM (SELECT annual_income AS x FROM population) s", R.ROW_LEVEL_OUTPUT),
    ("SELECT COUNT(*) FROM (SELECT * FROM population) s", R.ROW_LEVEL_OUTPUT),
    ("SELECT county, annual_income FROM population GROUP BY county", R.ROW_LEVEL_OUTPUT),
    ("SELECT county, COUNT(*) FROM population GROUP BY county, annual_income",
     R.COLUMN_NOT_RELEASABLE),
    ("SELECT annual_income, COUNT(*) FROM population GROUP BY annual_income",
     R.COLUMN_NOT_RELEASABLE),
    ("SELECT id_no, COUNT(*) FROM population GROUP BY id_no", R.COLUMN_NOT_RELEASABLE),
    ("SELECT county, row_number() OVER (ORDER BY annual_income) FROM population",
     R.WINDOW_FUNCTION),
    ("SELECT county, SUM(annual_income) OVER (PARTITION BY county) FROM population",
     R.WINDOW_FUNCTION),
    ("SELECT county, COUNT(*) FROM population GROUP BY county QUALIFY row_number() OVER () = 1",
     R.WINDOW_FUNCTION),
    ("SELECT gap > 0 AS poor, COUNT(*) FROM households GROUP BY 1", R.COLUMN_NOT_RELEASABLE),
    ("SELECT SUM(gap) FROM households", R.COLUMN_NOT_RELEASABLE),
    # --- aggregates that return a member
    ("SELECT county, MAX(annual_income) FROM population GROUP BY county",
     R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT MIN(annual_income) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT county, median(annual_income) FROM population GROUP BY county",
     R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT quantile_cont(annual_income, 0.9) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT mode(annual_income) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT county, string_agg(gender, ',') FROM population GROUP BY county",
     R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT list(annual_income) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT array_agg(birth_date) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT first(annual_income) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT any_value(annual_income) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT arg_max(birth_date, annual_income) FROM population", R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT string_agg(name, ',') FROM population", R.COLUMN_NOT_RELEASABLE),
    ("WITH t AS (SELECT county, SUM(annual_income) AS s FROM population GROUP BY county) "
     "SELECT MAX(s) FROM t", R.MEMBER_REVEALING_AGGREGATE),
    # --- singling out through expressions (filters on join/hidden columns)
    ("SELECT SUM(CASE WHEN id_no = '140105199001011234' THEN annual_income END) "
     "FROM population", R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT COUNT(*) FROM population WHERE id_no <> '140105199001011234'",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT county, AVG(annual_income) FROM population WHERE name = '张三' GROUP BY county",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT COUNT(*) FROM population WHERE mobile LIKE '139%'", R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT SUM(IF(address = 'x', annual_income, 0)) FROM population",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT SUM(annual_income) FILTER (WHERE id_no = 'x') FROM population",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT county, COUNT(*) FROM population GROUP BY county HAVING MAX(id_no) > 'x'",
     R.MEMBER_REVEALING_AGGREGATE),
    ("SELECT SUM(annual_income) FROM population WHERE substr(id_no, 7, 8) = '19900101'",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT SUM(i.pay_base) FROM population p JOIN insurance i ON p.id_no = i.id_no "
     "AND p.id_no = 'x'", R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT COUNT(*) FROM population p JOIN insurance i ON p.id_no > i.id_no",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT SUM(annual_income) FROM population p JOIN facility f ON p.address = f.name",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT county, COUNT(*) FROM population WHERE length(name) = 2 GROUP BY 1",
     R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT COUNT(DISTINCT id_no) FROM population", R.COLUMN_NOT_RELEASABLE),
    ("SELECT SUM(length(name)) FROM population", R.COLUMN_NOT_RELEASABLE),
    # --- differencing through ORDER BY / subqueries / unsupported shapes
    ("SELECT county, COUNT(*) FROM population GROUP BY county ORDER BY SUM(annual_income)",
     R.COLUMN_NOT_RELEASABLE),
    ("SELECT COUNT(*) FROM population WHERE annual_income > (SELECT AVG(annual_income) "
     "FROM population WHERE county = '149999')", R.UNSUPPORTED_QUERY),
    ("SELECT COUNT(*) FROM population WHERE county IN (SELECT county FROM households)",
     R.UNSUPPORTED_QUERY),
    ("SELECT SUM(annual_income) FROM (SELECT annual_income FROM population "
     "ORDER BY annual_income DESC LIMIT 1) s", R.UNSUPPORTED_QUERY),
    ("SELECT COUNT(*) FROM population WHERE EXISTS (SELECT 1 FROM insurance)",
     R.UNSUPPORTED_QUERY),
    ("SELECT COUNT(*) FROM population LIMIT (SELECT 1)", R.UNSUPPORTED_QUERY),
    ("WITH t AS (SELECT county, COUNT(*) AS n FROM population GROUP BY county) "
     "SELECT t.county, SUM(i.pay_base) FROM t JOIN insurance i ON t.county = i.year "
     "GROUP BY 1", R.UNSUPPORTED_QUERY),
    ("SELECT __gs_contributors FROM population", R.UNSUPPORTED_QUERY),
    ("WITH t AS (SELECT county, SUM(annual_income) // (COUNT(*) - 3) AS x FROM population "
     "GROUP BY county) SELECT SUM(x) FROM t", R.UNSUPPORTED_QUERY),
    ("SELECT SUM(n) FROM (SELECT county, COUNT(*) AS n FROM population GROUP BY county "
     "HAVING 1 // (COUNT(*) - 3) > 0) s", R.UNSUPPORTED_QUERY),
    ("SELECT county, COUNT(*) FROM population GROUP BY ROLLUP (county)", R.UNSUPPORTED_QUERY),
    # --- unknown columns
    ("SELECT county, COUNT(*) FROM population GROUP BY county, salary", R.UNKNOWN_COLUMN),
    ("SELECT SUM(x.annual_income) FROM population", R.UNKNOWN_COLUMN),
    ("SELECT county, COUNT(*) FROM population p JOIN households h ON p.county = h.county "
     "GROUP BY county", R.UNKNOWN_COLUMN),
]


def verdict(sql: str, *, dp: bool = False) -> str:
    try:
        check(sql, TABLES, dp=dp)
    except Rejected as exc:
        return exc.code.value
    return OK


def test_the_table_is_large_and_covers_every_threat_code() -> None:
    assert len(CASES) >= 70
    codes = {expected for _, expected in CASES}
    for code in (R.SYNTAX_ERROR, R.NOT_A_SELECT, R.FORBIDDEN_FUNCTION, R.TABLE_NOT_AUTHORISED,
                 R.UNKNOWN_COLUMN, R.COLUMN_NOT_RELEASABLE, R.ROW_LEVEL_OUTPUT,
                 R.MEMBER_REVEALING_AGGREGATE, R.PROTECTED_COLUMN_IN_FILTER, R.WINDOW_FUNCTION,
                 R.UNSUPPORTED_QUERY):
        assert code.value in codes


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_verdict(sql: str, expected: str) -> None:
    assert verdict(sql) == expected


@pytest.mark.parametrize(("sql", "expected"), [c for c in CASES if c[1] != OK])
def test_every_refusal_names_its_fragment(sql: str, expected: str) -> None:
    with pytest.raises(Rejected) as caught:
        check(sql, TABLES)
    exc = caught.value
    assert exc.params["fragment"] == exc.fragment
    if expected != R.SYNTAX_ERROR or sql:
        assert exc.fragment, exc.message


def test_the_rewrite_counts_distinct_contributors_as_its_last_column() -> None:
    checked = check("SELECT county, COUNT(*) AS n FROM population GROUP BY county", TABLES)
    assert checked.columns == ["county", "n"]
    assert checked.tables == ["population"]
    assert checked.sql.endswith('AS "__gs_contributors" FROM population GROUP BY '
                                'population.county')
    assert 'COUNT(DISTINCT "population"."id_no")' in checked.sql
    assert checked.suppress


def test_a_join_counts_the_fewest_contributors_of_its_tables() -> None:
    checked = check("SELECT p.county, SUM(i.pay_base) FROM population p JOIN insurance i "
                    "ON p.id_no = i.id_no GROUP BY 1", TABLES)
    assert 'LEAST(COUNT(DISTINCT "p"."id_no"), COUNT(DISTINCT "i"."id_no"))' in checked.sql
    assert sorted(checked.tables) == ["insurance", "population"]


def test_a_table_without_contributor_counts_rows_or_numbers_them_in_a_join() -> None:
    alone = check("SELECT kind, COUNT(*) FROM facility GROUP BY kind", TABLES)
    assert f'COUNT(*) AS "{CONTRIBUTORS}"' in alone.sql
    joined = check("SELECT p.county, COUNT(*) FROM population p JOIN facility f "
                   "ON p.county = f.county GROUP BY 1", TABLES)
    assert "ROW_NUMBER() OVER ()" in joined.sql and '"f"."__gs_rid"' in joined.sql


def test_re_aggregating_an_aggregating_cte_takes_the_largest_inner_count() -> None:
    checked = check("WITH t AS (SELECT county, gender, COUNT(*) AS n FROM population "
                    "GROUP BY 1, 2) SELECT county, SUM(n) FROM t GROUP BY county", TABLES)
    assert f'MAX("t"."{CONTRIBUTORS}")' in checked.sql


def test_order_by_and_limit_are_taken_out_to_run_after_suppression() -> None:
    checked = check("SELECT county, COUNT(*) AS n FROM population GROUP BY county "
                    "ORDER BY n DESC, 1 LIMIT 5 OFFSET 1", TABLES)
    assert "ORDER BY" not in checked.sql and "LIMIT" not in checked.sql
    assert checked.order_by == ((1, True, False), (0, False, False))  # DuckDB: NULLS LAST
    assert (checked.limit, checked.offset) == (5, 1)
    release = checked.release_sql()
    assert release.index("ORDER BY") < release.index("LIMIT 5") < release.index("OFFSET 1")


def test_plain_only_row_output_is_released_whole() -> None:
    checked = check("SELECT name FROM facility WHERE kind = 'park'", TABLES)
    assert not checked.suppress


def test_sql_for_spark_transpiles() -> None:
    checked = check("SELECT (2026 - year(birth_date)) // 10 * 10 AS band, COUNT(*) "
                    "FROM population GROUP BY band", TABLES)
    spark = checked.sql_for("spark")
    assert "DIV" in spark and "`__gs_contributors`" in spark
    assert checked.sql_for("duckdb") == checked.sql


def test_k_is_kept_and_must_be_positive() -> None:
    assert check("SELECT COUNT(*) FROM population", TABLES, k=25).k == 25
    with pytest.raises(ValueError):
        check("SELECT COUNT(*) FROM population", TABLES, k=0)


def test_names_are_case_insensitive_like_duckdb() -> None:
    assert verdict("SELECT COUNTY, count(*) FROM Population GROUP BY County") == OK


DP_CASES = [
    ("SELECT county, COUNT(*) AS n FROM population GROUP BY county", OK),
    ("SELECT county, gender, COUNT(*) AS n, AVG(annual_income) AS a, SUM(annual_income) AS s "
     "FROM population WHERE birth_date < DATE '2000-01-01' GROUP BY county, gender", OK),
    ("SELECT COUNT(*) AS n FROM population", OK),
    ("SELECT COUNT(annual_income) AS n FROM population", OK),
    ("SELECT county, SUM(pay_base) FROM insurance GROUP BY county", R.DP_BOUNDS_MISSING),
    ("SELECT year, SUM(pay_base) FROM insurance GROUP BY year", R.DP_BOUNDS_MISSING),
    ("SELECT p.county, COUNT(*) FROM population p JOIN insurance i ON p.id_no = i.id_no "
     "GROUP BY 1", R.DP_UNSUPPORTED),
    ("WITH t AS (SELECT county FROM population) SELECT county, COUNT(*) FROM t GROUP BY 1",
     R.DP_UNSUPPORTED),
    ("SELECT county, COUNT(*) FROM population GROUP BY county HAVING COUNT(*) > 5",
     R.DP_UNSUPPORTED),
    ("SELECT county, SUM(annual_income) / COUNT(*) FROM population GROUP BY county",
     R.DP_UNSUPPORTED),
    ("SELECT county, COUNT(DISTINCT gender) FROM population GROUP BY county", R.DP_UNSUPPORTED),
    ("SELECT county, SUM(annual_income * 2) FROM population GROUP BY county", R.DP_UNSUPPORTED),
    ("SELECT county, MAX(birth_date) FROM population GROUP BY county", R.DP_UNSUPPORTED),
    ("SELECT county FROM population GROUP BY county", R.DP_UNSUPPORTED),
    ("SELECT county, COUNT(*) FROM (SELECT county FROM population) s GROUP BY 1",
     R.DP_UNSUPPORTED),
    ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", R.FORBIDDEN_FUNCTION),
    ("SELECT SUM(CASE WHEN id_no = 'x' THEN annual_income END) FROM population",
     R.DP_UNSUPPORTED),
    ("SELECT COUNT(*) FROM population WHERE id_no = 'x'", R.PROTECTED_COLUMN_IN_FILTER),
    ("SELECT county, MAX(annual_income) FROM population GROUP BY county", R.DP_UNSUPPORTED),
]


@pytest.mark.parametrize(("sql", "expected"), DP_CASES)
def test_dp_verdict(sql: str, expected: str) -> None:
    assert verdict(sql, dp=True) == expected


def test_dp_plan_and_sql_bound_each_contributor_to_one_row_and_clamp() -> None:
    checked = check("SELECT county, COUNT(*) AS n, AVG(annual_income) AS a FROM population "
                    "WHERE gender = 'F' GROUP BY county", TABLES, dp=True)
    plan = checked.dp
    assert plan is not None and plan.table == "population" and plan.group_keys == ["county"]
    assert [(a.output, a.kind, a.column, a.bounds) for a in plan.aggregates] == [
        ("n", "count", None, None), ("a", "avg", "annual_income", (0.0, 500000.0))]
    assert 'QUALIFY ROW_NUMBER() OVER (PARTITION BY "id_no") = 1' in checked.sql
    assert "LEAST(GREATEST(CAST(population.annual_income AS DOUBLE), 0.0), 500000.0)" in \
        checked.sql
    # the filter runs before one row per contributor is chosen
    assert checked.sql.index("WHERE gender = 'F'") < checked.sql.index("QUALIFY")


def test_check_and_rewrite_are_fast() -> None:
    """Not a timing assertion on the machine's speed: a gross regression guard (100 ms)."""
    sql = ("SELECT (2026 - year(birth_date)) // 10 * 10 AS band, gender, COUNT(*), "
           "AVG(annual_income) FROM population WHERE county LIKE '1401%' GROUP BY 1, 2 "
           "HAVING COUNT(*) > 5 ORDER BY 1")
    start = time.perf_counter()
    for _ in range(20):
        check(sql, TABLES)
    assert (time.perf_counter() - start) / 20 < 0.1


def test_declared_rows_per_contributor_bounds_the_count_alone_and_joins_count_distinct() -> None:
    from dataclasses import replace

    tables = {**TABLES, "population": replace(POPULATION, rows_per_contributor=1),
              "insurance": replace(INSURANCE, rows_per_contributor=4)}
    alone = check("SELECT county, COUNT(*) FROM population GROUP BY 1", tables)
    assert f'COUNT(*) AS "{CONTRIBUTORS}"' in alone.sql and "DISTINCT" not in alone.sql
    several = check("SELECT year, SUM(pay_base) FROM insurance GROUP BY 1", tables)
    assert f'CAST(CEIL(COUNT(*) / 4) AS BIGINT) AS "{CONTRIBUTORS}"' in several.sql
    joined = check("SELECT p.county, SUM(i.pay_base) FROM population p JOIN insurance i "
                   "ON p.id_no = i.id_no GROUP BY 1", tables)
    assert 'COUNT(DISTINCT "p"."id_no")' in joined.sql
    dp = check("SELECT county, COUNT(*) AS n FROM population GROUP BY 1", tables, dp=True)
    assert "QUALIFY" not in dp.sql
    dp_several = check("SELECT year, COUNT(*) AS n FROM insurance GROUP BY 1", tables, dp=True)
    assert "QUALIFY" in dp_several.sql


def test_the_outermost_aggregation_computes_outputs_and_having_in_the_release_step() -> None:
    checked = check("SELECT county, COUNT(*) AS n, ROUND(SUM(annual_income) / COUNT(*), 2) AS m "
                    "FROM population GROUP BY county HAVING SUM(annual_income) // COUNT(*) > 5",
                    TABLES)
    # the data query: keys, bare aggregates (each once), contributors; no HAVING
    assert checked.sql.startswith('SELECT population.county AS "__gs_g0", COUNT(*) AS "__gs_a0", '
                                  'SUM(population.annual_income) AS "__gs_a1", COUNT(DISTINCT')
    assert "HAVING" not in checked.sql
    assert checked.release_exprs == ('"__gs_g0"', '"__gs_a0"',
                                     'ROUND("__gs_a1" / "__gs_a0", 2)')
    assert checked.release_filter == '"__gs_a1" // "__gs_a0" > 5'
    assert checked.columns == ["county", "n", "m"]


def test_computations_on_row_values_cannot_fail() -> None:
    checked = check("SELECT (2026 - year(birth_date)) // 10 * 10 AS band, "
                    "SUM(CAST(annual_income AS INT) * 3) FROM population "
                    "WHERE county IN (1, 2) AND annual_income * 2 > 5 GROUP BY band", TABLES)
    sql = checked.sql
    assert "TRY((2026 - YEAR(population.birth_date)) // 10 * 10)" in sql
    assert "SUM(TRY(CAST(population.annual_income AS INT) * 3))" in sql
    assert "TRY(population.county IN (1, 2))" in sql
    assert "TRY(population.annual_income * 2) > 5" in sql
    # constants stay as they are (nothing in them depends on the data)
    assert "TRY(2" not in check("SELECT COUNT(*) FROM population WHERE birth_date > "
                                "DATE '2000-01-01'", TABLES).sql
