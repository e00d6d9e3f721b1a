"""De-identification's tables (Art. 16).

- ``DeidProfile``: how one dataset is de-identified (``transforms.parse_profile``'s shape, as
  JSON): per column a transform, the quasi-identifiers, the sensitive column, the thresholds.
  A name is unique per dataset; ``version`` is checked on every change.
- ``DeidRelease``: a profile applied to one version of the dataset: the profile as it was, the
  measured risk (``risk.Assessment``), and ``status``: ``blocked`` (the thresholds are not met;
  ``reasons`` say why, it can never be released), ``ready`` (met; waiting for someone to
  release it) or ``released`` (downloadable). The output file lives under the data directory
  (``deid/<id>.parquet``); the pseudonym key never does (it is derived from the key store).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.core.db import Base, CreatedMixin, IdMixin, utcnow


class ReleaseStatus(StrEnum):
    BLOCKED = "blocked"
    READY = "ready"
    RELEASED = "released"


class DeidProfile(IdMixin, CreatedMixin, Base):
    __tablename__ = "deid_profile"
    __table_args__ = (UniqueConstraint("entry_id", "name"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class DeidRelease(IdMixin, CreatedMixin, Base):
    __tablename__ = "deid_release"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    #: not a foreign key: a profile may be deleted, its releases keep ``spec``
    profile_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    profile_name: Mapped[str] = mapped_column(String(100), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="")
    dataset_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    assessment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    #: the output's path under the data directory
    file_name: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    released_by: Mapped[str] = mapped_column(String(64), default="")
    released_at: Mapped[dt.datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)
