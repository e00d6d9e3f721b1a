"""The resource library's use cases (Art. 11): the only door to its tables.

- Datasets are bound to catalog entries (one per entry), in one of the three libraries of
  Art. 11. An ingest (``start_ingest``) queues a ``library.ingest`` job; the job
  (``library.jobs``) reads the source, checks it against the entry's data items, streams it
  into a new Parquet version and scans it, then ``complete_ingest`` makes that version current,
  stores the scan (``grading.service.record_scan``) and the quality report — all in one
  transaction, so a failure anywhere leaves the previous version current.
- Quality rules and reports (``library.quality``) and masked previews (``library.preview``).

Who may do what, at the dataset's provider: read (``library.read``; the reviewing bureau too),
ingest (``library.ingest``), manage quality rules (``quality.manage``). The preview masks by
the viewer's role (``deid/data/masks.yaml``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.catalog.service import CatalogEntry
from gongshu.core import audit, jobs
from gongshu.core.db import as_uuids, fetch, runtime_of, utcnow
from gongshu.core.errors import (
    BadRequest,
    Conflict,
    FieldError,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.jobs import Job
from gongshu.core.permissions import Actor, require
from gongshu.core.security import KeyStore, seal, unseal
from gongshu.deid import masks as previews
from gongshu.engine import DatasetStore, Engine, Location, dataset_store_of
from gongshu.engine import DatasetVersion as StoredVersion
from gongshu.engine.base import Source
from gongshu.grading import service as grading
from gongshu.grading.permissions import GRADING_CONFIRM
from gongshu.library import quality, uploads
from gongshu.library.ingest import DATA_TYPES, IngestResult, ItemSpec, Problem
from gongshu.library.models import (
    Dataset,
    DatasetVersion,
    Ingest,
    IngestStatus,
    LibraryKind,
    QualityReport,
    QualityRule,
)
from gongshu.library.permissions import LIBRARY_INGEST, LIBRARY_READ, QUALITY_MANAGE

TARGET = "library_dataset"
FORMATS = ("csv", "xlsx", "json", "jsonl", "parquet")
DELIMITERS = {",": ",", "\\t": "\t", "tab": "\t", "\t": "\t", ";": ";", "|": "|"}

# ------------------------------------------------------------------------------------ access


def _may_read(actor: Actor, dataset: Dataset) -> bool:
    return grading.may_read(actor, dataset.provider_path, dataset.bureau_path)


def _dataset(db: Session, dataset_id: uuid.UUID) -> Dataset:
    found = db.get(Dataset, dataset_id)
    if found is None:
        raise NotFound("No such dataset.", code="dataset_not_found")
    return found


def get_dataset(actor: Actor, db: Session, /, dataset_id: uuid.UUID) -> Dataset:
    """A dataset the actor may read (its provider's staff, its reviewing bureau)."""
    dataset = _dataset(db, dataset_id)
    if not _may_read(actor, dataset):
        raise NotFound("No such dataset.", code="dataset_not_found")
    return dataset


def dataset_for_entry(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> Dataset | None:
    """The entry's dataset, if it has one and the actor may read it."""
    dataset = db.scalars(sa.select(Dataset).where(Dataset.entry_id == entry_id)).first()
    if dataset is None or not _may_read(actor, dataset):
        return None
    return dataset


def _scope(actor: Actor) -> Any:
    if actor.is_system:
        return sa.true()
    conds = []
    for perm in (LIBRARY_READ, GRADING_CONFIRM):
        for g in actor.scopes(perm):
            for col in ((Dataset.provider_path, Dataset.bureau_path)
                        if perm == LIBRARY_READ else (Dataset.provider_path,)):
                conds.append(col.startswith(g.org_path) if g.subtree else col == g.org_path)
    return sa.or_(*conds) if conds else sa.false()


def list_datasets(actor: Actor, db: Session, /, *, kind: str | None = None, q: str | None = None,
                  limit: int = 50, offset: int = 0) -> tuple[list[Dataset], int]:
    """Datasets the actor may read, most recently updated first."""
    if not (actor.can(LIBRARY_READ) or actor.can(GRADING_CONFIRM)):
        require(actor, LIBRARY_READ)
    conds = [_scope(actor)]
    if kind:
        conds.append(Dataset.kind == kind)
    if q and q.strip():
        like = f"%{q.strip()}%"
        conds.append(sa.or_(Dataset.name.like(like), Dataset.resource_code.like(like)))
    total = db.scalar(sa.select(sa.func.count()).select_from(Dataset).where(*conds)) or 0
    rows = db.scalars(sa.select(Dataset).where(*conds)
                      .order_by(Dataset.updated_at.desc(), Dataset.id).limit(limit)
                      .offset(offset)).all()
    return list(rows), total


def kind_counts(actor: Actor, db: Session, /) -> dict[str, int]:
    rows = db.execute(sa.select(Dataset.kind, sa.func.count()).where(_scope(actor))
                      .group_by(Dataset.kind)).all()
    return {k.value: 0 for k in LibraryKind} | {str(kind): int(n) for kind, n in rows}


def list_versions(actor: Actor, db: Session, /, dataset_id: uuid.UUID) -> list[DatasetVersion]:
    """Every version of the dataset, newest first."""
    dataset = get_dataset(actor, db, dataset_id)
    return list(db.scalars(sa.select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
                           .order_by(DatasetVersion.number.desc())))


def get_version(actor: Actor, db: Session, /, dataset_id: uuid.UUID,
                number: int | None = None) -> DatasetVersion:
    """Version ``number`` of the dataset, or its current version."""
    dataset = get_dataset(actor, db, dataset_id)
    if number is None:
        if dataset.current_version_id is None:
            raise NotFound("The dataset has no data yet.", code="dataset_no_version")
        found = db.get(DatasetVersion, dataset.current_version_id)
    else:
        found = db.scalars(sa.select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.number == number)).first()
    if found is None:
        raise NotFound(f"The dataset has no version {number}.", code="dataset_version_not_found",
                       version=number)
    return found


def _default_kind(entry: CatalogEntry) -> str:
    """Art. 11: base resources feed the base library, theme resources the sector library;
    department resources default to the sector library of their department."""
    from gongshu.catalog.vocab import vocab

    version = entry.current_version
    kind = ((version.content or {}).get("category") or {}).get("resource_kind") if version else None
    term = vocab().resource_kinds.get(kind) if kind else None
    library = (term.attrs.get("library_kind") if term is not None else None) or "sector"
    return library if library in {k.value for k in LibraryKind} else LibraryKind.SECTOR.value


def ensure_dataset(actor: Actor, db: Session, /, entry_id: uuid.UUID, *,
                   kind: str | None = None) -> Dataset:
    """The entry's dataset, created (in the library ``kind``) when it has none yet."""
    entry = catalog.get_entry(actor, db, entry_id)
    require(actor, LIBRARY_INGEST, entry.provider_path)
    if kind is not None and kind not in {k.value for k in LibraryKind}:
        raise ValidationFailed.single("kind", "invalid_choice",
                                      f"The library kind is one of {', '.join(LibraryKind)}.")
    dataset = db.scalars(sa.select(Dataset).where(Dataset.entry_id == entry.id)).first()
    version = entry.current_version
    if dataset is not None:
        dataset.bureau_path = entry.bureau_path or ""
        if version is not None:
            dataset.name = version.name
        if kind is not None and kind != dataset.kind:
            audit.record(db, actor, "library.dataset.kind", target_type=TARGET,
                         target_id=dataset.id, org_id=entry.provider_org_id,
                         org_path=entry.provider_path,
                         details={"kind": kind, "previous": dataset.kind})
            dataset.kind = kind
        return dataset
    dataset_id = uuid.uuid4()
    dataset = Dataset(
        id=dataset_id, entry_id=entry.id, kind=kind or _default_kind(entry),
        name=version.name if version is not None else entry.resource_code,
        resource_code=entry.resource_code, provider_org_id=entry.provider_org_id,
        provider_path=entry.provider_path, bureau_path=entry.bureau_path or "",
        storage_id=dataset_id.hex, created_by=actor.username)
    try:
        with db.begin_nested():  # a concurrent first ingest of the entry may make it first
            db.add(dataset)
            db.flush()
    except IntegrityError:
        found = db.scalars(sa.select(Dataset).where(Dataset.entry_id == entry.id)).first()
        if found is None:
            raise Conflict("The entry's dataset is being created; try again.",
                           code="conflict") from None
        return found
    # Every dataset is checked against its entry's update cycle from the start (Art. 11).
    db.add(QualityRule(dataset_id=dataset.id, kind="freshness", column=None, params={},
                       description="", created_by=actor.username))
    audit.record(db, actor, "library.dataset.create", target_type=TARGET, target_id=dataset.id,
                 org_id=entry.provider_org_id, org_path=entry.provider_path,
                 details={"resource_code": entry.resource_code, "kind": dataset.kind})
    return dataset


# ------------------------------------------------------------------------------------ ingest


#: how many source columns a column mapping may name
MAX_MAPPED_COLUMNS = 1000


@dataclass(frozen=True)
class IngestOptions:
    sheet: str | None = None
    table: str | None = None
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    drop_extra: bool = False
    #: source column → data item (code or name), for columns whose names match no item
    columns: Mapping[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if k == "columns" else v) for k, v in self.__dict__.items()
                if v not in (None, False, {})}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> IngestOptions:
        return cls(**{k: data.get(k) for k in ("sheet", "table", "format", "encoding",
                                               "delimiter")},
                   drop_extra=bool(data.get("drop_extra")), columns=data.get("columns") or None)


def parse_column_mapping(text: str | None) -> dict[str, str] | None:
    """A column mapping given as text: a JSON object (source column → data item code or
    name). Empty text is no mapping."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise ValidationFailed.single("columns", "invalid_mapping", "The column mapping is a "
                                      'JSON object of source column → data item code, e.g. '
                                      '{"身份证": "GMSFHM"}.')
    return value


def _check_options(options: IngestOptions, *, database: bool) -> IngestOptions:
    errors = []
    if options.format and options.format not in FORMATS:
        errors.append(FieldError("format", "invalid_choice",
                                 f"The format is one of {', '.join(FORMATS)}."))
    delimiter = options.delimiter
    if delimiter:
        if delimiter not in DELIMITERS:
            errors.append(FieldError("delimiter", "invalid_choice",
                                     "The delimiter is one of , ; | or \\t."))
        else:
            delimiter = DELIMITERS[delimiter]
    if options.encoding:
        import codecs

        try:
            codecs.lookup(options.encoding)
        except LookupError:
            errors.append(FieldError("encoding", "unknown_encoding",
                                     f"Unknown encoding {options.encoding!r}."))
    if database and not options.table:
        errors.append(FieldError("table", "required", "A database source needs a table name."))
    columns = dict(options.columns or {})
    if len(columns) > MAX_MAPPED_COLUMNS or not all(
            isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 200
            and 0 < len(v.strip()) <= 200 for k, v in columns.items()):
        errors.append(FieldError("columns", "invalid_mapping", "The column mapping maps at most "
                                 f"{MAX_MAPPED_COLUMNS} source columns, each to a data item's "
                                 "code or name (at most 200 characters each).",
                                 params={"max": MAX_MAPPED_COLUMNS}))
    if errors:
        raise ValidationFailed("The ingest options are not valid.", errors=errors)
    return IngestOptions(options.sheet or None, options.table or None, options.format or None,
                         options.encoding or None, delimiter or None, options.drop_extra,
                         {k: v.strip() for k, v in columns.items()} or None)


def redact_url(url: str) -> str:
    """A database URL without its password, for records and pages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL: show only its scheme
        return url.split("://", 1)[0] + "://…"


def start_ingest(
    actor: Actor,
    db: Session,
    /,
    *,
    entry_id: uuid.UUID,
    source: str,
    source_name: str | None = None,
    source_kind: str = "file",
    options: IngestOptions | None = None,
    kind: str | None = None,
    queue: bool = True,
) -> Ingest:
    """Queue the ingest of ``source`` (a file path, an uploaded file, or a database URL) as the
    next version of the entry's dataset. Returns the ingest; its job (``library.ingest`` with
    :func:`job_params`) does the work. ``queue=False`` leaves running the job to the caller
    (the CLI runs it in its own process with ``core.jobs.run_inline``)."""
    options = _check_options(options or IngestOptions(), database=source_kind == "database")
    if source_kind not in ("file", "upload", "database"):
        raise BadRequest(f"Unknown source kind {source_kind!r}.")
    if source_kind == "upload":  # a key of the upload area (``library.uploads``)
        found_size = uploads.size_of(upload_area(db), source)
        if found_size is None:
            raise BadRequest(f"{source_name or source}: no such upload.", code="file_not_found")
        size = found_size
    elif source_kind == "file":  # a file of the machine that runs the job (the CLI's own)
        if not Path(source).is_file():
            raise BadRequest(f"{source_name or source}: no such file.", code="file_not_found")
        size = Path(source).stat().st_size
    else:
        size = 0
    dataset = ensure_dataset(actor, db, entry_id, kind=kind)
    name = source_name or (redact_url(source) if source_kind == "database"
                           else PurePosixPath(source.replace("\\", "/")).name)
    ingest = Ingest(dataset_id=dataset.id, entry_id=dataset.entry_id,
                    provider_path=dataset.provider_path, status=IngestStatus.QUEUED,
                    source_name=name[:255], source_kind=source_kind, options=options.as_dict(),
                    source_bytes=size, report={}, created_by_id=actor.user_id,
                    created_by=actor.username)
    db.add(ingest)
    db.flush()
    if queue:
        job = jobs.submit(actor, db, kind="library.ingest",
                          params=job_params(db, ingest, source),
                          title=job_title(dataset, name), org_path=dataset.provider_path)
        ingest.job_id = job.id
    audit.record(db, actor, "library.ingest.start", target_type=TARGET, target_id=dataset.id,
                 org_id=dataset.provider_org_id, org_path=dataset.provider_path,
                 details={"ingest_id": str(ingest.id), "source": ingest.source_name,
                          "source_kind": source_kind, "bytes": size,
                          "resource_code": dataset.resource_code})
    return ingest


def job_params(db: Session, ingest: Ingest, source: str) -> dict[str, Any]:
    """The ingest job's parameters. A database URL carries a password: it is stored sealed
    (SM4-GCM under the data directory's key), never in clear in the job table. An upload is
    named by its key in the upload area (any worker machine finds it there), never by a path."""
    if ingest.source_kind == "database":
        sealed = seal(runtime_of(db).keys, source, context=str(ingest.id))
        return {"ingest_id": str(ingest.id), "source_sealed": sealed}
    if ingest.source_kind == "upload":
        return {"ingest_id": str(ingest.id), "upload": source}
    return {"ingest_id": str(ingest.id), "source": source}


def job_source(keys: KeyStore, params: dict[str, Any]) -> str:
    """The source of an ingest job: a path or a database URL (unsealed); for an upload, its
    key (``job_upload``)."""
    if "source_sealed" in params:
        return unseal(keys, params["source_sealed"], context=str(params["ingest_id"]))
    if "upload" in params:
        return str(params["upload"])
    return str(params["source"])


def job_upload(settings: Any, params: dict[str, Any]) -> str | None:
    """The upload key of an ingest job, or None when its source is no upload. (A job queued
    before uploads had keys names the file's path in the data directory's ``uploads/``.)"""
    if "upload" in params:
        return str(params["upload"])
    source = params.get("source")
    if not source:
        return None
    legacy = (settings.resolved_data_dir / "uploads").resolve()
    path = Path(str(source)).resolve()
    if path.parent.parent == legacy and not (getattr(settings, "storage_url", "") or "").strip():
        return path.relative_to(legacy).as_posix()
    return None


def job_title(dataset: Dataset, source_name: str) -> str:
    return f"ingest {dataset.resource_code} {source_name}"[:200]


def get_ingest(actor: Actor, db: Session, /, ingest_id: uuid.UUID) -> Ingest:
    ingest = db.get(Ingest, ingest_id)
    if ingest is None or not _may_read(actor, _dataset(db, ingest.dataset_id)):
        raise NotFound("No such ingest.", code="ingest_not_found")
    return ingest


@dataclass(frozen=True)
class Workload:
    """A data steward's library on the home page: ingests still queued or running, ingests
    that failed or were refused in the last 7 days, and datasets with data but no grade."""

    ingests_open: int
    ingests_failed: int
    ungraded: int
    ungraded_first: list[Dataset]


def workload(actor: Actor, db: Session, /) -> Workload:
    if not (actor.can(LIBRARY_READ) or actor.can(GRADING_CONFIRM)):
        require(actor, LIBRARY_READ)
    scope = _scope(actor)
    in_scope = sa.select(Dataset.id).where(scope)
    count = sa.select(sa.func.count()).select_from(Ingest).where(Ingest.dataset_id.in_(in_scope))
    open_ = db.scalar(count.where(Ingest.status.in_((IngestStatus.QUEUED,
                                                      IngestStatus.RUNNING)))) or 0
    week = utcnow() - dt.timedelta(days=7)
    failed = db.scalar(count.where(Ingest.status.in_((IngestStatus.FAILED,
                                                       IngestStatus.REJECTED)),
                                   Ingest.created_at >= week)) or 0
    with_data = list(db.scalars(sa.select(Dataset).where(
        scope, Dataset.current_version_id.is_not(None)).order_by(Dataset.updated_at.desc())))
    ungraded = set(catalog.ungraded(db, [d.entry_id for d in with_data]))
    first = [d for d in with_data if d.entry_id in ungraded]
    return Workload(int(open_), int(failed), len(first), first[:5])


def list_ingests(actor: Actor, db: Session, /, dataset_id: uuid.UUID, *,
                 limit: int = 20) -> list[Ingest]:
    dataset = get_dataset(actor, db, dataset_id)
    return list(db.scalars(sa.select(Ingest).where(Ingest.dataset_id == dataset.id)
                           .order_by(Ingest.created_at.desc()).limit(limit)))


@dataclass(frozen=True)
class IngestPlan:
    """What the ingest job needs, read in one short transaction."""

    ingest_id: uuid.UUID
    dataset_id: uuid.UUID
    entry_id: uuid.UUID
    resource_code: str
    storage_id: str
    source_kind: str
    source_name: str
    options: IngestOptions
    items: list[ItemSpec]
    previous_storage_version: int | None
    update_cycle: str | None
    rules: list[quality.Rule] = field(default_factory=list)


def current_storage_version(db: Session, /, dataset_id: uuid.UUID) -> int | None:
    """The storage version the metadata store names current for the dataset (for the ingest
    job, to point storage back at it when another run of the ingest finished first)."""
    return db.scalar(sa.select(DatasetVersion.storage_version)
                     .join(Dataset, Dataset.current_version_id == DatasetVersion.id)
                     .where(Dataset.id == dataset_id))


def _locked_ingest(db: Session, ingest_id: uuid.UUID) -> Ingest:
    """The ingest, its row locked until the transaction ends and read afresh: each step of one
    ingest (begin, complete, reject, fail) waits for the one before and sees its outcome."""
    return fetch(db, Ingest, ingest_id, lock=True,
                 missing=NotFound("No such ingest.", code="ingest_not_found"))


def _unfinished(ingest: Ingest) -> None:
    """An ingest finishes once: a second completion (a retried or duplicated job) is a 409."""
    if ingest.status not in (IngestStatus.QUEUED, IngestStatus.RUNNING):
        raise InvalidState("The ingest has already finished.", code="ingest_finished",
                           status=IngestStatus(ingest.status).value)


def begin_ingest(actor: Actor, db: Session, /, ingest_id: uuid.UUID,
                 *, job_id: uuid.UUID | None = None) -> IngestPlan:
    """Mark the ingest running and gather what the job needs (the entry's data items …)."""
    ingest = _locked_ingest(db, ingest_id)
    dataset = _dataset(db, ingest.dataset_id)
    entry = catalog.get_entry(actor, db, dataset.entry_id)
    require(actor, LIBRARY_INGEST, entry.provider_path)
    _unfinished(ingest)
    ingest.status = IngestStatus.RUNNING
    ingest.job_id = job_id or ingest.job_id
    items = [ItemSpec.of(i) for i in catalog.entry_items(db, entry.id)]
    if not items:
        raise ValidationFailed.single("entry", "entry_without_items", "The catalog entry lists no "
                                      "data items, so there is nothing to match the file to.")
    previous = db.get(DatasetVersion, dataset.current_version_id) \
        if dataset.current_version_id else None
    version = entry.current_version
    return IngestPlan(
        ingest_id=ingest.id, dataset_id=dataset.id, entry_id=entry.id,
        resource_code=entry.resource_code, storage_id=dataset.storage_id,
        source_kind=ingest.source_kind, source_name=ingest.source_name,
        options=IngestOptions.of(ingest.options), items=items,
        previous_storage_version=previous.storage_version if previous else None,
        update_cycle=version.update_cycle if version is not None else None,
        rules=_rules(db, dataset.id))


def _problems_report(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    return [p.as_dict() for p in problems]


def reject_ingest(actor: Actor, db: Session, /, ingest_id: uuid.UUID, *,
                  report: dict[str, Any], message: str) -> Ingest:
    """The source does not fit the entry: keep the column-by-column report; nothing stored."""
    return _finish(actor, db, ingest_id, IngestStatus.REJECTED, report=report, error=message)


def fail_ingest(actor: Actor, db: Session, /, ingest_id: uuid.UUID, *, message: str,
                report: dict[str, Any] | None = None) -> Ingest:
    """The source could not be read or stored: nothing stored, the previous version stays."""
    return _finish(actor, db, ingest_id, IngestStatus.FAILED, report=report, error=message)


def _finish(actor: Actor, db: Session, ingest_id: uuid.UUID, status: IngestStatus, *,
            report: dict[str, Any] | None, error: str) -> Ingest:
    ingest = _locked_ingest(db, ingest_id)
    dataset = _dataset(db, ingest.dataset_id)
    _unfinished(ingest)
    ingest.status = status
    if report is not None:
        ingest.report = report
    ingest.error = error[:4000]
    ingest.finished_at = utcnow()
    audit.record(db, actor, f"library.ingest.{status.value}", target_type=TARGET,
                 target_id=dataset.id, org_id=dataset.provider_org_id,
                 org_path=dataset.provider_path,
                 details={"ingest_id": str(ingest.id), "error": error[:200],
                          "resource_code": dataset.resource_code})
    return ingest


def complete_ingest(
    actor: Actor,
    db: Session,
    /,
    ingest_id: uuid.UUID,
    *,
    result: IngestResult,
    report: dict[str, Any],
    source: Mapping[str, Any],
    quality_outcome: quality.Outcome | None,
    quality_seconds: float = 0.0,
    job_id: uuid.UUID | None = None,
) -> DatasetVersion:
    """Make the stored version current, with its scan and quality report, in one transaction."""
    ingest = _locked_ingest(db, ingest_id)
    dataset = db.get(Dataset, ingest.dataset_id, with_for_update=True, populate_existing=True)
    assert dataset is not None
    _unfinished(ingest)
    entry = catalog.get_entry(actor, db, dataset.entry_id)
    require(actor, LIBRARY_INGEST, entry.provider_path)
    number = (db.scalar(sa.select(sa.func.max(DatasetVersion.number))
                        .where(DatasetVersion.dataset_id == dataset.id)) or 0) + 1
    mapping = {m["code"]: m for m in report.get("columns", []) if m.get("code")}
    columns = [{"code": f.name, "name": mapping.get(f.name, {}).get("item", f.name),
                "data_type": mapping.get(f.name, {}).get("data_type"),
                "arrow_type": str(f.type), "source_column": mapping.get(f.name, {}).get("source")}
               for f in result.schema]
    version = DatasetVersion(
        dataset_id=dataset.id, number=number, storage_version=result.version.version,
        rows=result.rows, bytes=result.version.bytes, columns=columns,
        source_name=ingest.source_name, source_format=str(source.get("format") or ""),
        source_encoding=source.get("encoding"), source_sheet=source.get("sheet"),
        source_bytes=ingest.source_bytes, header_row=source.get("header_row"),
        ingest_id=ingest.id, created_by_id=actor.user_id, created_by=actor.username,
        quality_score=quality_outcome.score if quality_outcome else None)
    db.add(version)
    db.flush()
    dataset.current_version_id = version.id
    dataset.version_count = number
    dataset.updated_at = utcnow()
    ingest.status = IngestStatus.SUCCEEDED
    ingest.version_id = version.id
    ingest.report = report
    ingest.error = None
    ingest.finished_at = utcnow()
    if quality_outcome is not None:
        db.add(QualityReport(dataset_id=dataset.id, version_id=version.id,
                             score=quality_outcome.score,
                             results=[r.as_dict() for r in quality_outcome.results],
                             evaluated_by=actor.username, seconds=round(quality_seconds, 3),
                             note="ingest"))
    if result.detections:
        grading.record_scan(
            actor, db, entry_id=entry.id, dataset_id=dataset.id, dataset_version_id=version.id,
            storage_id=dataset.storage_id, storage_version=result.version.version,
            rows=result.scanned_rows,
            columns=[grading.ScannedColumn(c["name"], c["code"], d)
                     for c, d in zip(columns, result.detections, strict=True)],
            trigger="ingest", job_id=job_id, seconds=float(report.get("seconds", 0.0)))
    audit.record(db, actor, "library.version.create", target_type=TARGET, target_id=dataset.id,
                 org_id=dataset.provider_org_id, org_path=dataset.provider_path,
                 details={"version": number, "rows": result.rows, "bytes": result.version.bytes,
                          "storage_version": result.version.version,
                          "ingest_id": str(ingest.id), "source": ingest.source_name,
                          "resource_code": dataset.resource_code})
    return version


def upload_area(db_or_settings: Session | Any) -> Location:
    """Where uploads wait for their ingest job (``library.uploads``)."""
    settings = runtime_of(db_or_settings).settings if isinstance(db_or_settings, Session) \
        else db_or_settings
    return uploads.upload_area(settings)


def discard_upload(area: Location, key: str) -> None:
    """Remove an upload once its ingest is over (only an upload: ``<random>/<file name>``)."""
    uploads.discard(area, key)


# ------------------------------------------------------------ ingesting a kept upload again

KEPT_MARKER = uploads.KEPT_MARKER


def keep_upload(settings: Any, key: str) -> dict[str, str] | None:
    """Keep an upload whose ingest was rejected for ``upload_keep_hours``, so that it can be
    ingested again with a column mapping without sending it again. Returns what the rejected
    ingest's report records (``retry``), or None when nothing is kept (not an upload, or the
    setting is 0)."""
    hours = int(getattr(settings, "upload_keep_hours", 0) or 0)
    area = upload_area(settings)
    if hours <= 0 or uploads.size_of(area, key) is None:
        return None
    until = utcnow() + dt.timedelta(hours=hours)
    uploads.keep(area, key, until)
    return {"upload": key, "until": until.isoformat()}


def is_kept(settings: Any, key: str) -> bool:
    """The upload is kept for another ingest (its folder has the marker)."""
    return uploads.is_kept(upload_area(settings), key)


def sweep_kept_uploads(area: Location, *, now: dt.datetime | None = None) -> int:
    """Remove the kept uploads whose time is up; returns how many."""
    return uploads.sweep_kept(area, now or utcnow())


# ------------------------------------------------- settling lost ingests, sweeping leftovers

#: the actor that settles the ingests of jobs that ended outside their handler
SWEEPER = Actor.system("library-sweeper", via="system")
#: leftovers (uploads of no live ingest, temporary versions, spill files) younger than this are
#: never swept: a request may have written an upload whose ingest it has not committed yet
SWEEP_MIN_AGE = dt.timedelta(minutes=10)
_LIVE_INGEST = (IngestStatus.QUEUED, IngestStatus.RUNNING)


def settle_lost_ingest(db: Session, job: Job, reason: str) -> None:
    """The ``on_lost`` hook of ``library.ingest``: the job ended without its handler running to
    the end (its worker died, its actor was refused, it was cancelled while queued), so the
    ingest fails with that reason. The previous version stays current: ``complete_ingest``
    never committed. The files it left are the sweep's (``sweep_leftovers``)."""
    ingest_id = (job.params or {}).get("ingest_id")
    if not ingest_id:
        return
    ingest = db.get(Ingest, uuid.UUID(str(ingest_id)), with_for_update=True,
                    populate_existing=True)
    if ingest is None or ingest.status not in _LIVE_INGEST:
        return
    fail_ingest(SWEEPER, db, ingest.id, message=f"the ingest job did not finish: {reason}")


def _age(path: Path, now: float) -> float:
    """Seconds since anything in ``path`` last changed (a folder and the files in it: an
    upload being written for minutes keeps its folder's time from its start)."""
    try:
        newest = path.stat().st_mtime
        if path.is_dir():
            for child in path.iterdir():
                newest = max(newest, child.stat().st_mtime)
    except FileNotFoundError:
        return 0.0
    return now - newest


def _area_age(area: Any, folder: str, now: float) -> float:
    """The same for a folder of the upload area (a local directory or an object store)."""
    newest: float | None = None
    for info in [area.info(folder), *area.listing(folder)]:
        if info.mtime is not None:
            newest = max(newest or 0.0, info.mtime.timestamp())
    return 0.0 if newest is None else now - newest


@dataclass(frozen=True)
class Swept:
    kept_uploads: int = 0
    orphan_uploads: int = 0
    temporary_versions: int = 0
    spill: int = 0
    settled: int = 0
    #: versions published by ingests that failed before recording them, removed
    orphan_versions: int = 0
    #: datasets whose storage pointer named such a version, pointed back at the recorded one
    repointed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def sweep_leftovers(actor: Actor, db: Session, /, *, now: dt.datetime | None = None,
                    min_age: dt.timedelta = SWEEP_MIN_AGE) -> Swept:
    """What failed or lost ingests left behind, removed (the scheduled ``library.sweep_uploads``):

    - kept uploads whose time is up (``GONGSHU_UPLOAD_KEEP_HOURS``);
    - uploads that no queued or running ingest job reads, older than ``min_age`` (a worker
      killed before its job's ``finally`` ran, a request that failed after writing the file);
    - temporary versions (``.tmp-*``) of datasets with no queued or running ingest, and DuckDB
      spill directories of jobs no longer running, older than ``min_age``;
    - versions that ingests failed in the last two days published without recording them
      (killed between publishing and committing), older than ``min_age``; the storage pointer
      goes back to the recorded current version;
    - ingests still queued or running whose job has ended (a settling that failed): failed
      with the job's error.
    """
    if not actor.is_system:
        raise PermissionDenied("Only the platform sweeps leftovers.", code="permission_denied")
    now = now or utcnow()
    clock = now.timestamp()
    settings = runtime_of(db).settings
    area = upload_area(settings)
    kept = sweep_kept_uploads(area, now=now)
    live = jobs.live_jobs(db, kinds=("library.ingest",))
    # every path component of the live jobs' parameters: the folder of each upload they read,
    # whatever the parameter is called and whether it is absolute or relative
    reading = {part for j in live for value in (j.params or {}).values()
               if isinstance(value, str) for part in Path(value).parts}
    orphans = 0
    for info in area.listing():
        folder = PurePosixPath(info.path).name
        if (info.type == pafs.FileType.Directory and folder not in reading
                and not area.info(f"{folder}/{KEPT_MARKER}").is_file
                and _area_age(area, folder, clock) >= min_age.total_seconds()):
            area.remove(folder)
            orphans += 1
    busy = set(db.scalars(sa.select(Dataset.storage_id).join(Ingest, Ingest.dataset_id == Dataset.id)
                          .where(Ingest.job_id.in_([j.id for j in live]))))
    temporary = 0
    store = store_in(db)
    # unfinished versions of datasets no live ingest writes (one being written may take longer
    # than ``min_age``: its dataset is busy, so it is left alone)
    for storage_id in db.scalars(sa.select(Dataset.storage_id)):
        if storage_id not in busy:
            try:
                temporary += store.clean_temporary(storage_id,
                                                   older_than=min_age.total_seconds())
            except (ValidationFailed, OSError):  # not as expected: not ours to touch
                continue
    spill = 0
    spill_root = settings.resolved_data_dir / "tmp" / "duckdb"
    running = {str(j.id) for j in live} | {str(i) for i in jobs.running_job_ids(db)}
    if spill_root.is_dir():
        for path in spill_root.iterdir():
            if path.name not in running and _age(path, clock) >= min_age.total_seconds():
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                spill += 1
    orphans_v, repointed = _sweep_unrecorded_versions(db, store, busy, now=now,
                                                      min_age=min_age)
    settled = 0
    stranded = db.execute(
        sa.select(Ingest.id, Job.error).join(Job, Job.id == Ingest.job_id)
        .where(Ingest.status.in_(_LIVE_INGEST), Job.status.in_(tuple(jobs.FINISHED)))
    ).all()
    for ingest_id, error in stranded:
        fail_ingest(SWEEPER, db, ingest_id,
                    message=f"the ingest job did not finish: {error or 'it ended'}")
        settled += 1
    return Swept(kept, orphans, temporary, spill, settled, orphans_v, repointed)


def _sweep_unrecorded_versions(db: Session, store: DatasetStore, busy: set[str], *,
                               now: dt.datetime, min_age: dt.timedelta) -> tuple[int, int]:
    """For the datasets of ingests failed in the last two days (an ingest killed after it
    published its version and before its record committed leaves that version behind, and the
    storage pointer on it): remove the versions no record names, older than ``min_age``, and
    point storage back at the recorded current version."""
    recent = set(db.scalars(sa.select(Ingest.dataset_id).where(
        Ingest.status == IngestStatus.FAILED,
        Ingest.finished_at >= now - dt.timedelta(days=2))))
    removed = repointed = 0
    for dataset in db.scalars(sa.select(Dataset).where(Dataset.id.in_(recent))):
        if dataset.storage_id in busy:
            continue
        recorded = {v: i for i, v in db.execute(
            sa.select(DatasetVersion.id, DatasetVersion.storage_version)
            .where(DatasetVersion.dataset_id == dataset.id))}
        current = next((v for v, i in recorded.items() if i == dataset.current_version_id), None)
        try:
            pointed = store.current(dataset.storage_id)
            if current is not None and (pointed is None or pointed.version != current):
                store.set_current(dataset.storage_id, current)
                repointed += 1
            for version in store.versions(dataset.storage_id):
                created = dt.datetime.fromisoformat(version.created_at)
                if version.version not in recorded and now - created >= min_age:
                    store.discard(dataset.storage_id, version.version)
                    removed += 1
        except (NotFound, InvalidState, ValueError, OSError):
            continue  # nothing recorded yet, or the files are not as expected: leave them
    return removed, repointed


def kept_upload(db: Session, ingest: Ingest) -> str | None:
    """The key of a rejected ingest's kept file, if it is still there and its time is not up."""
    retry = (ingest.report or {}).get("retry")
    if ingest.status != IngestStatus.REJECTED or not isinstance(retry, dict):
        return None
    key = str(retry.get("upload", ""))
    try:
        until = dt.datetime.fromisoformat(str(retry.get("until")))
    except ValueError:
        return None
    if until <= utcnow() or uploads.size_of(upload_area(db), key) is None:
        return None
    return key


def remap_ingest(actor: Actor, db: Session, /, ingest_id: uuid.UUID, *,
                 columns: Mapping[str, str]) -> Ingest:
    """Ingest a rejected upload's kept file again with a column mapping (added to the one it
    had): a new ingest of the same file, queued; the rejected one stays as it was."""
    old = get_ingest(actor, db, ingest_id)
    dataset = get_dataset(actor, db, old.dataset_id)
    require(actor, LIBRARY_INGEST, dataset.provider_path)
    db.refresh(old, with_for_update=True)  # one new ingest per kept file
    key = kept_upload(db, old)
    if key is None:
        raise InvalidState("The file of this ingest is no longer kept; upload it again.",
                           code="upload_not_kept")
    if not columns:
        raise ValidationFailed.single("columns", "required", "Map at least one column.")
    previous = IngestOptions.of(old.options or {})
    options = dataclasses.replace(previous, columns={**(previous.columns or {}), **columns})
    ingest = start_ingest(actor, db, entry_id=old.entry_id, source=key,
                          source_name=old.source_name, source_kind="upload", options=options)
    uploads.unkeep(upload_area(db), key)  # the new ingest's file now
    old.report = {**(old.report or {}), "retry": None, "retried_as": str(ingest.id)}
    return ingest


def store_of(db: Session) -> DatasetStore:
    return dataset_store(runtime_of(db))


def dataset_store(runtime: Any) -> DatasetStore:
    """The configured dataset store (``GONGSHU_STORAGE_URL``), numbering and publishing versions
    under a lock on the dataset's row in the database: it holds across processes and machines
    (on PostgreSQL ``SELECT … FOR UPDATE``; on SQLite the write transaction's lock)."""

    @contextlib.contextmanager
    def lock(storage_id: str) -> Iterator[None]:
        with runtime.db.transaction() as db:
            db.execute(sa.select(Dataset.id).where(Dataset.storage_id == storage_id)
                       .with_for_update())
            yield

    return dataset_store_of(runtime.settings, lock=lock)


def store_in(db: Session) -> DatasetStore:
    """The configured dataset store, locking a dataset's row in ``db``'s own transaction: for a
    caller already in a write transaction (on SQLite a second one from the same process would
    wait for the first: ``database is locked``)."""

    @contextlib.contextmanager
    def lock(storage_id: str) -> Iterator[None]:
        db.execute(sa.select(Dataset.id).where(Dataset.storage_id == storage_id)
                   .with_for_update())
        yield

    return dataset_store_of(runtime_of(db).settings, lock=lock)


def open_version(db: Session, /, dataset: Dataset, version: DatasetVersion) -> StoredVersion:
    """The stored files of a version (no permission check: callers hold the dataset); its
    ``arrow_dataset()`` / ``engine_source()`` read it on the configured storage."""
    return store_of(db).get(dataset.storage_id, version.storage_version)


# ------------------------------------------------------------------------------------ quality


def _rules(db: Session, dataset_id: uuid.UUID) -> list[quality.Rule]:
    rows = db.scalars(sa.select(QualityRule).where(QualityRule.dataset_id == dataset_id)
                      .order_by(QualityRule.created_at, QualityRule.id)).all()
    return [quality.Rule(str(r.id), r.kind, r.column, dict(r.params), r.weight) for r in rows]


def list_rules(actor: Actor, db: Session, /, dataset_id: uuid.UUID) -> list[QualityRule]:
    dataset = get_dataset(actor, db, dataset_id)
    return list(db.scalars(sa.select(QualityRule).where(QualityRule.dataset_id == dataset.id)
                           .order_by(QualityRule.created_at, QualityRule.id)))


def _columns_of(version: DatasetVersion | None, items: Sequence[ItemSpec]
                ) -> dict[str, quality.ColumnInfo]:
    if version is not None and version.columns:
        return {c["code"]: quality.ColumnInfo(c["code"], c.get("name") or c["code"],
                                              c.get("data_type") or "C") for c in version.columns}
    return {i.code: quality.ColumnInfo(i.code, i.name, i.data_type) for i in items}


def add_rule(actor: Actor, db: Session, /, dataset_id: uuid.UUID, *, kind: str,
             column: str | None = None, params: Mapping[str, Any] | None = None,
             weight: float = 1.0, description: str = "") -> QualityRule:
    """Add a quality rule to the dataset (checked at once; every problem reported)."""
    dataset = get_dataset(actor, db, dataset_id)
    require(actor, QUALITY_MANAGE, dataset.provider_path)
    version = db.get(DatasetVersion, dataset.current_version_id) \
        if dataset.current_version_id else None
    columns = _columns_of(version, [ItemSpec.of(i) for i in
                                    catalog.entry_items(db, dataset.entry_id)])
    if column and column not in columns:  # a data item's name works as well as its code
        by_name = {c.name: c.code for c in columns.values()}
        column = by_name.get(column, column)
    params = dict(params or {})
    if kind == "allowed_values" and isinstance(params.get("values"), str):
        params["values"] = [v.strip() for v in str(params["values"]).replace("，", ",").split(",")
                            if v.strip()]
    errors = quality.check_rule(kind, column or None, params, columns=columns, weight=weight)
    if kind == "pattern" and not errors:
        try:
            runtime_of(db).data_engine.query("SELECT regexp_full_match('', ?)",
                                             [str(params["regex"])])
        except Exception as exc:
            errors.append(FieldError("params.regex", "invalid_pattern",
                                     f"The pattern is not a valid regular expression: {exc}"))
    if kind == "reference" and not errors:
        other = db.scalars(sa.select(Dataset).where(
            Dataset.resource_code == str(params["dataset"]).strip())).first()
        # Only a dataset the actor may read: a score against another body's data would tell
        # which of one's values that body holds.
        if other is None or not _may_read(actor, other):
            errors.append(FieldError("params.dataset", "dataset_not_found",
                                     "No dataset in the library has this resource code."))
        else:
            params["dataset"] = other.resource_code
    if len(description) > 2000:
        errors.append(FieldError("description", "too_long", "At most 2000 characters.",
                                 params={"max_length": 2000}))
    if errors:
        raise ValidationFailed("The quality rule is not valid.", errors=errors)
    rule = QualityRule(dataset_id=dataset.id, kind=kind, column=column or None, params=params,
                       weight=float(weight), description=description.strip(),
                       created_by=actor.username)
    db.add(rule)
    db.flush()
    audit.record(db, actor, "library.quality.rule_add", target_type=TARGET, target_id=dataset.id,
                 org_id=dataset.provider_org_id, org_path=dataset.provider_path,
                 details={"rule_id": str(rule.id), "kind": kind, "column": column,
                          "params": params, "resource_code": dataset.resource_code})
    return rule


def delete_rule(actor: Actor, db: Session, /, rule_id: uuid.UUID) -> None:
    rule = db.get(QualityRule, rule_id)
    if rule is None:
        raise NotFound("No such quality rule.", code="quality_rule_not_found")
    dataset = get_dataset(actor, db, rule.dataset_id)
    require(actor, QUALITY_MANAGE, dataset.provider_path)
    db.delete(rule)
    audit.record(db, actor, "library.quality.rule_delete", target_type=TARGET,
                 target_id=dataset.id, org_id=dataset.provider_org_id,
                 org_path=dataset.provider_path,
                 details={"rule_id": str(rule_id), "kind": rule.kind, "column": rule.column,
                          "resource_code": dataset.resource_code})


def latest_quality(actor: Actor, db: Session, /, dataset_id: uuid.UUID,
                   version_id: uuid.UUID | None = None) -> QualityReport | None:
    """The newest quality report of a version (default: the current one)."""
    dataset = get_dataset(actor, db, dataset_id)
    version_id = version_id or dataset.current_version_id
    if version_id is None:
        return None
    return db.scalars(sa.select(QualityReport).where(QualityReport.version_id == version_id)
                      .order_by(QualityReport.created_at.desc(), QualityReport.id.desc())
                      .limit(1)).first()


def quality_context(db: Session, dataset: Dataset, *, created_at: dt.datetime,
                    update_cycle: str | None) -> quality.Context:
    """What rules need beyond the version: the update cycle, and other datasets (by code)."""
    store = store_of(db)

    def resolve(code: str) -> tuple[Source, set[str]] | None:
        other = db.scalars(sa.select(Dataset).where(Dataset.resource_code == code)).first()
        if other is None or other.current_version_id is None:
            return None
        current = db.get(DatasetVersion, other.current_version_id)
        assert current is not None
        stored = store.get(other.storage_id, current.storage_version)
        return stored.engine_source(), {c["code"] for c in current.columns}

    return quality.Context(created_at=created_at, update_cycle=update_cycle, resolve=resolve)


def evaluate_version(db: Session, /, dataset: Dataset, version: DatasetVersion | None, *,
                     files: Source, columns: Mapping[str, quality.ColumnInfo],
                     rules: Sequence[quality.Rule], created_at: dt.datetime,
                     update_cycle: str | None, engine: Engine | None = None) -> quality.Outcome:
    """Score the rules over a stored version (``files``: what ``Engine.register`` takes, e.g.
    ``engine_source()`` of the version; no permission check: callers hold the dataset).
    ``engine``: where the SQL runs (default: the runtime's data engine)."""
    context = quality_context(db, dataset, created_at=created_at, update_cycle=update_cycle)
    return quality.evaluate(engine or runtime_of(db).data_engine, files, rules, columns=columns,
                            context=context)


@dataclass
class Evaluation:
    dataset_id: uuid.UUID
    version_id: uuid.UUID
    outcome: quality.Outcome
    seconds: float


def evaluate_quality(actor: Actor, db: Session, /, dataset_id: uuid.UUID, *,
                     engine: Engine | None = None) -> Evaluation:
    """Evaluate the dataset's rules over its current version (reads only; keep the result with
    ``record_quality`` in a write transaction afterwards)."""
    import time

    dataset = get_dataset(actor, db, dataset_id)
    if not (actor.can(QUALITY_MANAGE, dataset.provider_path)
            or actor.can(LIBRARY_INGEST, dataset.provider_path)):
        raise PermissionDenied("You may not evaluate this dataset's quality.",
                               permission=QUALITY_MANAGE.value)
    version = get_version(actor, db, dataset.id)
    entry = catalog.get_entry(actor, db, dataset.entry_id)
    stored = store_of(db).get(dataset.storage_id, version.storage_version)
    started = time.monotonic()
    outcome = evaluate_version(
        db, dataset, version, files=stored.engine_source(),
        columns=_columns_of(version, []), rules=_rules(db, dataset.id),
        created_at=version.created_at,
        update_cycle=entry.current_version.update_cycle if entry.current_version else None,
        engine=engine)
    return Evaluation(dataset.id, version.id, outcome, time.monotonic() - started)


def record_quality(actor: Actor, db: Session, /, evaluation: Evaluation) -> QualityReport:
    """Keep a quality evaluation as the version's newest report (audited)."""
    dataset = get_dataset(actor, db, evaluation.dataset_id)
    if not (actor.can(QUALITY_MANAGE, dataset.provider_path)
            or actor.can(LIBRARY_INGEST, dataset.provider_path)):
        raise PermissionDenied("You may not evaluate this dataset's quality.",
                               permission=QUALITY_MANAGE.value)
    version = db.get(DatasetVersion, evaluation.version_id)
    assert version is not None and version.dataset_id == dataset.id
    outcome = evaluation.outcome
    report = QualityReport(dataset_id=dataset.id, version_id=version.id, score=outcome.score,
                           results=[r.as_dict() for r in outcome.results],
                           evaluated_by=actor.username, seconds=round(evaluation.seconds, 3),
                           note="evaluate")
    db.add(report)
    version.quality_score = outcome.score
    db.flush()
    audit.record(db, actor, "library.quality.evaluate", target_type=TARGET, target_id=dataset.id,
                 org_id=dataset.provider_org_id, org_path=dataset.provider_path,
                 details={"version": version.number, "score": outcome.score,
                          "resource_code": dataset.resource_code})
    return report


def request_quality(actor: Actor, db: Session, /, dataset_id: uuid.UUID) -> Job:
    """Queue an evaluation of the dataset's quality rules (job ``library.quality``)."""
    dataset = get_dataset(actor, db, dataset_id)
    require(actor, QUALITY_MANAGE, dataset.provider_path)
    get_version(actor, db, dataset.id)
    return jobs.submit(actor, db, kind="library.quality",
                       params={"dataset_id": str(dataset.id)},
                       title=f"quality {dataset.resource_code}", org_path=dataset.provider_path)


# ------------------------------------------------------------------------------------ preview


@dataclass
class Preview:
    dataset: Dataset
    version: DatasetVersion
    columns: list[previews.PreviewColumn]
    hidden: list[previews.PreviewColumn]
    masked: dict[str, list[str]]
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    policy: previews.Policy


def preview(actor: Actor, db: Session, /, dataset_id: uuid.UUID, *, limit: int = 50,
            offset: int = 0, version: int | None = None) -> Preview:
    """A page of rows as the actor may see them: columns above its clearance hidden, personal
    identifiers masked unless it is a data steward of the provider (Arts. 10, 16). Audited."""
    dataset = get_dataset(actor, db, dataset_id)
    policy = previews.policy_for(actor, provider_path=dataset.provider_path,
                                 bureau_path=dataset.bureau_path)
    if policy is None:
        raise PermissionDenied("You may not preview this dataset.", code="permission_denied",
                               permission=LIBRARY_READ.value)
    found = get_version(actor, db, dataset.id, version)
    limit = max(1, min(int(limit), runtime_of(db).settings.preview_max_rows))
    offset = max(0, int(offset))
    graded = grading.column_grades(db, dataset.entry_id)
    default_rank = 1
    columns = []
    for c in found.columns:
        g = graded.get(c["code"])
        columns.append(previews.PreviewColumn(
            c["code"], c.get("name") or c["code"], c.get("data_type") or "C",
            level=g.proposed_grade if g else None, rank=g.rank if g else default_rank,
            types=previews.mask_types(g.detections) if g else ()))
    stored = store_of(db).get(dataset.storage_id, found.storage_version)
    engine = runtime_of(db).data_engine
    table = f"p_{uuid.uuid4().hex[:16]}"
    plan = previews.plan(columns, policy, table=table)
    engine.register(table, stored.engine_source())
    try:
        rows = engine.query(plan.sql + " LIMIT ? OFFSET ?", [limit, offset]).to_pylist() \
            if plan.shown else []
    finally:
        engine.unregister(table)
    audit.record(db, actor, "library.preview", target_type=TARGET, target_id=dataset.id,
                 org_id=dataset.provider_org_id, org_path=dataset.provider_path,
                 details={"version": found.number, "offset": offset, "limit": limit,
                          "rows": len(rows), "unmasked": policy.unmasked,
                          "hidden": [c.code for c in plan.hidden],
                          "resource_code": dataset.resource_code})
    return Preview(dataset, found, plan.shown, plan.hidden, plan.masked, rows, offset, limit,
                   policy)


# ------------------------------------------------------------------------------ column reader


@dataclass
class ColumnStream:
    """Columns of one dataset version, streamed in Arrow batches (``read_columns``)."""

    dataset: Dataset
    version: DatasetVersion
    #: the stored columns read, in the order asked: {code, name, data_type, arrow_type}
    columns: list[dict[str, Any]]
    batches: pa.RecordBatchReader

    def close(self) -> None:
        self.batches.close()


def may_read_entry_data(actor: Actor, dataset: Dataset) -> bool:
    """Through a role at the provider (or its bureau), or a capability on the entry (a share
    grant's holder; ``sharing.service.capability``)."""
    return _may_read(actor, dataset) or actor.holds(LIBRARY_READ, "catalog_entry",
                                                    dataset.entry_id)


def _readable_version(actor: Actor, db: Session, entry_id: uuid.UUID,
                      version: int | None) -> tuple[Dataset, DatasetVersion]:
    """The entry's dataset and its version ``version`` (the current one by default), if the
    actor may read its data (a role at the provider, or a capability on the entry)."""
    dataset = db.scalars(sa.select(Dataset).where(Dataset.entry_id == entry_id)).first()
    if dataset is None or not may_read_entry_data(actor, dataset):
        raise NotFound("No such dataset.", code="dataset_not_found")
    if version is None:
        if dataset.current_version_id is None:
            raise NotFound("The dataset has no data yet.", code="dataset_no_version")
        found = db.get(DatasetVersion, dataset.current_version_id)
    else:
        found = db.scalars(sa.select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.number == version)).first()
    if found is None:
        raise NotFound(f"The dataset has no version {version}.",
                       code="dataset_version_not_found", version=version)
    return dataset, found


def read_columns(actor: Actor, db: Session, /, *, entry_id: uuid.UUID, columns: Sequence[str],
                 version: int | None = None, where: Sequence[tuple[str, str, Any]] = (),
                 mask: Mapping[str, str] | None = None, offset: int = 0,
                 limit: int | None = None, batch_rows: int = 65_536) -> ColumnStream:
    """The one door to a dataset's data for other modules: these columns (data item codes) of
    the entry's dataset at ``version`` (the current one by default), streamed, in stored row
    order. ``where`` keeps rows for which every ``(code, op, value)`` holds (op in
    ``= != < <= > >= in``); ``mask`` replaces a column by a SQL expression over it (``{code}``
    stands for the quoted column, e.g. from ``deid.masks``). Not audited here: the caller
    records what left and why."""
    dataset, found = _readable_version(actor, db, entry_id, version)
    stored = {c["code"]: c for c in found.columns}
    unknown = [c for c in columns if c not in stored] + \
        [w[0] for w in where if w[0] not in stored]
    if unknown or not columns:
        raise ValidationFailed.single("columns", "unknown_column",
                                      f"No such columns: {', '.join(unknown) or '-'}.",
                                      unknown=unknown)
    ops = {"=", "!=", "<", "<=", ">", ">=", "in"}
    params: list[Any] = []
    conditions = []
    for code, op, value in where:
        if op not in ops:
            raise ValidationFailed.single("where", "invalid", f"Unknown operator {op!r}.")
        if op == "in":
            values = list(value)
            if not values:
                conditions.append("FALSE")
                continue
            conditions.append(f"CAST({_quote(code)} AS VARCHAR) IN ({', '.join('?' * len(values))})")
            params.extend(str(v) for v in values)
        else:
            conditions.append(f"CAST({_quote(code)} AS VARCHAR) {op} ?" if isinstance(value, str)
                              else f"{_quote(code)} {op} ?")
            params.append(value)
    mask = mask or {}
    select = ", ".join(
        f"{mask[c].format(code=_quote(c))} AS {_quote(c)}" if c in mask else _quote(c)
        for c in columns)
    table = f"r_{uuid.uuid4().hex[:16]}"
    engine = runtime_of(db).data_engine
    files = store_of(db).get(dataset.storage_id, found.storage_version).engine_source()
    sql = f"SELECT {select} FROM {table}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if offset:
        sql += f" OFFSET {int(offset)}"
    engine.register(table, files)
    try:
        reader = engine.query_batches(sql, params or None, batch_size=batch_rows)
    except BaseException:
        engine.unregister(table)
        raise

    def stream() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            reader.close()
            engine.unregister(table)

    return ColumnStream(dataset, found, [stored[c] for c in columns],
                        pa.RecordBatchReader.from_batches(reader.schema, stream()))


def open_dataset(actor: Actor, db: Session, /, *, entry_id: uuid.UUID,
                 version: int | None = None, local: bool = False) -> tuple[list[dict[str, Any]], Any]:
    """The entry's dataset at ``version`` (the current one by default) as a
    ``pyarrow.dataset.Dataset`` over its Parquet files, with its stored columns
    ({code, name, data_type, arrow_type}): for an engine that runs its own query over the
    whole dataset (the sandbox, Art. 14). Guarded as :func:`read_columns` (a role at the
    provider, or a capability on the entry); not audited here: the caller records the use.

    ``local``: files on this machine's disk, for an engine that opens the paths itself
    (Spark): from an object store, this machine's copy of the version (``storage_cache_mb``);
    a version larger than that cache is refused (409 ``dataset_not_local``)."""

    dataset, found = _readable_version(actor, db, entry_id, version)
    stored = store_of(db).get(dataset.storage_id, found.storage_version)
    if local and not stored.local:
        copied = stored.engine_source()
        if not isinstance(copied, list):
            raise InvalidState(
                "The dataset is larger than this machine's copy of the object store "
                "(GONGSHU_STORAGE_CACHE_MB) and cannot be read from local files.",
                code="dataset_not_local", bytes=stored.bytes)
        return list(found.columns), pads.dataset([str(p) for p in copied], format="parquet")
    # a local directory or an object store (the version's Arrow dataset knows its file system)
    return list(found.columns), stored.arrow_dataset()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ------------------------------------------------------------------------------------ summary


@dataclass
class EntrySummary:
    """What the catalog entry page shows of the library and grading (Arts. 10, 11)."""

    dataset: Dataset | None
    version: DatasetVersion | None
    quality: QualityReport | None
    scan: Any | None
    grade: str | None


def entry_summary(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> EntrySummary:
    entry = catalog.get_entry(actor, db, entry_id)
    dataset = dataset_for_entry(actor, db, entry.id)
    version = db.get(DatasetVersion, dataset.current_version_id) \
        if dataset is not None and dataset.current_version_id else None
    report = latest_quality(actor, db, dataset.id) if dataset is not None else None
    scan = None
    if grading.may_read(actor, entry.provider_path, entry.bureau_path):
        scan = grading.latest_scan(actor, db, entry.id)
    return EntrySummary(dataset, version, report, scan, entry.grade)


def type_label(code: str | None) -> str:
    return code if code in DATA_TYPES else (code or "")


def audit_labels(db: Session, /, ids: Sequence[str]) -> dict[str, str]:
    """Datasets as the audit log names them ("resource code name"), in one query."""
    rows = db.execute(sa.select(Dataset.id, Dataset.resource_code, Dataset.name)
                      .where(Dataset.id.in_(as_uuids(ids))))
    return {str(i): f"{code} {name}" for i, code, name in rows}


def audit_find(db: Session, /, text: str, *, limit: int = 200) -> list[str]:
    like = f"%{text}%"
    rows = db.scalars(sa.select(Dataset.id).where(
        sa.or_(Dataset.resource_code.ilike(like), Dataset.name.ilike(like))).limit(limit))
    return [str(i) for i in rows]
