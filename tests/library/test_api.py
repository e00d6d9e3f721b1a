"""The library and grading API through the real app: upload, progress, the report, versions,
quality, previews by role, proposals, decisions, rescans, the scheme."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from gongshu.core.jobs import Job, Worker
from library.data import HEADER, register_rows, uploaded_files, write_file

ROWS = register_rows(50)


def upload(client: Any, headers: dict[str, str], entry: Any, path: Path, **form: Any) -> Any:
    with path.open("rb") as fh:
        return client.post("/api/v1/library/ingests", headers=headers,
                           data={"entry_id": str(entry.id), **form},
                           files={"file": (path.name, fh, "text/csv")})


def test_upload_to_grade_through_the_api(runtime: Any, client: Any, entry: Any, people: Any,
                                         token_for: Any, tmp_path: Path) -> None:
    steward = token_for(people.steward)
    editor = token_for(people.editor)
    reviewer = token_for(people.reviewer)
    response = upload(client, steward, entry, write_file(tmp_path / "人口 登记.csv", ROWS,
                                                         encoding="gbk"))
    assert response.status_code == 202, response.text
    ingest = response.json()
    assert ingest["status"] == "queued" and ingest["source_name"] == "人口_登记.csv"
    job = client.get(f"/api/v1/jobs/{ingest['job_id']}", headers=steward).json()
    assert job["kind"] == "library.ingest"
    with runtime.db.transaction(write=False) as db:  # any worker machine finds it by its key
        params = db.get(Job, uuid.UUID(ingest["job_id"])).params
    assert set(params) == {"ingest_id", "upload"}
    assert re.fullmatch(r"[0-9a-f]{16}/人口_登记\.csv", params["upload"])
    assert len(uploaded_files(runtime)) == 1
    assert Worker(runtime).run_pending() == 1
    done = client.get(f"/api/v1/library/ingests/{ingest['id']}", headers=steward).json()
    assert done["status"] == "succeeded", done
    assert done["report"]["source"]["encoding"] == "gb18030"
    assert {c["status"] for c in done["report"]["columns"]} == {"ok"}
    # the uploaded file is gone once its job has read it
    assert not uploaded_files(runtime)

    datasets = client.get("/api/v1/library/datasets", headers=editor).json()
    assert datasets["total"] == 1
    dataset = datasets["items"][0]
    assert dataset["kind"] == "base" and dataset["current_version"]["rows"] == len(ROWS)
    versions = client.get(f"/api/v1/library/datasets/{dataset['id']}/versions",
                          headers=editor).json()
    assert [(v["number"], v["current"]) for v in versions] == [(1, True)]
    quality = client.get(f"/api/v1/library/datasets/{dataset['id']}/quality",
                         headers=editor).json()
    assert quality["score"] == 1.0 and quality["results"][0]["kind"] == "freshness"

    masked = client.get(f"/api/v1/library/datasets/{dataset['id']}/preview?limit=2",
                        headers=editor).json()
    assert masked["unmasked"] is False and masked["rows"][0]["GMSFHM"].count("*") == 8
    plain = client.get(f"/api/v1/library/datasets/{dataset['id']}/preview?limit=2",
                       headers=steward).json()
    assert plain["rows"][0]["GMSFHM"] == ROWS[0][1]
    hidden = client.get(f"/api/v1/library/datasets/{dataset['id']}/preview",
                        headers=reviewer).json()
    assert {c["code"] for c in hidden["hidden"]} == {"GMSFHM", "YSR"}

    summary = client.get(f"/api/v1/library/entries/{entry.id}", headers=editor).json()
    assert summary["proposed_grade"] == "general-4" and summary["quality"]["score"] == 1.0

    grading = client.get(f"/api/v1/grading/entries/{entry.id}", headers=steward).json()
    proposal = grading["proposal"]
    assert proposal["proposed_grade"] == "general-4" and grading["grade"] is None
    ident = next(c for c in proposal["columns"] if c["code"] == "GMSFHM")
    assert ident["detections"][0]["type"] == "cn_id" and ident["reasons"][0]["rule"] == "pi.cn_id"

    refused = client.post(f"/api/v1/grading/entries/{entry.id}/decision", headers=steward,
                          json={"grade": "important"})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["reason"]
    assert client.post(f"/api/v1/grading/entries/{entry.id}/decision", headers=editor,
                       json={"grade": "general-4"}).status_code == 403
    confirmed = client.post(f"/api/v1/grading/entries/{entry.id}/decision", headers=steward,
                            json={"grade": "general-4", "reason": "与自动建议一致"})
    assert confirmed.status_code == 201 and confirmed.json()["action"] == "confirm"
    again = client.get(f"/api/v1/grading/entries/{entry.id}", headers=editor).json()
    assert again["grade"] == "general-4" and len(again["decisions"]) == 1

    rescan = client.post(f"/api/v1/grading/entries/{entry.id}/rescan", headers=steward)
    assert rescan.status_code == 202
    Worker(runtime).run_pending()
    scans = client.get(f"/api/v1/grading/entries/{entry.id}/scans", headers=steward).json()
    assert [s["trigger"] for s in scans] == ["rescan", "ingest"]
    rows = client.get("/api/v1/grading/entries?pending=true", headers=steward).json()
    assert rows["total"] == 1 and rows["items"][0]["grade"] == "general-4"


def test_a_mismatch_is_reported_through_the_api(runtime: Any, client: Any, entry: Any,
                                                people: Any, token_for: Any,
                                                tmp_path: Path) -> None:
    steward = token_for(people.steward)
    path = write_file(tmp_path / "short.csv", [r[:3] for r in ROWS],
                      header=["姓名", "身份证号码", "联系电话"])
    ingest = upload(client, steward, entry, path).json()
    Worker(runtime).run_pending()
    done = client.get(f"/api/v1/library/ingests/{ingest['id']}", headers=steward).json()
    assert done["status"] == "rejected"
    missing = {p["item"] for p in done["report"]["problems"] if p["code"] == "missing"}
    assert missing == {"公民身份号码", "住址", "月收入", "出生日期", "是否在职"}
    assert client.get(f"/api/v1/library/datasets/{done['dataset_id']}/preview",
                      headers=steward).json()["code"] == "dataset_no_version"


def test_a_column_mapping_through_the_api(runtime: Any, client: Any, entry: Any,
                                          people: Any, token_for: Any, tmp_path: Path) -> None:
    steward = token_for(people.steward)
    header = ["姓名", "身份证", *HEADER[2:]]
    path = write_file(tmp_path / "renamed.csv", register_rows(20), header=header)
    bad = upload(client, steward, entry, path, columns="身份证=GMSFHM")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "columns"
    ingest = upload(client, steward, entry, path, columns='{"身份证": "GMSFHM"}').json()
    assert ingest["options"]["columns"] == {"身份证": "GMSFHM"}
    Worker(runtime).run_pending()
    done = client.get(f"/api/v1/library/ingests/{ingest['id']}", headers=steward).json()
    assert done["status"] == "succeeded", done["report"]
    assert {c["code"]: c["by"] for c in done["report"]["columns"]}["GMSFHM"] == "mapping"
    job = client.get(f"/api/v1/jobs/{done['job_id']}", headers=steward).json()
    assert job["message"] == "version 1 stored: 20 rows"
    assert (job["message_key"], job["message_params"]) == ("library_stored",
                                                           {"version": 1, "rows": 20})
    assert not uploaded_files(runtime)


def test_a_rejected_upload_is_ingested_again_through_the_api(
        runtime: Any, client: Any, entry: Any, people: Any, token_for: Any,
        tmp_path: Path) -> None:
    from gongshu.library import service
    from gongshu.library.models import Ingest

    steward = token_for(people.steward)
    header = ["姓名", "身份证", *HEADER[2:]]
    ingest = upload(client, steward, entry,
                    write_file(tmp_path / "renamed.csv", register_rows(20), header=header)).json()
    Worker(runtime).run_pending()
    rejected = client.get(f"/api/v1/library/ingests/{ingest['id']}", headers=steward).json()
    assert rejected["status"] == "rejected" and rejected["report"]["retry"]["upload"]
    kept = uploaded_files(runtime)
    assert len(kept) == 1  # kept for a mapping, with its marker
    other = token_for(people.other_steward)
    url = f"/api/v1/library/ingests/{ingest['id']}/remap"
    assert client.post(url, headers=other,
                       json={"columns": {"身份证": "GMSFHM"}}).status_code in (403, 404)
    assert client.post(url, headers=steward, json={"columns": {}}).status_code == 422
    again = client.post(url, headers=steward, json={"columns": {"身份证": "GMSFHM"}})
    assert again.status_code == 202, again.text
    assert again.json()["options"]["columns"] == {"身份证": "GMSFHM"}
    twice = client.post(url, headers=steward, json={"columns": {"身份证": "GMSFHM"}})
    assert twice.status_code == 409 and twice.json()["code"] == "upload_not_kept"
    Worker(runtime).run_pending()
    done = client.get(f"/api/v1/library/ingests/{again.json()['id']}", headers=steward).json()
    assert done["status"] == "succeeded", done["report"]
    assert not uploaded_files(runtime)

    # a kept file whose time is up is refused, and the scheduled sweep removes it
    third = upload(client, steward, entry,
                   write_file(tmp_path / "again.csv", register_rows(5), header=header)).json()
    Worker(runtime).run_pending()
    with runtime.db.transaction() as db:
        row = db.get(Ingest, uuid.UUID(third["id"]))
        assert row is not None and row.report["retry"]
        row.report = {**row.report, "retry": {**row.report["retry"],
                                               "until": "2000-01-01T00:00:00+00:00"}}
    late = client.post(f"/api/v1/library/ingests/{third['id']}/remap", headers=steward,
                       json={"columns": {"身份证": "GMSFHM"}})
    assert late.status_code == 409
    assert len(uploaded_files(runtime)) == 1
    import datetime as dt

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    worker = Worker(runtime)
    worker.sync_schedules()

    def sweeps(**when: Any) -> int:
        """Due schedules run; how many of them were the library's sweep."""
        ids = worker.run_schedules(**when)
        worker.run_pending()
        with runtime.db.transaction(write=False) as db:
            return sum(db.get(Job, i).kind == "library.sweep_uploads" for i in ids)

    assert sweeps() == 1
    assert len(uploaded_files(runtime)) == 1  # its time is not up yet
    area = service.upload_area(runtime.settings)
    for key in uploaded_files(runtime, service.KEPT_MARKER):
        area.put(key[len(area.base) + 1:], b"2000-01-01T00:00:00+00:00")
    assert sweeps(now=later) == 1
    assert not uploaded_files(runtime)


def test_uploads_are_checked_before_they_are_kept(runtime: Any, client: Any, entry: Any,
                                                  people: Any, token_for: Any,
                                                  tmp_path: Path) -> None:
    steward = token_for(people.steward)
    path = write_file(tmp_path / "p.csv", ROWS)
    runtime.settings.upload_max_mb = 0
    too_big = upload(client, steward, entry, path)
    assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"
    runtime.settings.upload_max_mb = 10
    other = token_for(people.other_steward)
    assert upload(client, other, entry, path).status_code in (403, 404)
    bad_option = upload(client, steward, entry, path, delimiter="#")
    assert bad_option.status_code == 422 and bad_option.json()["errors"][0]["field"] == "delimiter"
    assert not uploaded_files(runtime)
    database = client.post("/api/v1/library/ingests/database", headers=steward,
                           json={"entry_id": str(entry.id), "url": "sqlite:////etc/x.db",
                                 "table": "t"})
    assert database.status_code == 400 and database.json()["code"] == "source_not_allowed"


def test_quality_rules_through_the_api(runtime: Any, client: Any, entry: Any, people: Any,
                                       token_for: Any, run_ingest: Any, tmp_path: Path) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "p.csv", ROWS))
    steward = token_for(people.steward)
    dataset = client.get("/api/v1/library/datasets", headers=steward).json()["items"][0]
    base = f"/api/v1/library/datasets/{dataset['id']}"
    created = client.post(f"{base}/quality-rules", headers=steward,
                          json={"kind": "unique", "column": "GMSFHM"})
    assert created.status_code == 201
    bad = client.post(f"{base}/quality-rules", headers=steward,
                      json={"kind": "range", "column": "XM", "params": {}})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"column", "params.min"}
    started = client.post(f"{base}/quality/evaluate", headers=steward)
    assert started.status_code == 202
    Worker(runtime).run_pending()
    report = client.get(f"{base}/quality", headers=steward).json()
    assert [r["kind"] for r in report["results"]] == ["freshness", "unique"]
    rule_id = created.json()["id"]
    assert client.delete(f"/api/v1/library/quality-rules/{rule_id}",
                         headers=steward).status_code == 204
    assert len(client.get(f"{base}/quality-rules", headers=steward).json()) == 1


def test_the_scheme_through_the_api(client: Any, people: Any, token_for: Any) -> None:
    editor = token_for(people.editor)
    scheme = client.get("/api/v1/grading/scheme", headers=editor).json()
    assert scheme["active"] == "national" and scheme["levels"][-1]["id"] == "core"
    packs = {p["id"]: p for p in scheme["packs"]}
    assert packs["health"]["applies_to"] and packs["personal_information"]["applies_to"] is None
    assert client.put("/api/v1/grading/scheme", headers=editor,
                      json={"scheme": "national"}).status_code == 403
    admin = token_for(people.admin)
    assert client.put("/api/v1/grading/scheme", headers=admin,
                      json={"scheme": "national"}).status_code == 200
    assert client.put("/api/v1/grading/scheme", headers=admin,
                      json={"scheme": "nope"}).status_code == 422
