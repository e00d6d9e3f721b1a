"""Profiles and releases of a dataset (Art. 16): a release is downloadable only when k, l and
the maximum risk meet its profile's thresholds; through the service, the API and the pages."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from concurrency import race
from gongshu.core.errors import Conflict, InvalidState, NotFound, PermissionDenied
from gongshu.deid import service
from library.data import register_rows, write_file
from support import csrf_of, web_login

#: the register's columns: XM 姓名, GMSFHM 身份证, LXDH 电话, ZZ 住址, YSR 月收入, CSRQ 出生日期,
#: SFZZ 是否在职
SAFE = {
    "columns": {"XM": "pseudonym", "GMSFHM": {"transform": "id_region", "to": "city"},
                "LXDH": {"transform": "mask", "type": "mobile"},
                "YSR": {"transform": "bucket", "edges": [5000, 10000, 20000]},
                "CSRQ": {"transform": "date", "to": "band10"}},
    "quasi_identifiers": ["CSRQ", "SFZZ", "GMSFHM"],
    "thresholds": {"k": 5, "max_risk": 0.2},
    "suppress": "drop",
}
RISKY = {"columns": {"CSRQ": {"transform": "date", "to": "month"}},
         "quasi_identifiers": ["CSRQ", "SFZZ"], "sensitive": "YSR",
         "thresholds": {"k": 5, "l": 2}}


@pytest.fixture
def dataset(entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> Any:
    path = write_file(tmp_path / "register.csv", register_rows(300))
    done = run_ingest(people.steward.actor, entry, path)
    assert done.status == "succeeded", done
    return entry


def test_release_flow(runtime: Any, dataset: Any, people: Any) -> None:
    steward = people.steward.actor
    with runtime.db.transaction() as db:
        safe = service.create_profile(steward, db, entry_id=dataset.id, name="对外", spec=SAFE)
        risky = service.create_profile(steward, db, entry_id=dataset.id, name="按月", spec=RISKY)
        safe_id, risky_id = safe.id, risky.id
    with runtime.db.transaction() as db:
        ready = service.create_release(steward, db, entry_id=dataset.id, profile_id=safe_id)
        blocked = service.create_release(steward, db, entry_id=dataset.id, profile_id=risky_id)
        ready_id, blocked_id = ready.id, blocked.id
        assert ready.status == "ready" and ready.reasons == []
        assert ready.assessment["k"] >= 5 and ready.assessment["max_risk"] <= 0.2
        assert blocked.status == "blocked" and blocked.file_name == ""
        assert {r["code"] for r in blocked.reasons} >= {"k_below"}
        assert ready.columns == ["XM", "GMSFHM", "LXDH", "YSR", "CSRQ", "SFZZ"]  # ZZ left out

    with runtime.db.transaction() as db, pytest.raises(InvalidState) as caught:
        service.download_release(steward, db, ready_id)
    assert caught.value.code == "deid_release_not_released"
    with runtime.db.transaction() as db, pytest.raises(InvalidState) as caught:
        service.release(steward, db, blocked_id)
    assert caught.value.code == "deid_release_blocked" and caught.value.params["reasons"]

    with runtime.db.transaction() as db:
        assert service.release(steward, db, ready_id).status == "released"
    with runtime.db.transaction() as db:
        body, fmt, found = service.download_release(steward, db, ready_id, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == found.rows and fmt == "csv"
    raw = register_rows(300)
    names, ids = {r[0] for r in raw}, {r[1] for r in raw}
    assert not any(r["XM"] in names or r["GMSFHM"] in ids for r in rows)
    assert {r["GMSFHM"] for r in rows} == {"140100"}
    assert all(r["LXDH"][3:7] == "****" for r in rows)

    with runtime.db.transaction(write=False) as db:
        listed, total = service.list_releases(steward, db, entry_id=dataset.id)
        assert total == 2 and {r.status for r in listed} == {"released", "blocked"}
        actions = [e.action for e in db.scalars(
            __import__("sqlalchemy").select(__import__("gongshu.core.audit", fromlist=["x"])
                                            .AuditEvent))]
    assert {"deid.profile_create", "deid.release_create", "deid.release",
            "deid.download"} <= set(actions)


def test_pseudonym_keys_per_release_or_per_dataset(runtime: Any, dataset: Any,
                                                   people: Any) -> None:
    steward = people.steward.actor
    ids = {}
    for scope in ("release", "dataset"):
        with runtime.db.transaction() as db:
            made = service.create_profile(steward, db, entry_id=dataset.id, name=scope,
                                          spec={**SAFE, "key_scope": scope})
            ids[scope] = made.id
    names: dict[str, list[list[str]]] = {"release": [], "dataset": []}
    for scope, profile_id in ids.items():
        for _ in range(2):
            with runtime.db.transaction() as db:
                made = service.create_release(steward, db, entry_id=dataset.id,
                                              profile_id=profile_id)
                path = service.releases_dir(db) / made.file_name
            names[scope].append(pq.read_table(path).column("XM").to_pylist())
    assert names["release"][0] != names["release"][1]  # a fresh key per release
    assert names["dataset"][0] == names["dataset"][1]  # one key per dataset
    # the key is in the key store, never beside the output
    folder = runtime.settings.resolved_data_dir / "deid"
    assert all(p.suffix == ".parquet" for p in folder.iterdir())
    assert (runtime.settings.keys_dir / "deid.key").exists()


def test_a_rolled_back_release_leaves_no_release_file(runtime: Any, dataset: Any,
                                                      people: Any) -> None:
    steward = people.steward.actor
    with runtime.db.transaction() as db:
        profile_id = service.create_profile(steward, db, entry_id=dataset.id, name="回滚",
                                            spec=SAFE).id
    with pytest.raises(RuntimeError), runtime.db.transaction() as db:
        made = service.create_release(steward, db, entry_id=dataset.id, profile_id=profile_id)
        name = made.file_name
        raise RuntimeError("the unit of work fails after the release was made")
    folder = runtime.settings.resolved_data_dir / "deid"
    assert not (folder / name).exists()
    with runtime.db.transaction(write=False) as db:
        assert service.list_releases(steward, db, entry_id=dataset.id)[1] == 0


def test_a_release_as_a_job(client: Any, token_for: Any, runtime: Any, dataset: Any,
                            people: Any) -> None:
    from gongshu.core.jobs import Worker

    steward = people.steward.actor
    with runtime.db.transaction() as db:
        safe_id = service.create_profile(steward, db, entry_id=dataset.id, name="后台",
                                         spec=SAFE).id
        risky_id = service.create_profile(steward, db, entry_id=dataset.id, name="后台按月",
                                          spec=RISKY).id
    auth = token_for(people.steward)
    queued = [client.post(f"/api/v1/deid/datasets/{dataset.id}/release-jobs",
                          json={"profile_id": str(p)}, headers=auth) for p in (safe_id, risky_id)]
    assert [q.status_code for q in queued] == [202, 202], queued[0].text
    Worker(runtime).run_pending()
    results = [client.get(q.json()["href"], headers=auth).json() for q in queued]
    assert [r["status"] for r in results] == ["succeeded", "succeeded"], results
    ready, blocked = (r["result"] for r in results)
    assert ready["status"] == "ready" and blocked["status"] == "blocked" and blocked["reasons"]
    with runtime.db.transaction(write=False) as db:
        made = service.get_release(steward, db, uuid.UUID(ready["release_id"]))
        assert (service.releases_dir(db) / made.file_name).exists()
    assert not list((runtime.settings.resolved_data_dir / "deid").glob("*.pending"))
    outsider = client.post(f"/api/v1/deid/datasets/{dataset.id}/release-jobs",
                           json={"profile_id": str(safe_id)}, headers=token_for(people.outsider))
    assert outsider.status_code == 404


def test_concurrent_release_releases_once(runtime: Any, dataset: Any, people: Any) -> None:
    steward = people.steward.actor
    with runtime.db.transaction() as db:
        profile = service.create_profile(steward, db, entry_id=dataset.id, name="并发", spec=SAFE)
        release_id = service.create_release(steward, db, entry_id=dataset.id,
                                            profile_id=profile.id).id
    outcomes = race(runtime, 6, lambda db, i: service.release(steward, db, release_id).status)
    assert outcomes.successes == 1 and outcomes.errors_of(InvalidState) == 5, outcomes.errors
    assert all(e.code == "deid_release_released" for e in outcomes.errors)


def test_concurrent_profile_updates_one_wins(runtime: Any, dataset: Any, people: Any) -> None:
    steward = people.steward.actor
    with runtime.db.transaction() as db:
        profile_id = service.create_profile(steward, db, entry_id=dataset.id, name="改",
                                            spec=SAFE).id
    outcomes = race(runtime, 4, lambda db, i: service.update_profile(
        steward, db, profile_id, name=f"改{i}", spec=SAFE, version=1).version)
    assert outcomes.successes == 1 and outcomes.errors_of(Conflict) == 3, outcomes.errors
    outcomes = race(runtime, 4, lambda db, i: service.create_profile(
        steward, db, entry_id=dataset.id, name="同名", spec=SAFE).id)
    assert outcomes.successes == 1 and outcomes.errors_of(Conflict) == 3, outcomes.errors


@pytest.mark.parametrize(("who", "error"), [
    ("outsider", NotFound),  # a steward of another body: the dataset is not theirs to see
    ("editor", PermissionDenied),  # reads the data, but de-identification is the stewards'
    ("nobody", NotFound),
])
def test_who_may_not(runtime: Any, dataset: Any, people: Any, who: str,
                     error: type[Exception]) -> None:
    actor = getattr(people, who).actor
    with runtime.db.transaction() as db, pytest.raises(error):
        service.create_profile(actor, db, entry_id=dataset.id, name="x", spec=SAFE)
    with runtime.db.transaction() as db, pytest.raises(error):
        service.assess_dataset(actor, db, entry_id=dataset.id, qi=["SFZZ"])


def test_assess_dataset_raw_and_through_a_profile(runtime: Any, dataset: Any,
                                                 people: Any) -> None:
    steward = people.steward.actor
    with runtime.db.transaction() as db:
        raw, reasons = service.assess_dataset(steward, db, entry_id=dataset.id,
                                              qi=["CSRQ", "SFZZ"], k=5)
        assert raw.records == 300 and raw.k == 1 and reasons[0].code == "k_below"
        profile = service.create_profile(steward, db, entry_id=dataset.id, name="评估", spec=SAFE)
        through, reasons = service.assess_dataset(steward, db, entry_id=dataset.id,
                                                  profile_id=profile.id)
        assert through.k >= 5 and reasons == []
    with runtime.db.transaction() as db, pytest.raises(Exception) as caught:
        service.assess_dataset(steward, db, entry_id=dataset.id, qi=["无此列"])
    assert getattr(caught.value, "code", "") == "deid_unknown_column"


# ------------------------------------------------------------------------------------ API


def test_api(client: Any, token_for: Any, dataset: Any, people: Any, tmp_path: Path) -> None:
    auth = token_for(people.steward)
    base = f"/api/v1/deid/datasets/{dataset.id}"
    made = client.post(f"{base}/profiles", json={"name": "对外", "spec": SAFE}, headers=auth)
    assert made.status_code == 201, made.text
    profile = made.json()
    again = client.post(f"{base}/profiles", json={"name": "对外", "spec": SAFE}, headers=auth)
    assert again.status_code == 409 and again.json()["code"] == "deid_profile_exists"
    bad = client.post(f"{base}/profiles", json={"name": "坏", "spec": {"quasi_identifiers": [],
                                                                     "columns": {"XM": "x"}}},
                      headers=auth)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json")
    assert {e["field"] for e in bad.json()["errors"]} == {"quasi_identifiers",
                                                          "columns.XM.transform"}
    listed = client.get(f"{base}/profiles", headers=auth).json()
    assert [p["name"] for p in listed] == ["对外"]
    changed = client.put(f"/api/v1/deid/profiles/{profile['id']}", headers=auth,
                         json={"name": "对外发布", "spec": SAFE, "version": 1})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = client.put(f"/api/v1/deid/profiles/{profile['id']}", headers=auth,
                       json={"name": "对外发布", "spec": SAFE, "version": 1})
    assert stale.status_code == 409 and stale.json()["code"] == "deid_profile_changed"

    assessed = client.post(f"{base}/assess", json={"qi": ["CSRQ", "SFZZ"], "k": 5}, headers=auth)
    assert assessed.status_code == 200
    assert assessed.json()["assessment"]["k"] == 1
    assert assessed.json()["reasons"][0]["code"] == "k_below"

    release = client.post(f"{base}/releases", json={"profile_id": profile["id"]}, headers=auth)
    assert release.status_code == 201 and release.json()["status"] == "ready"
    rid = release.json()["id"]
    early = client.get(f"/api/v1/deid/releases/{rid}/download", headers=auth)
    assert early.status_code == 409 and early.json()["code"] == "deid_release_not_released"
    done = client.post(f"/api/v1/deid/releases/{rid}/release", headers=auth)
    assert done.status_code == 200 and done.json()["status"] == "released"
    twice = client.post(f"/api/v1/deid/releases/{rid}/release", headers=auth)
    assert twice.status_code == 409 and twice.json()["code"] == "deid_release_released"
    got = client.get(f"/api/v1/deid/releases/{rid}/download?format=parquet", headers=auth)
    assert got.status_code == 200 and got.content[:4] == b"PAR1"
    assert client.get(f"/api/v1/deid/releases?entry_id={dataset.id}",
                      headers=auth).json()["total"] == 1

    risky = client.post(f"{base}/profiles", json={"name": "按月", "spec": RISKY}, headers=auth)
    blocked = client.post(f"{base}/releases", json={"profile_id": risky.json()["id"]},
                          headers=auth).json()
    assert blocked["status"] == "blocked" and blocked["reasons"]
    refused = client.post(f"/api/v1/deid/releases/{blocked['id']}/release", headers=auth)
    assert refused.status_code == 409 and refused.json()["code"] == "deid_release_blocked"
    assert client.delete(f"/api/v1/deid/profiles/{risky.json()['id']}",
                         headers=auth).status_code == 204

    # other people
    assert client.get(f"{base}/profiles", headers=token_for(people.nobody)).status_code == 403
    assert client.get(f"{base}/profiles", headers=token_for(people.outsider)).status_code == 404
    assert client.get(f"/api/v1/deid/releases/{rid}",
                      headers=token_for(people.outsider)).status_code == 404
    assert client.get(f"/api/v1/deid/releases?entry_id={uuid.uuid4()}",
                      headers=auth).status_code == 404
    assert client.get("/api/v1/deid/releases", headers=token_for(people.outsider)).json()[
        "total"] == 0


@pytest.mark.parametrize(("name", "options"), [("a.csv", {"encoding": "gbk"}),
                                               ("a.xlsx", {"title": "人口登记表"}),
                                               ("a.parquet", {})])
def test_api_assess_file(client: Any, token_for: Any, people: Any, tmp_path: Path, name: str,
                         options: dict[str, Any]) -> None:
    rows = register_rows(50)
    path = write_file(tmp_path / name, rows, **options)
    auth = token_for(people.steward)
    got = client.post("/api/v1/deid/assess", headers=auth,
                      files={"file": (name, path.read_bytes())},
                      data={"qi": "是否在职", "k": "30"})
    assert got.status_code == 200, got.text
    yes = sum(r[6] == "是" for r in rows)
    assert got.json()["records"] == 50 and got.json()["k"] == min(yes, 50 - yes)
    assert got.json()["at_risk"] == sum(n for n in (yes, 50 - yes) if n < 30)
    unknown = client.post("/api/v1/deid/assess", headers=auth,
                          files={"file": (name, path.read_bytes())}, data={"qi": "无此列"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "deid_unknown_column"
    assert client.post("/api/v1/deid/assess", headers=token_for(people.nobody),
                       files={"file": (name, b"x")}, data={"qi": "a"}).status_code == 403


# ---------------------------------------------------------------------------------- pages


def test_pages(client: Any, dataset: Any, people: Any) -> None:
    member = people.steward
    web_login(client, member.username, member.password)
    index = client.get("/deid")
    assert index.status_code == 200 and str(dataset.id) in index.text
    page = client.get(f"/deid/datasets/{dataset.id}")
    assert page.status_code == 200 and "风险评估" in page.text
    assessed = client.post(f"/deid/datasets/{dataset.id}/assess",
                           data={"csrf_token": csrf_of(page.text), "qi": ["CSRQ", "SFZZ"],
                                 "k": "5"})
    assert assessed.status_code == 200 and 'id="class-sizes"' in assessed.text
    assert "未达到发布门槛" in assessed.text

    editor = client.get(f"/deid/datasets/{dataset.id}/profiles/new")
    assert editor.status_code == 200 and 'name="t_0"' in editor.text
    form = {"csrf_token": csrf_of(editor.text), "name": "页面方案", "qi": ["CSRQ", "SFZZ"],
            "k": "5", "suppress": "drop", "unlisted": "drop", "key_scope": "release",
            "t_0": "pseudonym", "t_5": "date", "p_5": "to=band10"}
    wrong = client.post(f"/deid/datasets/{dataset.id}/profiles",
                        data={**form, "p_5": "to=week"})
    assert wrong.status_code == 422 and "columns.CSRQ.to" in wrong.text
    saved = client.post(f"/deid/datasets/{dataset.id}/profiles", data=form,
                        follow_redirects=False)
    assert saved.status_code == 303
    profile_page = client.get(saved.headers["location"])
    assert profile_page.status_code == 200 and "to=band10" in profile_page.text

    with client.app.state.runtime.db.transaction(write=False) as db:
        profile = service.list_profiles(member.actor, db, dataset.id)[0]
    made = client.post(f"/deid/datasets/{dataset.id}/releases",
                       data={"csrf_token": csrf_of(page.text), "profile_id": str(profile.id)},
                       follow_redirects=False)
    assert made.status_code == 303
    release_page = client.get(made.headers["location"])
    assert release_page.status_code == 200 and 'id="release-status"' in release_page.text
    assert "待发布" in release_page.text
    released = client.post(made.headers["location"] + "/release",
                           data={"csrf_token": csrf_of(release_page.text)})
    assert released.status_code == 200 and "已发布" in released.text
    assert "download?format=csv" in released.text


# ------------------------------------------------------------------------------------ CLI


def test_cli_dataset_release(runtime: Any, dataset: Any, people: Any,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from gongshu.cli import main as cli
    from gongshu.core.runtime import Runtime

    steward = people.steward.actor
    with runtime.db.transaction() as db:
        service.create_profile(steward, db, entry_id=dataset.id, name="对外", spec=SAFE)
        service.create_profile(steward, db, entry_id=dataset.id, name="按月", spec=RISKY)
    app, runner = cli.build_app(), CliRunner()

    def gongshu(*args: str) -> Any:
        monkeypatch.setattr(cli.State, "runtime", Runtime(runtime.settings))
        return runner.invoke(app, list(args), catch_exceptions=False)

    made = gongshu("deid", "apply", "--dataset", str(dataset.id), "--profile", "对外", "--json")
    assert made.exit_code == 0, made.output
    got = json.loads(made.stdout)
    assert got["status"] == "ready" and got["k"] >= 5
    blocked = gongshu("deid", "apply", "--dataset", dataset.resource_code, "--profile", "按月",
                      "--json")
    assert blocked.exit_code == 1 and json.loads(blocked.stdout)["status"] == "blocked"
    assert gongshu("deid", "apply", "--dataset", str(dataset.id), "--profile",
                   "无此方案").exit_code == 1
    listed = json.loads(gongshu("deid", "releases", "--dataset", str(dataset.id),
                                "--json").stdout)
    assert {r["status"] for r in listed} == {"ready", "blocked"}
    released = gongshu("deid", "release", got["release"])
    assert released.exit_code == 0 and json.loads(released.stdout)["status"] == "released"
    again = gongshu("deid", "release", got["release"])
    assert again.exit_code == 1 and "released already" in again.output
    refused = gongshu("deid", "release", json.loads(blocked.stdout)["release"])
    assert refused.exit_code == 1 and "blocked" in refused.output
