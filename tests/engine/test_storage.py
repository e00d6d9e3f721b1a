"""Versioned dataset storage: whole versions appear atomically, failures leave no trace."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pytest

from gongshu.core.errors import InvalidState, NotFound, ValidationFailed
from gongshu.engine.duckdb import DuckDBEngine
from gongshu.engine.storage import CURRENT, DatasetStore, Location

SCHEMA = pa.schema([("region_code", pa.string()), ("population", pa.int64())])


def table(*rows: tuple[str, int]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], SCHEMA)


V1 = table(("140100", 5_430_000), ("140200", 3_100_000))
V2 = table(("140100", 5_440_000), ("140200", 3_090_000), ("140300", 1_320_000))


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DatasetStore:
    """The same store on a local directory and in a real S3-compatible server (SeaweedFS)."""
    if request.param == "local":
        return DatasetStore(tmp_path / "datasets")
    server = request.getfixturevalue("s3_server")
    location = Location(server.filesystem(), f"{server.bucket}/{tmp_path.name}-{os.getpid()}",
                        "s3://test")
    return DatasetStore(location)


@pytest.fixture
def local_store(tmp_path: Path) -> DatasetStore:
    return DatasetStore(tmp_path / "datasets")


def entries(store: DatasetStore, dataset_id: str) -> list[str]:
    return sorted(PurePosixPath(i.path).name for i in store.location.listing(dataset_id)
                  if PurePosixPath(i.path).name != ".lock")


def test_versions_are_numbered_and_the_newest_is_current(store: DatasetStore) -> None:
    assert store.current("population") is None
    assert store.versions("population") == []
    first = store.write("population", V1, metadata={"source": "统计局"})
    second = store.write("population", V2)
    assert (first.version, second.version) == (1, 2)
    assert (first.rows, second.rows) == (2, 3)
    assert first.metadata == {"source": "统计局"}
    assert store.current("population") == second
    assert [v.version for v in store.versions("population")] == [1, 2]
    assert store.read("population").equals(V2)
    assert store.read("population", 1).equals(V1)
    assert store.location.get(f"population/{CURRENT}").strip() == b"v2"  # type: ignore[union-attr]
    assert entries(store, "population") == [CURRENT, "v1", "v2"]
    assert all(p.name.startswith("part-") for p in first.file_paths)


def test_layout(store: DatasetStore) -> None:
    version = store.write("population", V1)
    assert version.path == store.root / "population" / "v1"
    assert entries(store, "population/v1") == ["_version.json", "part-00000.parquet"]
    assert version.arrow_dataset().to_table().equals(V1)


def _failing_batches(after: int) -> Iterator[pa.RecordBatch]:
    for i, batch in enumerate(V2.to_batches(max_chunksize=1)):
        if i == after:
            raise OSError("disk full (simulated)")
        yield batch


def test_a_write_that_fails_midway_leaves_the_previous_version_current(
    store: DatasetStore,
) -> None:
    store.write("population", V1)
    reader = pa.RecordBatchReader.from_batches(SCHEMA, _failing_batches(after=2))
    with pytest.raises(OSError, match="disk full"):
        store.write("population", reader)
    assert store.current("population").version == 1  # type: ignore[union-attr]
    assert store.read("population").equals(V1)
    assert [v.version for v in store.versions("population")] == [1]
    assert entries(store, "population") == [CURRENT, "v1"]  # no temporary left behind
    # and the next good write takes the next number
    assert store.write("population", V2).version == 2


def test_a_failing_first_write_leaves_no_dataset(store: DatasetStore) -> None:
    reader = pa.RecordBatchReader.from_batches(SCHEMA, _failing_batches(after=0))
    with pytest.raises(OSError):
        store.write("population", reader)
    assert store.current("population") is None
    assert entries(store, "population") == []


def test_a_crash_before_publishing_is_invisible_and_cleaned_up(store: DatasetStore) -> None:
    """A killed writer leaves its unfinished version (no manifest): never read, its number
    not given again, removed when old."""
    store.write("population", V1)
    store.location.put("population/v2/_writing", b"")
    store.location.put("population/v2/part-00000.parquet", b"half a file")
    assert [v.version for v in store.versions("population")] == [1]
    with pytest.raises(NotFound):
        store.get("population", 2)
    assert store.current("population").version == 1  # type: ignore[union-attr]
    assert store.clean_temporary("population") == 0  # young: could be a live writer
    assert store.clean_temporary("population", older_than=-60) == 1
    assert entries(store, "population") == [CURRENT, "v1"]
    assert store.write("population", V2).version == 2
    store.location.put("other/v1/_writing", b"")
    assert store.clean_all_temporary(older_than=-60) == 1
    assert entries(store, "other") == []


def test_temporary_directories_of_the_earlier_layout_are_cleaned_up(
    local_store: DatasetStore,
) -> None:
    local_store.write("population", V1)
    leftover = Path(local_store.root) / "population" / ".tmp-deadbeef"
    leftover.mkdir()
    (leftover / "part-00000.parquet").write_bytes(b"half a file")
    assert local_store.clean_temporary("population") == 0
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    assert local_store.clean_temporary("population") == 1
    assert entries(local_store, "population") == [CURRENT, "v1"]


def test_readers_keep_their_version_while_a_new_one_is_published(store: DatasetStore) -> None:
    store.write("population", V1)
    held = store.dataset("population")  # a reader opened version 1
    store.write("population", V2)
    assert held.to_table().equals(V1)
    assert store.read("population").equals(V2)


def test_set_current_rolls_back_without_touching_versions(store: DatasetStore) -> None:
    store.write("population", V1)
    store.write("population", V2)
    store.set_current("population", 1)
    assert store.read("population").equals(V1)
    assert [v.version for v in store.versions("population")] == [1, 2]
    with pytest.raises(NotFound):
        store.set_current("population", 7)
    assert store.current("population").version == 1  # type: ignore[union-attr]
    assert store.write("population", V2).version == 3  # numbers never repeat


def test_empty_data_keeps_its_columns(store: DatasetStore) -> None:
    version = store.write("population", SCHEMA.empty_table())
    assert version.rows == 0
    assert store.read("population").schema == SCHEMA


def test_large_writes_roll_over_into_several_parts(store: DatasetStore) -> None:
    big = pa.table({"x": pa.array(range(25_000), pa.int64())})
    version = store.write("big", big, max_rows_per_file=10_000)
    assert len(version.files) == 3 and version.rows == 25_000
    assert store.read("big").column("x").to_pylist() == list(range(25_000))


@pytest.mark.parametrize("bad", ["", "..", "../etc", "a/b", "x" * 200, ".hidden"])
def test_dataset_ids_cannot_escape_the_root(store: DatasetStore, bad: str) -> None:
    with pytest.raises(ValidationFailed):
        store.write(bad, V1)


def test_unknown_version_is_not_found(store: DatasetStore) -> None:
    with pytest.raises(NotFound):
        store.get("population")
    store.write("population", V1)
    with pytest.raises(NotFound):
        store.get("population", 2)


def test_a_version_registers_in_the_engine(store: DatasetStore, tmp_path: Path) -> None:
    store.write("population", V1)
    store.write("population", V2)
    with DuckDBEngine(tmp_path, memory_limit="256MB", threads=1) as engine:
        used = store.register(engine, "pop", "population")
        assert used.version == 2
        total = engine.query("SELECT sum(population) AS s FROM pop").column("s")[0].as_py()
        assert total == sum(V2.column("population").to_pylist())
        store.register(engine, "pop_v1", "population", 1)
        assert engine.query("SELECT count(*) AS n FROM pop_v1").column("n")[0].as_py() == 2


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_writers_get_distinct_gapless_versions(store: DatasetStore) -> None:
    n = 8
    start = threading.Barrier(n)
    got: list[int] = []
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            start.wait()
            got.append(store.write("population", table(("140100", i))).version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(got) == list(range(1, n + 1))
    assert store.current("population").version == n  # type: ignore[union-attr]
    # every version holds exactly what its writer wrote
    written = sorted(store.read("population", v).column("population")[0].as_py() for v in got)
    assert written == list(range(n))


def _write_in_process(root: str, i: int) -> None:
    DatasetStore(Path(root)).write("population", table(("140100", 100 + i)))


def test_writers_in_separate_processes_get_distinct_versions(local_store: DatasetStore) -> None:
    """(Processes sharing an object store pass a database lock: tests/library.)"""
    store = local_store
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_in_process, args=(str(store.root), i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert [v.version for v in store.versions("population")] == [1, 2, 3, 4]


def test_discard_removes_an_unrecorded_version_but_never_the_current_one(
        store: DatasetStore) -> None:
    store.write("population", V1)
    store.write("population", V2)  # published; its ingest died before recording it
    with pytest.raises(InvalidState):
        store.discard("population", 2)
    store.set_current("population", 1)
    store.discard("population", 2)
    assert [v.version for v in store.versions("population")] == [1]
    assert store.read("population").equals(V1)
def test_a_lock_given_serialises_numbering_and_publishing(store: DatasetStore) -> None:
    held: list[str] = []

    @contextmanager
    def lock(dataset_id: str) -> Iterator[None]:
        held.append(dataset_id)
        yield

    locked = DatasetStore(store.location, lock=lock)
    assert locked.write("population", V1).version == 1
    locked.set_current("population", 1)
    assert held == ["population"] * 3  # numbering, publishing, the rollback


def test_the_configured_location(tmp_path: Path) -> None:
    from gongshu.core.config import Settings
    from gongshu.engine import dataset_store_of, storage_location

    default = Settings(data_dir=tmp_path / "d")
    assert dataset_store_of(default).root == default.parquet_dir
    other = Settings(data_dir=tmp_path / "d", storage_url=f"file:{tmp_path / 'store'}")
    assert storage_location(other).child("uploads").base == str(tmp_path / "store" / "uploads")
    s3 = Settings(data_dir=tmp_path / "d", storage_url="s3://bucket/pre/fix",
                  s3_endpoint="http://127.0.0.1:1", s3_access_key="a", s3_secret_key="s3cr3t-value")
    assert dataset_store_of(s3).root == PurePosixPath("bucket/pre/fix/datasets")
    assert "s3cr3t" not in repr(s3.s3_secret_key) and "s3cr3t" not in str(s3)
    with pytest.raises(ValueError):
        storage_location(Settings(data_dir=tmp_path / "d", storage_url="ftp://x"))


def test_an_object_stores_versions_are_read_from_a_local_copy(
    request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    from gongshu.engine.storage import VersionCache

    server = request.getfixturevalue("s3_server")
    location = Location(server.filesystem(), f"{server.bucket}/cache-{os.getpid()}-{tmp_path.name}",
                        "s3://test")
    cache = VersionCache(tmp_path / "cache", 10 * 1024 * 1024, keep_seconds=0)
    store = DatasetStore(location, cache=cache)
    first = store.write("population", V1)
    source = first.engine_source()
    assert isinstance(source, list) and all(Path(p).is_relative_to(tmp_path / "cache")
                                            for p in source)
    with DuckDBEngine(tmp_path, memory_limit="256MB", threads=1) as engine:
        engine.register("pop", source)
        assert engine.query("SELECT count(*) AS n FROM pop").column("n")[0].as_py() == 2
    assert store.get("population", 1).engine_source() == source  # fetched once
    second = store.write("population", V2)
    cache.max_bytes = second.bytes + 1  # room for one copy: the older one goes
    assert isinstance(second.engine_source(), list)
    assert not Path(source[0]).exists()
    cache.max_bytes = 10  # too big for the cache: read from the bucket through Arrow
    assert store.get("population", 2).engine_source().to_table().equals(V2)  # type: ignore[union-attr]
