"""De-identification's use cases (Art. 16): the only door to its tables.

- **Files** (the CLI, an uploaded file): :func:`assess_file` measures the re-identification
  risk of a file read by the library's readers (UTF-8/GBK CSV, XLSX with title rows, Parquet,
  JSON); :func:`apply_file` applies a profile to a file and writes the result only when the
  profile's thresholds are met (else nothing is written: :class:`Blocked` carries the figures
  and the reasons). The output is written to a temporary file beside it and renamed, so a
  failure never leaves half a file.
- **Datasets**: profiles per dataset (:func:`create_profile` …), an assessment of the current
  (or a given) version, raw or through a profile (:func:`assess_dataset`), and **releases**
  (:func:`create_release`): the profile applied to a version, measured, and recorded as
  ``ready`` or ``blocked`` with its reasons. Only a ``ready`` release can be released
  (:func:`release`, the row locked) and only a released one downloaded. Art. 16: personal data
  leave without consent only de-identified so that no one can be identified — here, only when
  k, l and the maximum risk meet the profile's thresholds.

Data are read through ``library.service.read_columns`` (the one door). Pseudonym keys are
derived from the key store's ``deid`` secret (``keys/deid.key``, 0600) and the release's or the
dataset's id (the profile's ``key_scope``); they are never written beside the output.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.core import audit, exports, jobs
from gongshu.core.db import fetch, on_commit, runtime_of, utcnow
from gongshu.core.errors import (
    Conflict,
    FieldError,
    GongshuError,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.permissions import Actor, Perm, roles_for
from gongshu.core.security import KeyStore
from gongshu.deid import risk, transforms
from gongshu.deid.models import DeidProfile, DeidRelease, ReleaseStatus
from gongshu.deid.permissions import DEID_ASSESS, DEID_MANAGE
from gongshu.deid.risk import Assessment, Reason
from gongshu.deid.transforms import Profile
from gongshu.engine.readers import open_source
from gongshu.library import service as library

__all__ = ["Assessment", "Blocked", "DeidProfile", "DeidRelease", "Profile", "ReleaseStatus"]

OUTPUT_FORMATS = ("csv", "parquet")
TARGET_PROFILE = "deid_profile"
TARGET_RELEASE = "deid_release"
KEY_NAME = "deid"
#: the largest file the API assesses (bytes); bigger ones go through the CLI
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class Blocked(GongshuError):
    """The profile's thresholds are not met: nothing was written (Art. 16)."""

    status = 409
    default_code = "deid_blocked"

    def __init__(self, assessment: Assessment, reasons: Sequence[Reason]) -> None:
        text = "; ".join(reason_text(r) for r in reasons)
        super().__init__(f"Blocked: {text}.", reasons=[r.as_dict() for r in reasons])
        self.assessment = assessment
        self.reasons = list(reasons)


def reason_text(reason: Reason | Mapping[str, Any]) -> str:
    """A reason in English (the CLI, logs); pages use ``deid.reason.<code>``."""
    r = reason.as_dict() if isinstance(reason, Reason) else dict(reason)
    if r["code"] == "k_below":
        return (f"k = {r['k']} is below the threshold {r['threshold']} "
                f"({r.get('at_risk', 0)} records in smaller classes)")
    if r["code"] == "l_below":
        return f"l = {r['l']} is below the threshold {r['threshold']}"
    if r["code"] == "max_risk_above":
        return f"the maximum risk {r['max_risk']} is above {r['threshold']}"
    return str(r["code"])


# ------------------------------------------------------------------------------- files


def read_table(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> pa.Table:
    """A file as an Arrow table of text columns (``columns`` only, if given); an unknown
    column is a ``deid_unknown_column`` field error naming it."""
    with open_source(path) as reader:
        names = reader.schema.names
        if columns is not None:
            unknown = [c for c in columns if c not in names]
            if unknown:
                raise ValidationFailed(
                    f"No such columns: {', '.join(unknown)} (the file has: {', '.join(names)}).",
                    code="deid_unknown_column",
                    errors=[FieldError("qi", "deid_unknown_column", f"No column {c!r} in the file.",
                                       params={"column": c}) for c in unknown],
                    column=", ".join(unknown))
            wanted = list(dict.fromkeys(columns))
            batches = [b.select(wanted) for b in reader.batches()]
            schema = pa.schema([reader.schema.field(c) for c in wanted])
        else:
            batches = list(reader.batches())
            schema = reader.schema
    return pa.Table.from_batches(batches, schema=schema)


def _qi_list(qi: Sequence[str] | str) -> list[str]:
    found = [q.strip() for q in (qi.split(",") if isinstance(qi, str) else qi) if q.strip()]
    if not found:
        raise ValidationFailed.single("qi", "deid_qi_required",
                                      "Name at least one quasi-identifier.")
    return list(dict.fromkeys(found))


def assess_table(table: pa.Table, qi: Sequence[str] | str, *, k: int = 10,
                 sensitive: str | None = None) -> Assessment:
    names = _qi_list(qi)
    unknown = [c for c in [*names, *([sensitive] if sensitive else [])]
               if c not in table.column_names]
    if unknown:
        raise ValidationFailed(
            f"No such columns: {', '.join(unknown)} (the data has: "
            f"{', '.join(table.column_names)}).", code="deid_unknown_column",
            column=", ".join(unknown))
    if k < 1:
        raise ValidationFailed.single("k", "deid_number", "k is at least 1.", lo=1, hi=10**9)
    return risk.assess(table, names, k_threshold=k, sensitive=sensitive)


def assess_file(path: str | os.PathLike[str], qi: Sequence[str] | str, *, k: int = 10,
                sensitive: str | None = None) -> Assessment:
    """The re-identification risk of a file for these quasi-identifiers (``risk.assess``)."""
    names = _qi_list(qi)
    table = read_table(path, [*names, *([sensitive] if sensitive else [])])
    return assess_table(table, names, k=k, sensitive=sensitive)


def load_profile(text: str, *, columns: Sequence[str] | None = None) -> Profile:
    """A profile from YAML (or JSON) text."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed.single("profile", "deid_profile",
                                      f"The profile is not valid YAML: {exc}") from None
    return transforms.parse_profile(data, columns=columns)


def derive_key(keys: KeyStore, scope: str) -> bytes:
    """A pseudonym key for one scope (``release:<id>``, ``dataset:<id>``, ``file:<name>``):
    SM3-HMAC of the scope under the key store's ``deid`` secret. Never stored."""
    h = transforms.pseudonym_hmac(keys.secret(KEY_NAME))
    h.update(b"gongshu.deid.key.v1\n" + scope.encode("utf-8"))
    return h.finalize()


def _check_thresholds(assessment: Assessment, profile: Profile) -> list[Reason]:
    t = profile.thresholds
    return risk.reasons(assessment, k=t.k, l=t.l, max_risk=t.max_risk)


def deidentify(table: pa.Table, profile: Profile, *, key: bytes | None
               ) -> tuple[pa.Table, Assessment, list[Reason]]:
    """The profile applied to a table, measured, and what blocks it (empty: nothing)."""
    try:
        out = transforms.apply_profile(table, profile, key=key)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationFailed.single("profile", "deid_transform_failed",
                                      f"A transform could not be applied: {exc}") from None
    assessment = risk.assess(out, profile.quasi_identifiers,
                             k_threshold=profile.thresholds.k, sensitive=profile.sensitive)
    return out, assessment, _check_thresholds(assessment, profile)


def write_output(table: pa.Table, out: str | os.PathLike[str], *, fmt: str) -> None:
    """Write ``table`` to ``out`` through a temporary file in the same directory, renamed at
    the end: a failure leaves nothing. CSV cells are neutralised (``core.exports``)."""
    if fmt not in OUTPUT_FORMATS:
        raise ValidationFailed.single("format", "deid_format", f"Formats: csv, parquet (not {fmt}).")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            safe = pa.table([exports.safe_column(c.combine_chunks() if isinstance(
                c, pa.ChunkedArray) else c) for c in table.columns], names=table.column_names)
            with open(tmp, "wb") as f:
                f.write(b"\xef\xbb\xbf")  # a BOM, so that Excel reads UTF-8
                pacsv.write_csv(safe, f)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass
class Applied:
    assessment: Assessment
    rows: int
    columns: list[str]
    output: Path


def apply_file(path: str | os.PathLike[str], profile_text: str, out: str | os.PathLike[str], *,
               fmt: str | None = None, keys: KeyStore | None = None) -> Applied:
    """De-identify a file with a profile (YAML) and write the result to ``out``, only when the
    profile's thresholds are met; otherwise raise :class:`Blocked` and write nothing.
    Pseudonym keys: ``key_scope: dataset`` derives a stable key from the key store (``keys``,
    named after the profile's ``key_name`` or the input file's name); ``release`` uses a
    fresh random key each run (pseudonyms that link to nothing else)."""
    fmt = fmt or ("parquet" if str(out).lower().endswith((".parquet", ".pq")) else "csv")
    if fmt not in OUTPUT_FORMATS:
        raise ValidationFailed.single("format", "deid_format", f"Formats: csv, parquet (not {fmt}).")
    table = read_table(path)
    profile = load_profile(profile_text, columns=table.column_names)
    key = None
    if profile.needs_key():
        if profile.key_scope == "dataset":
            if keys is None:
                raise ValidationFailed.single("key_scope", "deid_no_key_store",
                                              "A stable pseudonym key needs the key store.")
            import yaml

            name = (yaml.safe_load(profile_text) or {}).get("key_name") or Path(path).name
            key = derive_key(keys, f"file:{name}")
        else:
            key = secrets.token_bytes(32)
    result, assessment, reasons = deidentify(table, profile, key=key)
    if reasons:
        raise Blocked(assessment, reasons)
    write_output(result, out, fmt=fmt)
    return Applied(assessment, result.num_rows, result.column_names, Path(out))


# ----------------------------------------------------------------------------- datasets


def _may(actor: Actor, perm: Perm | str, provider_path: str, bureau_path: str) -> bool:
    return actor.is_system or actor.can(perm, provider_path) or bool(bureau_path) and \
        actor.can(perm, bureau_path)


def _dataset(actor: Actor, db: Session, entry_id: uuid.UUID, perm: Perm | str) -> Any:
    dataset = library.dataset_for_entry(actor, db, entry_id)
    if dataset is None:
        raise NotFound("No such dataset.", code="dataset_not_found")
    if not _may(actor, perm, dataset.provider_path, dataset.bureau_path):
        raise PermissionDenied(f"You do not have the permission {perm} for this dataset.",
                               permission=str(perm))
    return dataset


def dataset_columns(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> list[dict[str, Any]]:
    """The columns of the dataset's current version: {code, name, data_type, …}."""
    dataset = _dataset(actor, db, entry_id, DEID_ASSESS)
    version = dataset.current_version
    if version is None:
        raise NotFound("The dataset has no data yet.", code="dataset_no_version")
    return [dict(c) for c in version.columns]


def dataset_info(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> Any:
    """The library's dataset of an entry (name, resource code, current version), checked."""
    return _dataset(actor, db, entry_id, DEID_ASSESS)


def _read(actor: Actor, db: Session, entry_id: uuid.UUID, columns: Sequence[str],
          version: int | None) -> tuple[pa.Table, int]:
    stream = library.read_columns(actor, db, entry_id=entry_id, columns=list(columns),
                                  version=version)
    try:
        table = stream.batches.read_all()
    finally:
        stream.close()
    return table, stream.version.number


def _codes(columns: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(c["code"]) for c in columns]


def assess_dataset(actor: Actor, db: Session, /, *, entry_id: uuid.UUID,
                   qi: Sequence[str] | str = (), k: int = 10, sensitive: str | None = None,
                   profile_id: uuid.UUID | None = None, version: int | None = None
                   ) -> tuple[Assessment, list[Reason]]:
    """The risk of a dataset's version: raw for ``qi`` (reasons against ``k``), or as a
    profile would release it (its quasi-identifiers and thresholds). Audited: data were read."""
    dataset = _dataset(actor, db, entry_id, DEID_ASSESS)
    codes = _codes(dataset_columns(actor, db, entry_id))
    if profile_id is not None:
        found = get_profile(actor, db, profile_id)
        if found.entry_id != entry_id:
            raise NotFound("No such profile.", code="deid_profile_not_found")
        profile = transforms.parse_profile(found.spec, columns=codes)
        needed = profile.output_columns(codes)
        table, number = _read(actor, db, entry_id, needed, version)
        key = derive_key(runtime_of(db).keys, f"assess:{uuid.uuid4()}") \
            if profile.needs_key() else None
        _out, assessment, reasons = deidentify(table, profile, key=key)
    else:
        names = _qi_list(qi)
        unknown = [c for c in [*names, *([sensitive] if sensitive else [])] if c not in codes]
        if unknown:
            raise ValidationFailed(f"No such columns: {', '.join(unknown)}.",
                                   code="deid_unknown_column", column=", ".join(unknown))
        table, number = _read(actor, db, entry_id,
                              list(dict.fromkeys([*names, *([sensitive] if sensitive else [])])),
                              version)
        assessment = assess_table(table, names, k=k, sensitive=sensitive)
        reasons = risk.reasons(assessment, k=k)
    audit.record(db, actor, "deid.assess", target_type="catalog_entry", target_id=entry_id,
                 org_path=dataset.provider_path,
                 details={"version": number, "quasi_identifiers": list(assessment.quasi_identifiers),
                          "k": assessment.k, "records": assessment.records,
                          "profile_id": str(profile_id) if profile_id else None})
    return assessment, reasons


# ----------------------------------------------------------------------------- profiles


def _profile(db: Session, profile_id: uuid.UUID, *, lock: bool = False) -> DeidProfile:
    return fetch(db, DeidProfile, profile_id, lock=lock,
                 missing=NotFound("No such profile.", code="deid_profile_not_found"))


def get_profile(actor: Actor, db: Session, /, profile_id: uuid.UUID) -> DeidProfile:
    found = _profile(db, profile_id)
    if not _may(actor, DEID_ASSESS, found.provider_path, found.bureau_path):
        raise NotFound("No such profile.", code="deid_profile_not_found")
    return found


def list_profiles(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> list[DeidProfile]:
    _dataset(actor, db, entry_id, DEID_ASSESS)
    return list(db.scalars(sa.select(DeidProfile).where(DeidProfile.entry_id == entry_id)
                           .order_by(DeidProfile.name)))


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed.single("name", "deid_profile_name",
                                      "A profile needs a name of at most 100 characters.")
    return name


def _name_taken(db: Session, entry_id: uuid.UUID, name: str, but: uuid.UUID | None = None) -> None:
    query = sa.select(DeidProfile.id).where(DeidProfile.entry_id == entry_id,
                                            DeidProfile.name == name)
    if but is not None:
        query = query.where(DeidProfile.id != but)
    if db.scalars(query).first() is not None:
        raise Conflict(f"The dataset has a profile named {name} already.",
                       code="deid_profile_exists", name=name)


def create_profile(actor: Actor, db: Session, /, *, entry_id: uuid.UUID, name: str,
                   spec: Mapping[str, Any]) -> DeidProfile:
    dataset = _dataset(actor, db, entry_id, DEID_MANAGE)
    name = _clean_name(name)
    profile = transforms.parse_profile(spec, columns=_codes(dataset_columns(actor, db, entry_id)))
    _name_taken(db, entry_id, name)
    found = DeidProfile(entry_id=entry_id, name=name, spec=profile.as_dict(),
                        provider_path=dataset.provider_path, bureau_path=dataset.bureau_path,
                        created_by=actor.username, updated_by=actor.username)
    db.add(found)
    try:
        with db.begin_nested():
            db.flush()
    except sa.exc.IntegrityError:
        raise Conflict(f"The dataset has a profile named {name} already.",
                       code="deid_profile_exists", name=name) from None
    audit.record(db, actor, "deid.profile_create", target_type=TARGET_PROFILE,
                 target_id=found.id, org_path=dataset.provider_path,
                 details={"entry_id": str(entry_id), "name": name})
    return found


def update_profile(actor: Actor, db: Session, /, profile_id: uuid.UUID, *, name: str,
                   spec: Mapping[str, Any], version: int) -> DeidProfile:
    found = _profile(db, profile_id, lock=True)
    if not _may(actor, DEID_ASSESS, found.provider_path, found.bureau_path):
        raise NotFound("No such profile.", code="deid_profile_not_found")
    _dataset(actor, db, found.entry_id, DEID_MANAGE)
    name = _clean_name(name)
    profile = transforms.parse_profile(
        spec, columns=_codes(dataset_columns(actor, db, found.entry_id)))
    if found.version != version:
        raise Conflict("Someone changed the profile meanwhile; reload it.",
                       code="deid_profile_changed")
    _name_taken(db, found.entry_id, name, but=found.id)
    found.name = name
    found.spec = profile.as_dict()
    found.version += 1
    found.updated_by = actor.username
    found.updated_at = utcnow()
    audit.record(db, actor, "deid.profile_update", target_type=TARGET_PROFILE,
                 target_id=found.id, org_path=found.provider_path,
                 details={"entry_id": str(found.entry_id), "name": name,
                          "version": found.version})
    return found


def delete_profile(actor: Actor, db: Session, /, profile_id: uuid.UUID) -> None:
    found = _profile(db, profile_id, lock=True)
    if not _may(actor, DEID_ASSESS, found.provider_path, found.bureau_path):
        raise NotFound("No such profile.", code="deid_profile_not_found")
    _dataset(actor, db, found.entry_id, DEID_MANAGE)
    audit.record(db, actor, "deid.profile_delete", target_type=TARGET_PROFILE,
                 target_id=found.id, org_path=found.provider_path,
                 details={"entry_id": str(found.entry_id), "name": found.name})
    db.delete(found)


# ----------------------------------------------------------------------------- releases


def releases_dir(db: Session) -> Path:
    return runtime_of(db).settings.resolved_data_dir / "deid"


@dataclass
class Prepared:
    """A release computed but not yet recorded (``prepare_release``): its figures, and its
    output under a pending name when the thresholds are met."""

    release_id: uuid.UUID
    entry_id: uuid.UUID
    profile_id: uuid.UUID
    profile_name: str
    spec: dict[str, Any]
    provider_path: str
    bureau_path: str
    dataset_version: int
    assessment: Assessment
    reasons: list[Reason]
    rows: int
    columns: list[str]
    pending: Path | None

    def discard(self) -> None:
        if self.pending is not None:
            with contextlib.suppress(FileNotFoundError):
                self.pending.unlink()


def prepare_release(actor: Actor, db: Session, /, *, entry_id: uuid.UUID,
                    profile_id: uuid.UUID, version: int | None = None) -> Prepared:
    """Read a version of the dataset (the current one by default), apply the profile, measure
    it, and when the thresholds are met write the output under a pending name. Writes no row:
    a job does this in a read transaction and records the release in a short one after."""
    dataset = _dataset(actor, db, entry_id, DEID_MANAGE)
    found = get_profile(actor, db, profile_id)
    if found.entry_id != entry_id:
        raise NotFound("No such profile.", code="deid_profile_not_found")
    codes = _codes(dataset_columns(actor, db, entry_id))
    profile = transforms.parse_profile(found.spec, columns=codes)
    table, number = _read(actor, db, entry_id, profile.output_columns(codes), version)
    release_id = uuid.uuid4()
    key = None
    if profile.needs_key():
        scope = f"dataset:{entry_id}" if profile.key_scope == "dataset" \
            else f"release:{release_id}"
        key = derive_key(runtime_of(db).keys, scope)
    out, assessment, reasons = deidentify(table, profile, key=key)
    pending = None
    if not reasons:
        pending = releases_dir(db) / f"{release_id}.pending"
        write_output(out, pending, fmt="parquet")
    return Prepared(release_id, entry_id, found.id, found.name, profile.as_dict(),
                    dataset.provider_path, dataset.bureau_path, number, assessment, reasons,
                    out.num_rows, out.column_names, pending)


def record_release(actor: Actor, db: Session, /, prepared: Prepared) -> DeidRelease:
    """Record a prepared release: ``ready`` when the thresholds are met (its file renamed from
    pending when the row commits, so a rolled-back release leaves no release file), else
    ``blocked`` with the reasons (no file). Audited."""
    _dataset(actor, db, prepared.entry_id, DEID_MANAGE)  # still allowed (a job runs later)
    p = prepared
    status = ReleaseStatus.BLOCKED if p.reasons else ReleaseStatus.READY
    release = DeidRelease(id=p.release_id, entry_id=p.entry_id, profile_id=p.profile_id,
                          profile_name=p.profile_name, spec=p.spec,
                          provider_path=p.provider_path, bureau_path=p.bureau_path,
                          dataset_version=p.dataset_version, status=status.value,
                          assessment=p.assessment.as_dict(),
                          reasons=[r.as_dict() for r in p.reasons], rows=p.rows,
                          columns=p.columns, created_by=actor.username)
    if p.pending is not None:
        pending, final = p.pending, p.pending.with_suffix(".parquet")
        release.file_name = final.name
        on_commit(db, lambda: os.replace(pending, final))
    db.add(release)
    db.flush()
    a = p.assessment
    audit.record(db, actor, "deid.release_create", target_type=TARGET_RELEASE,
                 target_id=release.id, org_path=p.provider_path,
                 details={"entry_id": str(p.entry_id), "profile": p.profile_name,
                          "version": p.dataset_version, "status": release.status, "k": a.k,
                          "l": a.l, "max_risk": a.max_risk,
                          "reasons": [r.code for r in p.reasons]})
    return release


def create_release(actor: Actor, db: Session, /, *, entry_id: uuid.UUID,
                   profile_id: uuid.UUID, version: int | None = None) -> DeidRelease:
    """``prepare_release`` and ``record_release`` in one unit of work (the API, the CLI)."""
    prepared = prepare_release(actor, db, entry_id=entry_id, profile_id=profile_id,
                               version=version)
    try:
        return record_release(actor, db, prepared)
    except BaseException:
        prepared.discard()
        raise


def request_release(actor: Actor, db: Session, /, *, entry_id: uuid.UUID,
                    profile_id: uuid.UUID, version: int | None = None) -> Any:
    """Queue a release as a job (``deid.release``), for datasets too large to wait for."""
    dataset = _dataset(actor, db, entry_id, DEID_MANAGE)
    found = get_profile(actor, db, profile_id)
    if found.entry_id != entry_id:
        raise NotFound("No such profile.", code="deid_profile_not_found")
    return jobs.submit(actor, db, kind="deid.release",
                       params={"entry_id": str(entry_id), "profile_id": str(profile_id),
                               "version": version},
                       title=f"deid {dataset.resource_code} {found.name}"[:200],
                       org_path=dataset.provider_path)


def _release_row(db: Session, release_id: uuid.UUID, *, lock: bool = False) -> DeidRelease:
    return fetch(db, DeidRelease, release_id, lock=lock,
                 missing=NotFound("No such release.", code="deid_release_not_found"))


def get_release(actor: Actor, db: Session, /, release_id: uuid.UUID) -> DeidRelease:
    found = _release_row(db, release_id)
    if not _may(actor, DEID_ASSESS, found.provider_path, found.bureau_path):
        raise NotFound("No such release.", code="deid_release_not_found")
    return found


def list_releases(actor: Actor, db: Session, /, *, entry_id: uuid.UUID | None = None,
                  status: str | None = None, limit: int = 50, offset: int = 0
                  ) -> tuple[list[DeidRelease], int]:
    """Releases the actor may see (of one dataset, or all in its scope), newest first."""
    query = sa.select(DeidRelease)
    if entry_id is not None:
        _dataset(actor, db, entry_id, DEID_ASSESS)
        query = query.where(DeidRelease.entry_id == entry_id)
    if not actor.is_system:
        holding = roles_for(DEID_ASSESS.value)
        conds = []
        for g in actor.grants:
            if g.role not in holding or not actor.can(DEID_ASSESS, g.org_path):
                continue
            for column in (DeidRelease.provider_path, DeidRelease.bureau_path):
                conds.append(column.startswith(g.org_path, autoescape=True) if g.subtree
                             else column == g.org_path)
        query = query.where(sa.or_(*conds) if conds else sa.false())
    if status:
        query = query.where(DeidRelease.status == status)
    total = db.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(DeidRelease.created_at.desc(), DeidRelease.id)
                      .limit(limit).offset(offset))
    return list(rows), int(total)


def release(actor: Actor, db: Session, /, release_id: uuid.UUID) -> DeidRelease:
    """Make a ``ready`` release downloadable. A blocked one never is (Art. 16: its risk is
    above the thresholds); a released one answers ``deid_release_released``. The row is
    locked, so of concurrent calls one releases and the others get 409."""
    found = _release_row(db, release_id, lock=True)
    if not _may(actor, DEID_ASSESS, found.provider_path, found.bureau_path):
        raise NotFound("No such release.", code="deid_release_not_found")
    if not _may(actor, DEID_MANAGE, found.provider_path, found.bureau_path):
        raise PermissionDenied(f"You do not have the permission {DEID_MANAGE}.",
                               permission=str(DEID_MANAGE))
    if found.status == ReleaseStatus.RELEASED:
        raise InvalidState("The release was released already.", code="deid_release_released")
    # Art. 16: re-check the recorded figures against the recorded thresholds, not the status
    profile = transforms.parse_profile(found.spec)
    blocking = _check_thresholds(Assessment.from_dict(found.assessment), profile)
    if found.status == ReleaseStatus.BLOCKED or blocking:
        text = "; ".join(reason_text(r) for r in (blocking or found.reasons))
        raise InvalidState(f"The release is blocked: {text}.", code="deid_release_blocked",
                           reasons=found.reasons or [r.as_dict() for r in blocking])
    found.status = ReleaseStatus.RELEASED.value
    found.released_by = actor.username
    found.released_at = utcnow()
    found.version += 1
    audit.record(db, actor, "deid.release", target_type=TARGET_RELEASE, target_id=found.id,
                 org_path=found.provider_path,
                 details={"entry_id": str(found.entry_id), "rows": found.rows,
                          "k": found.assessment.get("k")})
    return found


def download_release(actor: Actor, db: Session, /, release_id: uuid.UUID, *,
                     fmt: str = "csv") -> tuple[bytes, str, DeidRelease]:
    """A released release's data (``csv`` or ``parquet``), audited."""
    found = get_release(actor, db, release_id)
    if not _may(actor, DEID_MANAGE, found.provider_path, found.bureau_path):
        raise PermissionDenied(f"You do not have the permission {DEID_MANAGE}.",
                               permission=str(DEID_MANAGE))
    if fmt not in OUTPUT_FORMATS:
        raise ValidationFailed.single("format", "deid_format", f"Formats: csv, parquet (not {fmt}).")
    if found.status != ReleaseStatus.RELEASED:
        raise InvalidState("Only a released release can be downloaded.",
                           code="deid_release_not_released")
    path = releases_dir(db) / found.file_name
    if not found.file_name or not path.exists():
        raise NotFound("The release's file is missing.", code="deid_release_file_missing")
    if fmt == "parquet":
        body = path.read_bytes()
    else:
        table = pq.read_table(path)
        fd, tmp = tempfile.mkstemp(suffix=".csv")
        os.close(fd)
        try:
            write_output(table, tmp, fmt="csv")
            body = Path(tmp).read_bytes()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    audit.record(db, actor, "deid.download", target_type=TARGET_RELEASE, target_id=found.id,
                 org_path=found.provider_path,
                 details={"entry_id": str(found.entry_id), "format": fmt, "rows": found.rows})
    return body, fmt, found


# ------------------------------------------------------------------------ uploaded files


def assess_upload(actor: Actor, db: Session, /, *, stream: Any, filename: str | None,
                  qi: Sequence[str] | str, k: int = 10, sensitive: str | None = None,
                  max_bytes: int = MAX_UPLOAD_BYTES) -> Assessment:
    """The risk of an uploaded file (copied to a temporary file, read, deleted). Audited (the
    figures only; the file is not kept)."""
    if not actor.is_system and not actor.can(DEID_ASSESS):
        raise PermissionDenied(f"You do not have the permission {DEID_ASSESS}.",
                               permission=str(DEID_ASSESS))
    suffix = Path((filename or "upload.csv").replace("\\", "/")).suffix.lower()[:10] or ".csv"
    if not suffix[1:].isalnum():
        suffix = ".csv"
    with tempfile.TemporaryDirectory(prefix="gongshu-deid-") as folder:
        target = Path(folder) / f"upload{suffix}"
        written = 0
        with target.open("wb") as out:
            while chunk := stream.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise ValidationFailed.single(
                        "file", "deid_upload_too_large",
                        f"The file is larger than {max_bytes // (1 << 20)} MB; assess it on "
                        "the server with `gongshu deid assess`.", mb=max_bytes // (1 << 20))
                out.write(chunk)
        if written == 0:
            raise ValidationFailed.single("file", "deid_upload_empty", "The file is empty.")
        found = assess_file(target, qi, k=k, sensitive=sensitive)
    audit.record(db, actor, "deid.assess_file", target_type="file",
                 target_id=(filename or "")[:100], org_path=actor.org_path,
                 details={"quasi_identifiers": list(found.quasi_identifiers),
                          "records": found.records, "k": found.k})
    return found
