"""Demo data of de-identification (Art. 16): two profiles of the synthetic population register
(常住人口基本信息, stored by the library's demo) and a release of each — one meets its
thresholds and waits to be released, the other (full birth dates) is blocked with its reasons.
"""

from __future__ import annotations

from typing import Any

from gongshu.deid import service
from gongshu.library import service as library

POPULATION = "常住人口基本信息"
PROFILES: list[tuple[str, dict[str, Any]]] = [
    ("对外统计发布（示例）", {
        "columns": {"GMSFHM": {"transform": "id_region", "to": "city", "output": "name"},
                    "XM": "drop", "HJDZ": "drop",
                    "CSRQ": {"transform": "date", "to": "band5"},
                    "MZ": {"transform": "rare", "min_count": 50}},
        "quasi_identifiers": ["XB", "CSRQ", "GMSFHM"], "sensitive": "MZ",
        "thresholds": {"k": 10, "max_risk": 0.1}, "suppress": "drop"}),
    ("按出生日期（示例，未达标）", {
        "columns": {"GMSFHM": "pseudonym", "XM": "drop", "HJDZ": "drop"},
        "quasi_identifiers": ["XB", "CSRQ"], "thresholds": {"k": 5}}),
]


def populate(ctx: Any) -> None:
    runtime = ctx.runtime
    with runtime.db.transaction(write=False) as db:
        found, _n = library.list_datasets(ctx.actor, db, q=POPULATION, limit=10)
        dataset = next((d for d in found if d.name == POPULATION and d.current_version_id), None)
        if dataset is None:
            ctx.progress(f"deid: no dataset {POPULATION!r} with data; skipped")
            return
        entry_id = dataset.entry_id
        codes = {c["code"] for c in service.dataset_columns(ctx.actor, db, entry_id)}
    for name, spec in PROFILES:
        named = set(spec["columns"]) | set(spec["quasi_identifiers"])
        if not named <= codes:
            ctx.progress(f"deid: {POPULATION} lacks {sorted(named - codes)}; {name} skipped")
            continue
        with runtime.db.transaction() as db:
            profile = service.create_profile(ctx.actor, db, entry_id=entry_id, name=name,
                                             spec=spec)
            made = service.create_release(ctx.actor, db, entry_id=entry_id,
                                          profile_id=profile.id)
            ctx.progress(f"deid: {name}: release {made.status}, k = {made.assessment['k']}")
