"""The portal's data: what leaves (columns withheld or masked as the grading says), in which
formats (spreadsheet cells neutralised against formula injection), counted per day; developer
keys, their rate limit (429 with Retry-After) and the per-dataset API."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest

from gongshu.opening import service
from opening.data import income_rows


@pytest.fixture
def opened(publish: Any) -> Any:
    return publish("开放收入统计", opening="open", grade="general-1", rows=income_rows(12))


@pytest.fixture
def conditional(publish: Any) -> Any:
    return publish("有条件开放收入", opening="conditional_open", grade="general-2",
                   rows=income_rows(8))


def test_column_plan_follows_the_grading(runtime: Any, opened: Any) -> None:
    with runtime.db.transaction(write=False) as db:
        dataset = service.get_dataset(db, opened.id)
        shown = {c.code: c.masked for c in dataset.columns}
    # mobiles (general-3) are not openable: withheld; landlines (general-2) open masked
    assert "LXDH" in dataset.withheld and "LXDH" not in shown
    assert shown["BGDH"] == ("cn_landline",)
    assert shown["SFZZ"] == () and shown["BZ"] == ()
    with runtime.db.transaction(write=False) as db:
        rows = service.read_rows(service.ANONYMOUS, db, dataset, limit=3).rows
    assert all(r["BGDH"].startswith("0351-****") for r in rows), rows
    assert all("LXDH" not in r for r in rows)


def test_download_formats_and_formula_neutralising(client: Any, opened: Any) -> None:
    got = client.get(f"/portal/datasets/{opened.id}/download.csv")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["x-gongshu-truncated"] == "false"
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header == ["是否在职", "备注", "办公电话"] and len(body) == 12
    notes = [r[header.index("备注")] for r in body]
    assert "'=HYPERLINK(\"http://x\")" in notes and "'+1" in notes and "'-2" in notes
    assert "'@SUM(A1)" in notes and "普通备注" in notes
    assert not any(n.startswith(("=", "+", "-", "@")) for n in notes)

    xlsx = client.get(f"/api/v1/portal/datasets/{opened.id}/download", params={"format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    cells = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert not any(v.startswith(("=", "+", "@")) for v in cells)
    assert "'=HYPERLINK(\"http://x\")" in cells

    doc = client.get(f"/portal/datasets/{opened.id}/download.json").json()
    assert len(doc["rows"]) == 12 and "=HYPERLINK(\"http://x\")" in [r["BZ"] for r in doc["rows"]]
    table = pq.read_table(io.BytesIO(client.get(f"/portal/datasets/{opened.id}/download.parquet")
                                     .content))
    assert table.num_rows == 12 and table.column_names == ["SFZZ", "BZ", "BGDH"]
    assert client.get(f"/portal/datasets/{opened.id}/download.exe").status_code == 422


def test_usage_is_counted_per_day_and_shown(client: Any, runtime: Any, opened: Any) -> None:
    for _ in range(2):
        assert client.get(f"/portal/datasets/{opened.id}/download.csv").status_code == 200
    page = client.get(f"/portal/datasets/{opened.id}")
    assert page.status_code == 200 and 'id="preview"' in page.text
    with runtime.db.transaction(write=False) as db:
        usage = service.usage(db, opened.id)
    assert usage.totals["download"] == 2 and usage.totals["preview"] == 1
    assert usage.days[-1][1]["download"] == 2
    info = client.get(f"/api/v1/portal/datasets/{opened.id}").json()
    assert info["totals"]["download"] == 2 and info["downloadable"] is True


def test_conditional_data_is_not_downloadable(client: Any, conditional: Any) -> None:
    got = client.get(f"/api/v1/portal/datasets/{conditional.id}/download")
    assert got.status_code == 403 and got.json()["code"] == "opening_conditional"
    page = client.get(f"/portal/datasets/{conditional.id}").text
    assert 'id="apply"' in page and "download-csv" not in page


def _register(client: Any, email: str = "dev@example.cn") -> str:
    made = client.post("/api/v1/portal/developers",
                       json={"name": "开发者甲", "email": email, "organisation": "某公司"})
    assert made.status_code == 201, made.text
    return made.json()["api_key"]


def test_developer_keys_and_rate_limit(client: Any, runtime: Any, opened: Any,
                                       conditional: Any) -> None:
    key = _register(client)
    assert key.startswith("gso_")
    again = client.post("/api/v1/portal/developers",
                        json={"name": "x", "email": "DEV@example.cn"})
    assert again.status_code == 409 and again.json()["code"] == "developer_exists"
    bad = client.post("/api/v1/portal/developers", json={"name": "", "email": "nope"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "email"}

    url = f"/api/v1/portal/datasets/{opened.id}/rows"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-API-Key": "gso_deadbeef_nope"}).json()["code"] == \
        "api_key_invalid"
    got = client.get(url, headers={"X-API-Key": key}, params={"limit": 5})
    assert got.status_code == 200, got.text
    assert len(got.json()["rows"]) == 5 and got.json()["more"] is True
    last = client.get(url, headers={"X-API-Key": key}, params={"offset": 10, "limit": 5}).json()
    assert len(last["rows"]) == 2 and last["more"] is False
    by_bearer = client.get(url, headers={"Authorization": f"Bearer {key}"}, params={"limit": 1})
    assert by_bearer.status_code == 200
    cond = client.get(f"/api/v1/portal/datasets/{conditional.id}/rows", headers={"X-API-Key": key})
    assert cond.status_code == 403 and cond.json()["code"] == "opening_conditional"

    runtime.settings.opening_api_rate_limit = 2
    runtime.settings.opening_api_rate_window = 3600
    # windows are aligned to the clock: in an hour's first minute the requests above would
    # already count in the new window, so start it afresh
    from gongshu.opening.models import RateWindow

    with runtime.db.transaction() as db:
        db.execute(RateWindow.__table__.delete())
    statuses = [client.get(url, headers={"X-API-Key": key}).status_code for _ in range(3)]
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    limited = client.get(url, headers={"X-API-Key": key})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    other = _register(client, "other@example.cn")  # limits are per key
    assert client.get(url, headers={"X-API-Key": other}).status_code == 200
    with runtime.db.transaction(write=False) as db:
        assert service.usage(db, opened.id).totals["api"] >= 4


def test_a_suspended_developer_is_refused(client: Any, opened: Any, people: Any,
                                          token_for: Any) -> None:
    key = _register(client, "bad@example.cn")
    url = f"/api/v1/portal/datasets/{opened.id}/rows"
    assert client.get(url, headers={"X-API-Key": key}).status_code == 200
    reviewer = token_for(people.reviewer)
    assert client.get("/api/v1/opening/developers", headers=token_for(people.steward)
                      ).status_code == 403
    listed = client.get("/api/v1/opening/developers", headers=reviewer).json()
    developer = next(d for d in listed if d["email"] == "bad@example.cn")
    status_url = f"/api/v1/opening/developers/{developer['id']}/status"
    assert client.post(status_url, json={"active": False}, headers=reviewer).status_code == 422
    done = client.post(status_url, json={"active": False, "reason": "转售数据"}, headers=reviewer)
    assert done.status_code == 200 and done.json()["status"] == "suspended"
    refused = client.get(url, headers={"X-API-Key": key})
    assert refused.status_code == 403 and refused.json()["code"] == "developer_suspended"
    client.post(status_url, json={"active": True}, headers=reviewer)
    assert client.get(url, headers={"X-API-Key": key}).status_code == 200


def test_a_download_holds_at_most_the_setting_and_says_so(client: Any, runtime: Any,
                                                          opened: Any) -> None:
    runtime.settings.opening_download_max_rows = 5
    got = client.get(f"/portal/datasets/{opened.id}/download.json")
    assert len(got.json()["rows"]) == 5 and got.headers["x-gongshu-truncated"] == "true"
    assert "5 行" in client.get(f"/portal/datasets/{opened.id}").text


def test_nul_characters_in_a_sign_up_are_refused_naming_the_fields(client: Any) -> None:
    made = client.post("/api/v1/portal/developers",
                       json={"name": "赵\x00六", "email": "zhao@exa\x00mple.cn",
                             "organisation": "\x00"})
    assert made.status_code == 422, made.text
    assert {e["field"] for e in made.json()["errors"]} == {"name", "email", "organisation"}


@pytest.mark.parametrize("q", ["\x00", "a\x00b", "数据\x00", "' OR 1=1 --", "信息" * 100])
def test_odd_queries_never_fail(client: Any, q: str) -> None:
    """Odd text is answered, never a 5xx: a control character is refused (422, web/inputs.py),
    quotes and long text are searched."""
    expected = 422 if "\x00" in q else 200
    assert client.get("/portal", params={"q": q}).status_code == expected
    assert client.get("/api/v1/portal/datasets", params={"q": q[:200]}).status_code == expected
    assert client.get("/portal/code/%00").status_code in (404, 422)
