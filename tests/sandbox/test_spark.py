"""The sandbox on Spark gives the same answers as on DuckDB (same policy, same release step)."""

from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest

from gongshu.sandbox import spark as sandbox_spark
from gongshu.sandbox.policy import Reason, Rejected, check
from gongshu.sandbox.runner import Limits, run

from .test_policy import TABLES
from .test_runner import DATA

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sandbox_spark.available(),
                       reason="pyspark is not installed (pip install gongshu[spark])"),
    pytest.mark.skipif(not (shutil.which("java") or os.environ.get("JAVA_HOME")),
                       reason="Spark needs Java 17 (no java on PATH, no JAVA_HOME)"),
]

LIMITS = Limits(memory_limit="256MB", timeout_seconds=120, max_rows=1000, threads=1)

QUERIES = [
    "SELECT county, COUNT(*) AS n, SUM(annual_income) AS s, AVG(annual_income) AS a "
    "FROM population GROUP BY county ORDER BY county",
    "SELECT (2026 - year(birth_date)) // 10 * 10 AS band, gender, COUNT(*) AS n "
    "FROM population WHERE annual_income > 100000 GROUP BY band, gender ORDER BY 1, 2",
    "SELECT substr(county, 1, 4) AS region, COUNT(*) AS n FROM population GROUP BY 1 "
    "HAVING COUNT(*) > 5 ORDER BY n DESC LIMIT 3",
    "SELECT p.county, i.year, SUM(i.pay_base) AS s, COUNT(*) AS n FROM population p "
    "JOIN insurance i ON p.id_no = i.id_no GROUP BY p.county, i.year ORDER BY 1, 2",
    "WITH t AS (SELECT county, gender, COUNT(*) AS n FROM population GROUP BY 1, 2) "
    "SELECT county, SUM(n) AS n FROM t GROUP BY county ORDER BY county",
    "SELECT COUNT(*) AS n, COUNT(DISTINCT county) AS counties FROM population "
    "WHERE gender = 'F'",
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark")
    out = {}
    for name, table in DATA.items():
        path = folder / f"{name}.parquet"
        pq.write_table(table, path)
        out[name] = [str(path)]
    yield out
    sandbox_spark.stop()


def close(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return a == b


@pytest.mark.parametrize("sql", QUERIES)
def test_spark_answers_like_duckdb(sources, sql: str) -> None:
    checked = check(sql, TABLES)
    on_duckdb = run(checked, DATA, limits=LIMITS)
    on_spark = sandbox_spark.run_spark(checked, sources, limits=LIMITS)
    assert on_spark.columns == on_duckdb.columns
    assert on_spark.suppressed_groups == on_duckdb.suppressed_groups
    assert len(on_spark.rows) == len(on_duckdb.rows) > 0
    for left, right in zip(on_spark.rows, on_duckdb.rows, strict=True):
        assert all(close(a, b) for a, b in zip(left, right, strict=True)), (left, right)


def test_spark_refuses_a_table_it_was_not_given(sources) -> None:
    checked = check("SELECT COUNT(*) FROM insurance", TABLES)
    with pytest.raises(Rejected) as caught:
        sandbox_spark.run_spark(checked, {"population": sources["population"]}, limits=LIMITS)
    assert caught.value.code == Reason.TABLE_NOT_AUTHORISED
