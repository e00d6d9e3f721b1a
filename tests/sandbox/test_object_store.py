"""The sandbox with the library's datasets in an S3-compatible bucket (a real SeaweedFS
server): DuckDB reads the versions through Arrow; Spark, which opens files itself, reads this
machine's copy of them (``storage_cache_mb``), and a version too big for that copy is refused
with a clear reason instead of a Spark stack trace."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from gongshu.core.config import Settings
from gongshu.core.errors import InvalidState
from gongshu.library import service as library
from sandbox.test_queries import BY_COUNTY


@pytest.fixture
def settings(settings: Settings, s3_prefix: dict[str, Any]) -> Settings:
    return Settings(**{**settings.model_dump(), **s3_prefix})


@pytest.fixture
def authorised(world: Any) -> Any:
    world.authorise(tables={"population": world.population, "insurance": world.insurance})
    world.set_population_policy()
    return world


def test_local_files_of_a_version_in_the_bucket(runtime: Any, authorised: Any, people: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    steward = people.steward.actor
    entry_id = authorised.population.id
    with runtime.db.transaction(write=False) as db:
        _, remote = library.open_dataset(steward, db, entry_id=entry_id)
        _, local = library.open_dataset(steward, db, entry_id=entry_id, local=True)
    assert not all(os.path.exists(f) for f in remote.files)  # keys in the bucket
    cache = runtime.settings.resolved_data_dir / "cache"
    assert local.files and all(os.path.exists(f) and str(cache) in f for f in local.files)
    assert local.to_table().sort_by("id_no").equals(remote.to_table().sort_by("id_no"))
    monkeypatch.setattr(runtime.settings, "storage_cache_mb", 0)
    with runtime.db.transaction(write=False) as db, pytest.raises(InvalidState) as refused:
        library.open_dataset(steward, db, entry_id=entry_id, local=True)
    assert refused.value.code == "dataset_not_local"


@pytest.mark.slow
def test_spark_and_duckdb_answer_alike_from_the_bucket(runtime: Any, authorised: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from gongshu.sandbox import spark

    if not spark.available() or not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("PySpark or Java is not installed")
    duck = authorised.query(sql=BY_COUNTY)
    assert duck.status == "ok", (duck.code, duck.message)
    monkeypatch.setattr(runtime.settings, "sandbox_engine", "spark")
    on_spark = authorised.query(sql=BY_COUNTY)
    assert on_spark.status == "ok", (on_spark.code, on_spark.message)
    assert [r[:2] for r in on_spark.rows] == [r[:2] for r in duck.rows]
