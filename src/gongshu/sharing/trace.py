"""Leak tracing (Art. 12: shared data is never passed to a third party).

``trace(actor, db, path)`` reads a suspect copy (CSV in UTF-8 or GBK, XLSX, JSON, Parquet:
``engine.readers.open_source``), regenerates the canary rows of every grant that was ever pulled
(``fingerprint``: from the platform key and the grant alone, masked as that grant delivers
them), and counts, per grant, the distinct canaries whose cells occur together in one row of the
copy. Columns may have been dropped, renamed or reordered and rows cut or re-sorted: cells are
matched by value wherever they are. The grant with the most canaries hit is named when at least
``fingerprint.MIN_HITS`` of them were hit with a confidence of ``fingerprint.MIN_CONFIDENCE``;
a copy no grant delivered names none.

Limits: a grant is regenerated with the masks and detected types of its entry's latest grading
scan and as many canaries as its current dataset version calls for; a copy made before a rescan
that changed a column's detected types, or from a larger earlier version, may match fewer
canaries. A copy that keeps only low-entropy columns (masked names, masked addresses) cannot be
traced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.core import audit
from gongshu.core.errors import GongshuError, PermissionDenied
from gongshu.core.permissions import Actor
from gongshu.engine.readers import open_source
from gongshu.library import service as library
from gongshu.sharing import delivery, fingerprint
from gongshu.sharing.models import GrantPull, ShareGrant
from gongshu.sharing.permissions import SHARE_COORDINATE, SHARE_REPORT


@dataclass
class TraceResult:
    grant_id: str | None
    confidence: float
    candidates: list[fingerprint.Candidate]
    rows: int

    def as_dict(self) -> dict[str, Any]:
        """The ``gongshu sharing trace --json`` contract."""
        return {"grant_id": self.grant_id, "confidence": self.confidence,
                "candidates": [{"grant_id": c.grant_id, "score": c.score}
                               for c in self.candidates]}


def build_index(actor: Actor, db: Session, grants: list[ShareGrant]) -> fingerprint.Index:
    """The canary cells of ``grants`` as they delivered them."""
    index = fingerprint.Index()
    key = delivery._fingerprint_key(db)
    for grant in grants:
        reader = delivery.reader_actor(actor, grant)
        try:
            probe = library.read_columns(reader, db, entry_id=grant.entry_id,
                                         columns=list(grant.items), limit=0)
        except GongshuError:
            continue  # no data (any more), or items no longer stored: nothing to compare
        probe.close()
        plan = delivery.plan_for(db, grant, probe.columns)
        n = fingerprint.count(int(probe.version.rows or 0))
        table = delivery.canary_table(db, plan, range(n), key=key)
        index.compared[str(grant.id)] = n
        bits = {c.code: c.bits for c in plan.fp_columns}
        for code in plan.columns:
            if bits[code] <= 0 or not _is_text(table.schema.field(code).type):
                continue
            for k, value in enumerate(table.column(code).to_pylist()):
                index.add(str(grant.id), k, code, value, bits[code])
    return index


def _is_text(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _rows(path: Path) -> Any:
    source = open_source(path)
    for batch in source.batches():
        columns = [c.to_pylist() for c in batch.columns]
        yield from zip(*columns, strict=True)


def trace(actor: Actor, db: Session, /, path: Path | str) -> TraceResult:
    """The grant a leaked copy came from, if any, with the confidence (audited)."""
    if not (actor.is_system or actor.can(SHARE_COORDINATE) or actor.can(SHARE_REPORT)):
        raise PermissionDenied("Tracing a copy is for the data bureau and security officers.",
                               code="permission_denied", permission=str(SHARE_REPORT))
    path = Path(path)
    pulled = sa.select(GrantPull.grant_id).distinct()
    grants = list(db.scalars(sa.select(ShareGrant).where(ShareGrant.id.in_(pulled))
                             .order_by(ShareGrant.created_at)))
    index = build_index(actor, db, grants)
    candidates, rows = index.score(_rows(path))
    grant_id, confidence = fingerprint.verdict(candidates)
    audit.record(db, actor, "sharing.trace", target_type="share_grant",
                 target_id=uuid.UUID(grant_id) if grant_id else "",
                 details={"file": path.name, "rows": rows, "grant_id": grant_id,
                          "confidence": confidence,
                          "candidates": [[c.grant_id, c.hits] for c in candidates[:10]]})
    return TraceResult(grant_id, confidence, candidates, rows)
