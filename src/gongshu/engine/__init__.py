"""The data plane: SQL over Parquet and Arrow (``Engine``), and versioned dataset storage.

``runtime.data_engine`` is the process's engine (DuckDB; Spark comes with the sandbox);
``DatasetStore(settings.parquet_dir)`` keeps datasets as immutable Parquet versions.
"""

from gongshu.engine.base import (
    Engine,
    QueryError,
    QueryOutOfMemory,
    QueryTimeout,
    WriteStats,
    write_parquet,
)
from gongshu.engine.storage import DatasetStore, DatasetVersion

__all__ = [
    "DatasetStore",
    "DatasetVersion",
    "Engine",
    "QueryError",
    "QueryOutOfMemory",
    "QueryTimeout",
    "WriteStats",
    "write_parquet",
]
