"""Settings: environment variables ``GONGSHU_*``, an optional TOML file, documented defaults.

Every setting carries its description beside its default (``Field(description=…)``); a test
checks that ``docs/operations.md`` lists every one of them, so the documentation cannot drift.

Precedence (highest first): explicit keyword arguments, environment variables, the config file
(``GONGSHU_CONFIG`` or ``<data_dir>/gongshu.toml``), defaults.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _TomlSource(PydanticBaseSettingsSource):
    """Reads ``gongshu.toml``: from ``GONGSHU_CONFIG``, else from the data directory."""

    def _path(self) -> Path | None:
        explicit = os.environ.get("GONGSHU_CONFIG")
        if explicit:
            return Path(explicit)
        data_dir = os.environ.get("GONGSHU_DATA_DIR", "gongshu-data")
        candidate = Path(data_dir) / "gongshu.toml"
        return candidate if candidate.is_file() else None

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self._path()
        if path is None:
            return {}
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        return {k: v for k, v in data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGSHU_", extra="ignore")

    data_dir: Path = Field(
        Path("gongshu-data"),
        description="Directory holding the SQLite database, Parquet data, keys and the audit head checkpoint.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata store; default: SQLite file gongshu.db in the data directory. "
        "For PostgreSQL use postgresql+psycopg://user:password@host/dbname.",
    )
    host: str = Field("127.0.0.1", description="Address `gongshu serve` listens on.")
    port: int = Field(8000, description="Port `gongshu serve` listens on.")
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public URL of the platform, used in links (certificates, DCAT, emails).",
    )
    province_code: str = Field(
        "140000",
        description="GB/T 2260 code of the province this platform serves (140000 = Shanxi).",
    )
    default_locale: str = Field("zh-CN", description="Locale of the web UI for every visitor who has chosen none (zh-CN or en); the browser's Accept-Language is not consulted.")
    display_timezone: str = Field(
        "Asia/Shanghai", description="Time zone in which times are shown; they are stored in UTC."
    )
    catalog_review_days: int = Field(
        10, ge=1, description="Days a submitted catalog entry may wait for the bureau's review "
        "before the reviewer's home page and queue show it as overdue.")
    session_hours: int = Field(8, description="Lifetime of a web login session, in hours.")
    secure_cookies: bool = Field(
        False, description="Mark cookies Secure (set true when served over HTTPS)."
    )
    token_default_days: int = Field(90, description="Default lifetime of a new API token, in days.")
    token_max_days: int = Field(365, description="Longest lifetime an API token may be given, in days.")
    login_max_failures: int = Field(
        5, description="Failed logins in a row after which an account is locked for a while."
    )
    login_lockout_minutes: int = Field(
        15, description="How long a locked account, or a throttled source address, stays locked."
    )
    login_address_max_failures: int = Field(
        20,
        description="Failed logins from one source address within GONGSHU_LOGIN_ADDRESS_WINDOW_MINUTES "
        "after which that address may not try again for GONGSHU_LOGIN_LOCKOUT_MINUTES (answer 429), "
        "whichever accounts it tried.",
    )
    login_address_window_minutes: int = Field(
        15, description="The window in which failed logins from one source address are counted."
    )
    password_min_length: int = Field(10, description="Shortest password accepted for a user.")
    password_min_distinct_chars: int = Field(
        2,
        description="Fewest different characters a password must have (2 refuses passwords of one "
        "repeated character).",
    )
    password_reject_common: bool = Field(
        True,
        description="Refuse passwords on the list of common passwords shipped in the package "
        "(gongshu/orgs/data/common_passwords.txt; case is ignored).",
    )
    job_threads: int = Field(
        2,
        description="Worker threads for jobs inside `gongshu serve`; 0 leaves jobs to `gongshu worker` processes.",
    )
    job_stale_seconds: int = Field(
        120,
        description="A running job whose worker has not sent a heartbeat for this long is marked failed.",
    )
    job_queue_limits: dict[str, int] = Field(
        {"ingest": 1, "scan": 1},
        description="Most jobs of a queue running at once, across all worker processes, as JSON "
        '(e.g. {"ingest": 2, "scan": 1, "sandbox": 4}); a queue not named is limited only by the '
        "worker threads, and 0 pauses a queue. Queues: ingest (library ingests), scan (rescans, "
        "quality evaluations), default (everything else).",
    )
    worker_grace_seconds: float = Field(
        30.0, ge=0,
        description="How long a worker that is told to stop (SIGTERM to `gongshu worker`, the "
        "shutdown of `gongshu serve`) lets its running jobs finish. Jobs still running then are "
        "handed back to their queue (they run again from the start elsewhere) and the process "
        "exits 0, at most about 5 seconds later.",
    )
    ready_queue_seconds: float = Field(
        900.0, ge=0,
        description="/readyz reports the jobs as stalled (status degraded, still 200) when a due "
        "job has waited longer than this, or when jobs wait and no worker is alive; 0 leaves "
        "the age out.",
    )
    duckdb_memory_limit: str = Field("4GB", description="Memory limit of each DuckDB connection.")
    duckdb_threads: int = Field(2, description="Threads of each DuckDB connection.")
    # Limits (issue 8 §4): what a request or a job may take, as settings rather than constants.
    duckdb_query_timeout_seconds: float = Field(
        0, ge=0,
        description="Interrupt a query of the platform's DuckDB engine (previews, deliveries, "
        "quality) after this many seconds; 0 sets no limit.",
    )
    quality_memory_limit: str = Field(
        "512MB", description="Memory limit of the DuckDB engine of one ingest or quality job "
        "(it spills to <data dir>/tmp beyond it).",
    )
    preview_max_rows: int = Field(200, ge=1, description="Most rows one page of a masked preview shows.")
    catalog_import_max_rows: int = Field(
        20_000, ge=1, description="Most catalog entries one import file may hold.")
    catalog_import_max_mb: int = Field(
        20, ge=1, description="Largest catalog import file (Excel or CSV), in MB.")
    search_exact_limit: int = Field(
        20_000, ge=100,
        description="Above this many raw matches a catalog search estimates its count from a "
        "sample and lists hits newest first (exact=true counts everything).",
    )
    upload_max_mb: int = Field(
        2048,
        description="Largest file a web or API upload may send to the library, in MB; larger "
        "files are ingested on the server with `gongshu library ingest PATH`.",
    )
    upload_keep_hours: int = Field(
        24,
        description="An upload whose ingest was rejected is kept this many hours, so that it can "
        "be ingested again with a column mapping without sending it again; 0 keeps none.",
    )
    # Where datasets and uploads live (issue 13 §4): the data directory, or an object store.
    storage_url: str = Field(
        "",
        description="Where dataset versions (datasets/) and uploads (uploads/) are kept: empty "
        "or file: for the data directory, file:/srv/gongshu-store for another local directory, "
        "or s3://bucket/prefix for an S3-compatible object store (then web and worker machines "
        "share nothing but the database and the bucket).",
    )
    storage_cache_mb: int = Field(
        4096, ge=0,
        description="With storage in an object store: MB of this machine's disk (under "
        "<data dir>/cache/datasets) kept as copies of dataset versions for previews, deliveries "
        "and quality checks to read; 0 reads the object store every time.",
    )
    s3_endpoint: str = Field(
        "",
        description="URL of the S3-compatible server, e.g. http://minio.example:9000 or "
        "https://s3.cn-north-1.amazonaws.com.cn; empty: AWS's own endpoint for s3_region.",
    )
    s3_access_key: str = Field(
        "", description="Access key of the object store; empty: the AWS_ACCESS_KEY_ID "
        "environment variable (or the machine's AWS credentials).",
    )
    s3_secret_key: SecretStr = Field(
        SecretStr(""), description="Secret key of the object store (never logged or shown); "
        "empty: AWS_SECRET_ACCESS_KEY.",
    )
    s3_region: str = Field("us-east-1", description="Region of the object store's bucket.")
    s3_connect_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a connection to the object store.",
    )
    s3_request_timeout: float = Field(
        120.0, gt=0, description="Seconds to wait for one request of the object store.",
    )
    audit_checkpoint_dir: Path | None = Field(
        None,
        description="Directory of the audit checkpoint log audit-checkpoints.jsonl, to which "
        "every signed audit checkpoint is appended; default: the data directory. Put it on "
        "storage the database's administrators cannot rewrite (another disk or machine, an "
        "append-only mount).",
    )
    opening_api_rate_limit: int = Field(
        60,
        description="Requests a developer's API key may make on the portal API per window "
        "(GONGSHU_OPENING_API_RATE_WINDOW); beyond, the API answers 429 with Retry-After.",
    )
    opening_api_rate_window: int = Field(
        60, description="Length of the rate-limit window of portal API keys, in seconds.",
    )
    opening_download_max_rows: int = Field(
        100_000,
        description="Most rows one download or API read of an open dataset returns; larger "
        "datasets are read in pages (offset, limit).",
    )
    web_threads: int = Field(
        16, ge=1,
        description="Requests each `gongshu serve` process serves at once, each on a thread of "
        "its own with a database session; others wait in line (fairly between callers).",
    )
    request_queue_seconds: float = Field(
        30.0, ge=0,
        description="How long a request waits in line for one of the web threads; after that "
        "it is answered 503 with Retry-After instead of waiting longer.",
    )
    db_pool_size: int = Field(
        0, ge=0,
        description="Database connections each process keeps; never fewer than web_threads + "
        "job_threads + 4 (the default, 0, is exactly that), so no thread waits for a connection.",
    )
    # The sandbox (Art. 14): what one operator's query may take, and where it runs.
    sandbox_engine: str = Field(
        "duckdb", pattern="^(duckdb|spark)$",
        description="Engine of sandbox queries: duckdb (in process) or spark (a local PySpark "
        "session; needs the spark extra, `pip install gongshu[spark]`, and Java 17; with an "
        "object store Spark reads this machine's copies of the versions, so a dataset must fit "
        "in GONGSHU_STORAGE_CACHE_MB).",
    )
    sandbox_memory_limit: str = Field(
        "1GB", description="Memory limit of each sandbox query's DuckDB connection.")
    sandbox_timeout_seconds: float = Field(
        60.0, gt=0, description="A sandbox query running longer than this is stopped "
        "(reason RESOURCE_LIMIT).")
    sandbox_max_rows: int = Field(
        10_000, ge=1, description="Most rows one sandbox answer releases; the rest is cut off "
        "and the answer marked truncated.")
    sandbox_threads: int = Field(2, ge=1, description="Threads of each sandbox query.")
    sandbox_spark_memory: str = Field(
        "1g", description="Driver memory of the local Spark session of sandbox_engine = spark.")
    pg_bin_dir: Path | None = Field(
        None,
        description="Directory of pg_dump and pg_restore for `gongshu backup` and `gongshu "
        "restore` on PostgreSQL; default: found on the PATH, else the newest "
        "/usr/lib/postgresql/*/bin. Use the tools of the server's major version.",
    )
    page_size: int = Field(50, description="Default page size of lists in the API and the web UI.")
    log_level: str = Field("INFO", description="Logging level (DEBUG, INFO, WARNING, ERROR).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    # Derived paths. The layout of the data directory is fixed here and nowhere else.
    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def keys_dir(self) -> Path:
        return self.resolved_data_dir / "keys"

    @property
    def parquet_dir(self) -> Path:
        return self.resolved_data_dir / "datasets"

    @property
    def audit_checkpoint_path(self) -> Path:
        return self.resolved_data_dir / "audit-head.json"

    @property
    def audit_checkpoint_log_path(self) -> Path:
        directory = self.audit_checkpoint_dir
        base = directory.expanduser().resolve() if directory else self.resolved_data_dir
        return base / "audit-checkpoints.jsonl"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'gongshu.db'}"

    @property
    def effective_db_pool_size(self) -> int:
        """Connections of the pool: one per web thread and job thread, a few for start-up work
        and the notes written after a request; more if ``db_pool_size`` says so."""
        return max(self.db_pool_size, self.web_threads + self.job_threads + 4)

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, for docs and `gongshu config`."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = "" if field.default is None else str(field.default)
        if isinstance(field.default, SecretStr):
            default = ""
        rows.append((f"GONGSHU_{name.upper()}", default, field.description or ""))
    return rows
