"""The runtime: one per process, holding what every request, command and job shares.

Built from ``Settings``; owns the metadata store, the key store, the audit checkpoint and the
data-plane engine. Nothing here is a global: tests build as many runtimes as they need, each
on its own data directory.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from gongshu.core.audit import CheckpointStore, continuation_problem
from gongshu.core.config import Settings
from gongshu.core.db import Database
from gongshu.core.security import KeyStore

if TYPE_CHECKING:
    from gongshu.engine.base import Engine

log = logging.getLogger("gongshu")


class Runtime:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        data_dir = self.settings.resolved_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.keys = KeyStore(self.settings.keys_dir)
        log_path = self.settings.audit_checkpoint_log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.audit_checkpoints = CheckpointStore(
            self.settings.audit_checkpoint_path,
            lambda: self.keys.signing_key("audit"),
            log_path=log_path,
            continues=self._chain_continues,
        )
        self.db = Database(self.settings.effective_database_url, runtime=self,
                           pool_size=self.settings.effective_db_pool_size,
                           pool_timeout=max(self.settings.request_queue_seconds, 1.0))

    def _chain_continues(
        self, since: tuple[int, str], head: tuple[int, str]
    ) -> tuple[int, str] | None:
        """What the checkpoint signer asks before it signs ``head``: do the events after the
        last signed checkpoint ``since`` still chain to it (``audit.continuation_problem``)?"""
        with self.db.engine.connect() as conn:  # a read, without a Session's bookkeeping
            return continuation_problem(conn, since, head)

    @cached_property
    def data_engine(self) -> Engine:
        from gongshu.engine.duckdb import DuckDBEngine

        return DuckDBEngine(
            self.settings.parquet_dir,
            memory_limit=self.settings.duckdb_memory_limit,
            threads=self.settings.duckdb_threads,
            timeout=self.settings.duckdb_query_timeout_seconds or None,
        )

    def close(self) -> None:
        """Sign the last audit checkpoint, then release the engines."""
        self.audit_checkpoints.close()
        if "data_engine" in self.__dict__:
            self.data_engine.close()
        self.db.dispose()
