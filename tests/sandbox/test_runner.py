"""The sandbox runner: locked-down DuckDB, suppression by contributors, limits (Art. 14)."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongshu.sandbox.policy import Checked, Reason, Rejected, check
from gongshu.sandbox.runner import Limits, execute, run

from .test_policy import TABLES

LIMITS = Limits(memory_limit="256MB", timeout_seconds=20, max_rows=1000, threads=1)
COUNTIES = ["140105", "140106", "140107", "140108", "140109", "149901", "149902"]


def make_population(n: int = 3000, seed: int = 7) -> pa.Table:
    """One row per person; two counties are tiny (a handful of people)."""
    rng = np.random.default_rng(seed)
    county = rng.choice(COUNTIES[:5], n).astype(object)
    county[:3] = "149901"  # 3 people
    county[3:12] = "149902"  # 9 people
    births = [dt.date(1940, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 30000, n)]
    return pa.table({
        "id_no": [f"1401{i:014d}" for i in range(n)],
        "name": [f"n{i}" for i in range(n)],
        "gender": rng.choice(["M", "F"], n),
        "birth_date": births,
        "county": county.astype(str),
        "address": ["addr"] * n,
        "mobile": ["139"] * n,
        "annual_income": rng.integers(0, 400000, n),
    })


def make_insurance(population: pa.Table, seed: int = 8) -> pa.Table:
    """Several rows per person (one per year): rows are not contributors."""
    rng = np.random.default_rng(seed)
    ids = population.column("id_no").to_pylist()
    rows = {"id_no": [], "pay_base": [], "year": []}
    for i, person in enumerate(ids):
        for year in range(2020, 2020 + 1 + i % 4):
            rows["id_no"].append(person)
            rows["pay_base"].append(decimal.Decimal(int(rng.integers(3000, 20000))) / 10)
            rows["year"].append(year)
    return pa.table(rows, schema=pa.schema([("id_no", pa.string()),
                                            ("pay_base", pa.decimal128(10, 1)),
                                            ("year", pa.int64())]))


POP = make_population()
INS = make_insurance(POP)
DATA = {"population": POP, "insurance": INS}


def raw(sql: str) -> list[tuple]:
    con = duckdb.connect()
    con.register("population", POP)
    con.register("insurance", INS)
    return [tuple(r) for r in con.sql(sql).fetchall()]


def released(sql: str, k: int = 10, **kw) -> tuple[set[tuple], int]:
    result = run(check(sql, TABLES, k=k), DATA, limits=LIMITS, **kw)
    return {tuple(r) for r in result.rows}, result.suppressed_groups


def test_answers_equal_duckdb_minus_the_small_groups() -> None:
    rows, suppressed = released("SELECT county, COUNT(*) AS n, SUM(annual_income) AS s "
                                "FROM population GROUP BY county")
    everything = set(raw("SELECT county, COUNT(*), SUM(annual_income) FROM population "
                         "GROUP BY county"))
    small = {r for r in everything if r[0] == "149901" or r[0] == "149902"}
    assert rows == everything - small
    assert suppressed == 2


def test_contributors_not_rows_are_counted() -> None:
    # 149902 has 9 people but more than 10 insurance rows: still suppressed at k=10
    rows, suppressed = released("SELECT p.county, COUNT(*) AS n FROM population p JOIN "
                                "insurance i ON p.id_no = i.id_no GROUP BY p.county")
    raw_rows = dict(raw("SELECT p.county, COUNT(*) FROM population p JOIN insurance i "
                        "ON p.id_no = i.id_no GROUP BY 1"))
    assert raw_rows["149902"] >= 10
    assert "149902" not in {r[0] for r in rows}
    assert suppressed == 2
    assert {r[0]: r[1] for r in rows} == {c: n for c, n in raw_rows.items()
                                          if c not in ("149901", "149902")}


def test_whole_table_aggregate_is_one_group() -> None:
    rows, suppressed = released("SELECT COUNT(*), AVG(annual_income) FROM population "
                                "WHERE county = '149901'")
    assert rows == set() and suppressed == 1
    rows, _ = released("SELECT COUNT(*) FROM population WHERE county = '140105'")
    assert rows == set(raw("SELECT COUNT(*) FROM population WHERE county = '140105'"))


def test_limit_applies_after_suppression_and_order_is_kept() -> None:
    result = run(check("SELECT county, COUNT(*) AS n FROM population GROUP BY county "
                       "ORDER BY n ASC LIMIT 2", TABLES), DATA, limits=LIMITS)
    expected = raw("SELECT county, COUNT(*) AS n FROM population GROUP BY county "
                   "HAVING COUNT(DISTINCT id_no) >= 10 ORDER BY n LIMIT 2")
    assert [tuple(r) for r in result.rows] == expected
    assert result.suppressed_groups == 2
    assert result.columns == ["county", "n"]


def test_having_cannot_bring_back_a_small_group() -> None:
    rows, _ = released("SELECT county, COUNT(*) FROM population GROUP BY county "
                       "HAVING COUNT(*) < 10")
    assert rows == set()


def test_aggregating_cte_re_aggregated_keeps_k() -> None:
    rows, _ = released("WITH t AS (SELECT county, gender, COUNT(*) AS n FROM population "
                       "GROUP BY 1, 2) SELECT county, SUM(n) AS n FROM t GROUP BY county")
    counties = {r[0] for r in rows}
    # 149902 (9 people) never reaches 10 contributors, whatever its inner groups
    assert "149902" not in counties and "140105" in counties
    # passing groups through keeps each inner group's own count
    rows, _ = released("WITH t AS (SELECT county, COUNT(*) AS n FROM population "
                       "GROUP BY county) SELECT county, n * 2 AS twice FROM t WHERE n > 0")
    assert "149902" not in {r[0] for r in rows} and len(rows) == 5


def test_values_are_json_friendly() -> None:
    result = run(check("SELECT i.year, p.birth_date AS first_birth, "
                       "SUM(i.pay_base) AS s FROM population p JOIN insurance i "
                       "ON p.id_no = i.id_no GROUP BY 1, 2 ORDER BY 1", TABLES, k=1), DATA,
                 limits=LIMITS)
    year, first_birth, total = result.rows[0]
    assert isinstance(year, int) and isinstance(total, float)
    assert isinstance(first_birth, str) and dt.date.fromisoformat(first_birth)


def test_max_rows_truncates() -> None:
    limits = Limits(memory_limit="256MB", timeout_seconds=20, max_rows=3, threads=1)
    result = run(check("SELECT birth_date, COUNT(*) FROM population GROUP BY 1", TABLES, k=1),
                 DATA, limits=limits)
    assert len(result.rows) == 3 and result.truncated


def test_datasets_and_parquet_are_accepted(tmp_path) -> None:
    pq.write_table(POP, tmp_path / "p.parquet")
    dataset = pads.dataset(str(tmp_path / "p.parquet"), format="parquet")
    result = run(check("SELECT gender, COUNT(*) FROM population GROUP BY 1 ORDER BY 1", TABLES),
                 {"population": dataset}, limits=LIMITS)
    assert [tuple(r) for r in result.rows] == raw(
        "SELECT gender, COUNT(*) FROM population GROUP BY 1 ORDER BY 1")


def test_a_missing_table_is_refused() -> None:
    with pytest.raises(Rejected) as caught:
        run(check("SELECT COUNT(*) FROM insurance", TABLES), {"population": POP}, limits=LIMITS)
    assert caught.value.code == Reason.TABLE_NOT_AUTHORISED


# -- defence in depth: a hole in check() would still find a locked-down connection


def hole(sql: str, tables: list[str] | None = None) -> Checked:
    """A Checked as if the policy had let ``sql`` through."""
    return Checked(original=sql, sql=sql, columns=["x"], tables=tables or [], k=1,
                   suppress=False)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM glob('/etc/*')",
    "COPY (SELECT 1) TO '/tmp/gs_sandbox_leak.csv'",
    "ATTACH '/tmp/gs_sandbox.db' AS x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
])
def test_the_runner_connection_reaches_nothing(sql: str) -> None:
    with pytest.raises((duckdb.Error, Rejected)):
        execute(sql, {}, LIMITS)


def test_the_runner_runs_only_a_select() -> None:
    """Connections share one database: a statement that could leave something behind for the
    next query never runs, whatever the policy let through."""
    for sql in ("CREATE TABLE leftover AS SELECT 42 AS x", "CREATE MACRO m(a) AS a",
                "CREATE VIEW v AS SELECT 1", "SET threads = 1", "PRAGMA version"):
        with pytest.raises(Rejected) as caught:
            execute(sql, {}, LIMITS)
        assert caught.value.code == Reason.NOT_A_SELECT, sql
    with pytest.raises(Rejected):
        execute("SELECT * FROM leftover", {}, LIMITS)


def test_a_connection_sees_only_its_own_tables() -> None:
    """Queries running at once, each with its own table of the same name, each see theirs."""
    from concurrent.futures import ThreadPoolExecutor

    def total(n: int) -> int:
        table = pa.table({"x": list(range(n))})
        return int(execute("SELECT SUM(x) AS s FROM mine", {"mine": table},
                           LIMITS).column(0)[0].as_py())

    sizes = [10 + i for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(total, sizes)) == [n * (n - 1) // 2 for n in sizes]
    with pytest.raises(Rejected):  # nothing registered stays behind
        execute("SELECT * FROM mine", {}, LIMITS)


def test_only_the_authorised_tables_are_registered() -> None:
    with pytest.raises(Rejected) as caught:
        run(hole("SELECT COUNT(*) AS x, 1 AS __gs_contributors FROM insurance",
                 ["population"]), DATA, limits=LIMITS)
    assert caught.value.code == Reason.QUERY_FAILED


def test_several_statements_are_refused_by_the_runner_too() -> None:
    with pytest.raises(Rejected):
        execute("SELECT 1; SELECT 2", {}, LIMITS)


def test_a_long_query_is_stopped() -> None:
    limits = Limits(memory_limit="256MB", timeout_seconds=0.5, max_rows=10, threads=1)
    with pytest.raises(Rejected) as caught:
        run(hole("SELECT COUNT(*) AS x, 1 AS __gs_contributors FROM range(100000) a, "
                 "range(100000000) b"), {}, limits=limits)
    assert caught.value.code == Reason.RESOURCE_LIMIT
    assert caught.value.params["limit"] == "time"


def test_a_query_out_of_memory_is_stopped() -> None:
    limits = Limits(memory_limit="32MB", timeout_seconds=30, max_rows=10, threads=1)
    with pytest.raises(Rejected) as caught:
        run(hole("SELECT length(string_agg(repeat('x', 1000), '')) AS x, 1 AS __gs_contributors "
                 "FROM range(200000)"), {}, limits=limits)
    assert caught.value.code == Reason.RESOURCE_LIMIT


# -- properties


KEYS = {
    "gender": "gender",
    "county": "county",
    "band": "(2026 - year(birth_date)) // 10 * 10",
    "region": "substr(county, 1, 4)",
    "decade_born": "year(birth_date) // 10",
}
FILTERS = [
    "TRUE",
    "annual_income > {x}",
    "annual_income < {x}",
    "gender = 'F'",
    "county >= '14010{d}'",
    "birth_date < DATE '19{y}-01-01'",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.lists(st.sampled_from(sorted(KEYS)), min_size=0, max_size=3, unique=True),
       where=st.sampled_from(FILTERS), x=st.integers(0, 400000), d=st.integers(5, 9),
       y=st.integers(40, 99), k=st.integers(2, 40), join=st.booleans())
def test_no_released_group_has_fewer_than_k_contributors(keys, where, x, d, y, k, join) -> None:
    cond = where.format(x=x, d=d, y=y)
    select_keys = [f"{KEYS[name]} AS {name}" for name in keys]
    source = "population p JOIN insurance i ON p.id_no = i.id_no" if join else "population p"
    measure = "SUM(i.pay_base) AS s" if join else "SUM(annual_income) AS s"
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    sql = f"SELECT {', '.join(select_keys + ['COUNT(*) AS n', measure])} FROM {source} " \
          f"WHERE {cond}{group}"
    result = run(check(sql, TABLES, k=k), DATA, limits=LIMITS)
    # the truth, computed independently: distinct people per group
    truth_keys = ", ".join(f"{KEYS[name]}" for name in keys)
    truth = raw(f"SELECT {truth_keys + ', ' if keys else ''}COUNT(DISTINCT p.id_no) "
                f"FROM {source} WHERE {cond}{' GROUP BY ' + truth_keys if keys else ''}")
    people = {tuple(r[:-1]): r[-1] for r in truth}
    for row in result.rows:
        assert people[tuple(row[: len(keys)])] >= k, (sql, row)
    big = {key for key, count in people.items() if count >= k}
    assert {tuple(r[: len(keys)]) for r in result.rows} == big
    assert result.suppressed_groups == len(people) - len(big)


@settings(max_examples=25, deadline=None)
@given(person=st.integers(0, 2999), template=st.sampled_from([
    "SELECT SUM(CASE WHEN id_no = '{id}' THEN annual_income END) FROM population",
    "SELECT SUM(annual_income) FROM population WHERE id_no <> '{id}'",
    "SELECT SUM(annual_income) FROM population WHERE id_no = '{id}'",
    "SELECT county, SUM(annual_income) FROM population WHERE NOT (id_no = '{id}') GROUP BY 1",
    "SELECT SUM(annual_income) FILTER (WHERE id_no IN ('{id}')) FROM population",
    "SELECT SUM(IF(name = 'n{n}', annual_income, 0)) FROM population",
    "SELECT COUNT(*) FROM population WHERE name <> 'n{n}'",
    "SELECT SUM(annual_income * (id_no = '{id}')::INT) FROM population",
    "SELECT SUM(i.pay_base) FROM population p JOIN insurance i ON p.id_no = i.id_no "
    "AND i.id_no = '{id}'",
]))
def test_singling_out_and_differencing_by_identifier_are_refused(person, template) -> None:
    sql = template.format(id=f"1401{person:014d}", n=person)
    with pytest.raises(Rejected) as caught:
        check(sql, TABLES)
    assert caught.value.code in (Reason.PROTECTED_COLUMN_IN_FILTER,
                                 Reason.COLUMN_NOT_RELEASABLE)


def test_rows_per_contributor_is_measured() -> None:
    from gongshu.sandbox.runner import rows_per_contributor

    assert rows_per_contributor(POP, "id_no", LIMITS) == 1
    assert rows_per_contributor(INS, "id_no", LIMITS) == 4


@settings(max_examples=25, deadline=None)
@given(year=st.integers(2019, 2024), k=st.integers(2, 40), by_year=st.booleans())
def test_a_declared_rows_per_contributor_never_releases_a_small_group(year, k, by_year) -> None:
    from dataclasses import replace

    tables = {**TABLES, "insurance": replace(TABLES["insurance"], rows_per_contributor=4)}
    group = " GROUP BY year" if by_year else ""
    sql = f"SELECT {'year, ' if by_year else ''}SUM(pay_base) AS s FROM insurance " \
          f"WHERE year >= {year}{group}"
    result = run(check(sql, tables, k=k), DATA, limits=LIMITS)
    people = dict(raw(f"SELECT {'year' if by_year else '0'}, COUNT(DISTINCT id_no) FROM "
                      f"insurance WHERE year >= {year} GROUP BY 1"))
    for row in result.rows:
        assert people[row[0] if by_year else 0] >= k


def test_errors_on_a_small_group_cannot_leak_it() -> None:
    # 149901 has 3 people: COUNT(*) - 3 is 0 there; computed after suppression, never on it
    result = run(check("SELECT county, COUNT(*) // (COUNT(*) - 3) AS x FROM population "
                       "GROUP BY county", TABLES), DATA, limits=LIMITS)
    assert result.suppressed_groups == 2 and len(result.rows) == 5
    # an overflow on one member's value gives NULL, not an error
    result = run(check("SELECT county, COUNT(*) AS n, SUM(annual_income * 4611686018427387904) "
                       "AS s FROM population GROUP BY county", TABLES), DATA, limits=LIMITS)
    assert all(row[2] is None or isinstance(row[2], float | int) for row in result.rows)
    # a bad cast of a member's value likewise
    result = run(check("SELECT gender, COUNT(*) FROM population WHERE CAST(county || 'x' AS INT) "
                       "IS NULL GROUP BY 1", TABLES), DATA, limits=LIMITS)
    assert len(result.rows) == 2


def test_having_does_not_change_the_count_of_suppressed_groups() -> None:
    for having in ("SUM(annual_income) > 1e15", "SUM(annual_income) >= 0"):
        _, suppressed = released(f"SELECT county, COUNT(*) FROM population GROUP BY county "
                                 f"HAVING {having}")
        assert suppressed == 2


def test_a_failing_query_does_not_pass_on_duckdbs_message() -> None:
    broken = hole("SELECT CAST(id_no || 'x' AS INT) AS x, 1 AS __gs_contributors FROM population",
                  ["population"])
    with pytest.raises(Rejected) as caught:
        run(broken, DATA, limits=LIMITS)
    assert caught.value.code == Reason.QUERY_FAILED
    assert "1401" not in caught.value.message and not caught.value.fragment


def test_a_type_error_found_before_reading_data_is_explained() -> None:
    with pytest.raises(Rejected) as caught:
        run(check("SELECT county, SUM(birth_date) FROM population GROUP BY 1", TABLES), DATA,
            limits=LIMITS)
    assert caught.value.code == Reason.QUERY_FAILED
    assert "sum" in caught.value.fragment.lower()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inner=st.lists(st.sampled_from(["county", "gender", "band"]), min_size=1, max_size=3,
                      unique=True),
       outer=st.sampled_from(["county", "gender", "band", None]), k=st.integers(2, 60),
       x=st.integers(0, 400000))
def test_re_aggregating_a_cte_never_releases_a_small_group(inner, outer, k, x) -> None:
    if outer is not None and outer not in inner:
        inner = [*inner, outer]
    exprs = {"county": "county", "gender": "gender",
             "band": "(2026 - year(birth_date)) // 10 * 10"}
    keys = ", ".join(f"{exprs[c]} AS {c}" for c in inner)
    sql = (f"WITH t AS (SELECT {keys}, COUNT(*) AS n, SUM(annual_income) AS s FROM population "
           f"WHERE annual_income > {x} GROUP BY {', '.join(inner)}) "
           f"SELECT {outer + ', ' if outer else ''}SUM(n) AS n, SUM(s) AS s FROM t"
           f"{' GROUP BY ' + outer if outer else ''}")
    result = run(check(sql, TABLES, k=k), DATA, limits=LIMITS)
    truth = dict(raw(f"SELECT {exprs[outer] if outer else '0'} AS g, COUNT(DISTINCT id_no) "
                     f"FROM population WHERE annual_income > {x} GROUP BY g"))
    for row in result.rows:
        assert truth[row[0] if outer else 0] >= k, (sql, row)
        assert row[-2] == truth[row[0] if outer else 0]  # one row per person: n sums to it
