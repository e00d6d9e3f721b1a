"""The DuckDB engine: SQL in, Arrow out, thread-safe, and lockable for the sandbox (Art. 14)."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from gongshu.core.runtime import Runtime
from gongshu.engine import Engine, QueryError, QueryTimeout, write_parquet
from gongshu.engine.duckdb import DuckDBEngine

PEOPLE = pa.table(
    {
        "name": ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"],
        "city": ["太原", "太原", "大同", "大同", "长治", "太原"],
        "income": [5200, 6100, 4800, 5100, 4300, 7000],
    }
)


@pytest.fixture
def parquet_dir(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    write_parquet(PEOPLE.slice(0, 3), root / "people" / "v1", fsync=False)
    write_parquet(PEOPLE.slice(3), root / "people" / "v1b", fsync=False)
    return root


@pytest.fixture(params=["open", "hardened"])
def engine(request: pytest.FixtureRequest, parquet_dir: Path) -> DuckDBEngine:
    """The same behaviour is expected with and without file system access for SQL."""
    hardened = request.param == "hardened"
    eng = DuckDBEngine(
        parquet_dir,
        memory_limit="256MB",
        threads=2,
        enable_external_access=not hardened,
        lock_configuration=hardened,
    )
    yield eng
    eng.close()


def test_it_is_an_engine(engine: DuckDBEngine) -> None:
    assert isinstance(engine, Engine)


def test_parquet_paths_are_queryable_with_parameters(engine: DuckDBEngine) -> None:
    engine.register("people", ["people/v1", "people/v1b"])  # relative to parquet_dir
    result = engine.query(
        "SELECT city, count(*) AS n, sum(income) AS total FROM people "
        "WHERE income > ? GROUP BY city ORDER BY city",
        [4500],
    )
    assert result.to_pylist() == [
        {"city": "大同", "n": 2, "total": 9900},
        {"city": "太原", "n": 3, "total": 18300},
    ]
    named = engine.query("SELECT name FROM people WHERE city = $c ORDER BY name", {"c": "长治"})
    assert named.column("name").to_pylist() == ["陈静"]


def test_arrow_tables_and_datasets_are_queryable(engine: DuckDBEngine, parquet_dir: Path) -> None:
    engine.register("t", PEOPLE)
    engine.register("d", pads.dataset(str(parquet_dir / "people" / "v1")))
    engine.register("b", PEOPLE.to_batches()[0])
    assert engine.query("SELECT count(*) AS n FROM t").column("n")[0].as_py() == 6
    assert engine.query("SELECT count(*) AS n FROM d").column("n")[0].as_py() == 3
    assert engine.query("SELECT max(income) AS m FROM b").column("m")[0].as_py() == 7000


def test_register_replaces_and_unregister_removes(engine: DuckDBEngine) -> None:
    engine.register("people", "people/v1")
    engine.register("people", PEOPLE)  # a path before, Arrow now
    assert engine.query("SELECT count(*) AS n FROM people").column("n")[0].as_py() == 6
    engine.register("people", "people/v1b")
    assert engine.query("SELECT count(*) AS n FROM people").column("n")[0].as_py() == 3
    engine.unregister("people")
    with pytest.raises(QueryError) as err:
        engine.query("SELECT * FROM people")
    assert err.value.code == "query_invalid"


@pytest.mark.parametrize("name", ["1abc", "a b", 'x"; DROP VIEW y; --', ""])
def test_table_names_are_plain_identifiers(engine: DuckDBEngine, name: str) -> None:
    with pytest.raises(QueryError) as err:
        engine.register(name, PEOPLE)
    assert err.value.code == "engine_bad_name"


def test_missing_files_are_refused_at_registration(engine: DuckDBEngine) -> None:
    with pytest.raises(QueryError) as err:
        engine.register("nothing", "no/such/dir.parquet")
    assert err.value.code == "engine_no_files"


def test_streaming_yields_batches_of_the_requested_size(engine: DuckDBEngine) -> None:
    reader = engine.query_batches("SELECT range AS x FROM range(25000)", batch_size=10_000)
    assert isinstance(reader, pa.RecordBatchReader)
    sizes = [b.num_rows for b in reader]
    assert sum(sizes) == 25_000 and max(sizes) <= 10_000 and len(sizes) >= 3


def test_a_stream_writes_straight_to_parquet(engine: DuckDBEngine, tmp_path: Path) -> None:
    reader = engine.query_batches(
        "SELECT range AS x, range % 7 AS k FROM range(30000)", batch_size=4096
    )
    stats = engine.write_parquet(reader, tmp_path / "out", max_rows_per_file=10_000, fsync=False)
    assert stats.rows == 30_000
    assert [p.name for p in stats.files] == [
        f"part-0000{i}.parquet" for i in range(len(stats.files))
    ]
    assert len(stats.files) >= 3
    assert stats.bytes == sum(p.stat().st_size for p in stats.files)
    back = pq.read_table(tmp_path / "out")
    assert back.num_rows == 30_000 and sorted(back.column("x").to_pylist()) == list(range(30000))


def test_only_one_statement_per_query(engine: DuckDBEngine) -> None:
    engine.register("people", PEOPLE)
    with pytest.raises(QueryError) as err:
        engine.query("SELECT 1; DROP VIEW people")
    assert err.value.code == "query_one_statement"
    assert engine.query("SELECT count(*) AS n FROM people").column("n")[0].as_py() == 6


def test_bad_sql_is_a_query_error(engine: DuckDBEngine) -> None:
    with pytest.raises(QueryError) as err:
        engine.query("SELEC 1")
    assert err.value.code == "query_invalid"


def test_threads_share_one_engine(engine: DuckDBEngine) -> None:
    engine.register("people", PEOPLE)
    results: list[int] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(20):
                t = engine.query("SELECT sum(income) + ? AS s FROM people", [i])
                results.append(t.column("s")[0].as_py() - i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert results == [32500] * 160


def test_closed_engine_refuses_work(parquet_dir: Path) -> None:
    eng = DuckDBEngine(parquet_dir, memory_limit="256MB", threads=1)
    eng.close()
    eng.close()  # twice is fine
    with pytest.raises(QueryError) as err:
        eng.query("SELECT 1")
    assert err.value.code == "engine_closed"


# ------------------------------------------------------------------------------- hardening


@pytest.fixture
def sandboxed(parquet_dir: Path) -> DuckDBEngine:
    eng = DuckDBEngine(
        parquet_dir,
        memory_limit="256MB",
        threads=2,
        enable_external_access=False,
        lock_configuration=True,
        timeout=0.5,
    )
    eng.register("people", "people")
    yield eng
    eng.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('{root}/people/v1/part-00000.parquet')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "COPY (SELECT * FROM people) TO '{root}/leak.csv'",
        "ATTACH '{root}/other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET memory_limit = '64GB'",
        "RESET lock_configuration",
    ],
)
def test_sandboxed_sql_reaches_nothing_outside(
    sandboxed: DuckDBEngine, parquet_dir: Path, sql: str
) -> None:
    with pytest.raises(QueryError):
        sandboxed.query(sql.format(root=parquet_dir))
    assert not (parquet_dir / "leak.csv").exists()
    # and the registered data is still there to use
    assert sandboxed.query("SELECT count(*) AS n FROM people").column("n")[0].as_py() == 6


def test_sandboxed_query_stops_at_its_time_limit(sandboxed: DuckDBEngine) -> None:
    with pytest.raises(QueryTimeout) as err:
        sandboxed.query("SELECT count(*) FROM range(1000000000000) a")
    assert err.value.code == "query_timeout"
    assert sandboxed.query("SELECT 1 AS one").column("one")[0].as_py() == 1


def test_extensions_are_never_fetched(engine: DuckDBEngine) -> None:
    """Only DuckDB's built-in extensions exist here; nothing is installed or auto-loaded."""
    settings = engine.query(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('autoinstall_known_extensions', 'autoload_known_extensions')"
    ).to_pylist()
    assert {s["value"] for s in settings} == {"false"} and len(settings) == 2


# ------------------------------------------------------------------------------- runtime


def test_the_runtime_builds_its_engine_from_settings(runtime: Runtime) -> None:
    eng = runtime.data_engine
    assert isinstance(eng, DuckDBEngine) and eng.parquet_dir == runtime.settings.parquet_dir
    limit = eng.query("SELECT current_setting('threads') AS t").column("t")[0].as_py()
    assert int(limit) == runtime.settings.duckdb_threads
    assert runtime.data_engine is eng
