"""Migration 0016 removes the duplicates that races left before its constraints (one item per
version and position, one approval/publication/withdrawal per version, one system per response
and position), keeping the first row of each place."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from gongshu.core.migrations import alembic_config

ITEM = sa.table("catalog_data_item", sa.column("id", sa.Uuid()), sa.column("version_id", sa.Uuid()),
                sa.column("position"), sa.column("name"), sa.column("code"),
                sa.column("data_type"), sa.column("name_key"))
REVIEW = sa.table("catalog_review", sa.column("id", sa.Uuid()), sa.column("entry_id", sa.Uuid()),
                  sa.column("version_id", sa.Uuid()), sa.column("version_number"),
                  sa.column("action"), sa.column("comment"), sa.column("actor_name"),
                  sa.column("created_at", sa.DateTime()))
SYSTEM = sa.table("census_info_system", sa.column("id", sa.Uuid()),
                  sa.column("response_id", sa.Uuid()), sa.column("position"), sa.column("name"),
                  sa.column("purpose"), sa.column("on_government_cloud"),
                  sa.column("classified"), sa.column("entry_ids", sa.JSON()))


def _upgrade(conn: sa.Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def test_0016_keeps_one_row_per_place(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    version, other, entry, response = (uuid.uuid4() for _ in range(4))
    t0 = dt.datetime(2025, 1, 1)
    with engine.begin() as conn:
        _upgrade(conn, "0003")
        # what 100 racing edits of a 2-item draft left: each place many times over
        conn.execute(ITEM.insert(), [
            {"id": uuid.uuid4(), "version_id": v, "position": pos, "name": f"项{pos}",
             "code": f"C{pos}", "data_type": "C"}
            for v in (version, other) for pos in (0, 1) for _ in range(5 if v == version else 1)])
        conn.execute(REVIEW.insert(), [
            {"id": uuid.uuid4(), "entry_id": entry, "version_id": version, "version_number": 1,
             "action": action, "comment": str(n), "actor_name": "x",
             "created_at": t0 + dt.timedelta(seconds=n)}
            for action, times in (("approve", 3), ("publish", 3), ("submit", 2), ("return", 2))
            for n in range(times)])
        conn.execute(SYSTEM.insert(), [
            {"id": uuid.uuid4(), "response_id": response, "position": pos, "name": "系统",
             "purpose": "", "on_government_cloud": False, "classified": False, "entry_ids": []}
            for pos in (0, 1, 2) for _ in range(4)])
        _upgrade(conn, "0016")
        items = conn.execute(sa.select(ITEM.c.version_id, ITEM.c.position)
                             .order_by(ITEM.c.version_id, ITEM.c.position)).all()
        assert sorted((v == version, p) for v, p in items) == [
            (False, 0), (False, 1), (True, 0), (True, 1)]
        reviews = conn.execute(sa.select(REVIEW.c.action, REVIEW.c.comment)).all()
        assert sorted(reviews) == [("approve", "0"), ("publish", "0"), ("return", "0"),
                                   ("return", "1"), ("submit", "0"), ("submit", "1")]
        assert conn.execute(sa.select(sa.func.count()).select_from(SYSTEM)).scalar() == 3
    engine.dispose()
