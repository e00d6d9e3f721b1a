"""The data plane: SQL over Parquet and Arrow (``Engine``), and versioned dataset storage.

``runtime.data_engine`` is the process's engine (DuckDB; Spark comes with the sandbox);
``dataset_store_of(settings)`` keeps datasets as immutable Parquet versions, in the data
directory or an object store (``GONGSHU_STORAGE_URL``).
"""

from gongshu.engine.base import (
    Engine,
    QueryError,
    QueryOutOfMemory,
    QueryTimeout,
    WriteStats,
    write_parquet,
)
from gongshu.engine.storage import (
    DatasetStore,
    DatasetVersion,
    Location,
    dataset_store_of,
    storage_location,
)

__all__ = [
    "DatasetStore",
    "DatasetVersion",
    "Engine",
    "Location",
    "QueryError",
    "QueryOutOfMemory",
    "QueryTimeout",
    "WriteStats",
    "dataset_store_of",
    "storage_location",
    "write_parquet",
]
