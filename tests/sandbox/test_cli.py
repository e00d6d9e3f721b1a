"""`gongshu sandbox …`, run as an operator would. The JSON of `gongshu sandbox query --json` is
a contract external checks use: status, code, message, columns (the query's aliases), rows,
suppressed_groups, epsilon_spent; exit 0 when accepted, 1 when rejected (JSON printed both)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.world import COUNTIES

CONTRACT = {"status", "code", "message", "columns", "rows", "suppressed_groups", "epsilon_spent"}


def test_query_json_contract(gongshu: Any, world: Any) -> None:
    r = gongshu("sandbox", "authorise", "--operator", world.tree["operator"].name,
                "--table", f"{world.population.resource_code}=population:2",
                "--purpose", "人口统计", "--from", "2026-01-01", "--to", "2030-12-31",
                "--as", world.bureau.username, "--json")
    assert r.exit_code == 0, r.output
    number = json.loads(r.output)["number"]
    r = gongshu("sandbox", "policy", world.population.resource_code,
                "--set", "annual_income=aggregate:0:500000", "--set", "county=group_by",
                "--set", "id_no=join:contributor", "--as", world.bureau.username, "--json")
    assert r.exit_code == 0, r.output
    user = world.operator.username
    sql = ("SELECT county, COUNT(*) AS n, AVG(annual_income) AS avg_income FROM population "
           "GROUP BY county")
    r = gongshu("sandbox", "query", "--as", user, "--sql", sql, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) >= CONTRACT
    assert out["status"] == "ok" and out["code"] is None and out["epsilon_spent"] is None
    assert out["columns"] == ["county", "n", "avg_income"]
    assert {row[0]: row[1] for row in out["rows"]} == {c: n for c, n in COUNTIES.items() if n >= 10}
    assert out["suppressed_groups"] == 1
    # a refusal is an answer: the JSON with its stable code and a message (exit 0; without
    # --json, exit 1)
    r = gongshu("sandbox", "query", "--as", user, "--sql", "SELECT name FROM population",
                "--json")
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert gongshu("sandbox", "query", "--as", user, "--sql",
                   "SELECT name FROM population").exit_code == 1
    assert out["status"] == "rejected" and out["code"] == "COLUMN_NOT_RELEASABLE"
    assert out["message"] and out["rows"] == [] and set(out) >= CONTRACT
    # differential privacy spends ε
    r = gongshu("sandbox", "query", "--as", user, "--sql",
                "SELECT county, COUNT(*) AS n FROM population GROUP BY county",
                "--dp", "--epsilon", "0.5", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["epsilon_spent"] == 0.5
    r = gongshu("sandbox", "budget", "--as", user, "--json")
    assert json.loads(r.output) == [{"table": "population", "period": json.loads(r.output)[0][
        "period"], "total": 2.0, "spent": 0.5, "left": 1.5}]
    # export → review queue → release
    r = gongshu("sandbox", "query", "--as", user, "--sql", sql, "--export", "--json")
    result_id = json.loads(r.output)["id"]
    assert json.loads(r.output)["review"] is True
    r = gongshu("sandbox", "reviews", "--as", world.bureau.username, "--json")
    assert [q["id"] for q in json.loads(r.output)] == [result_id]
    r = gongshu("sandbox", "release", result_id, "--as", world.bureau.username)
    assert r.exit_code == 0 and "released" in r.output
    r = gongshu("sandbox", "release", result_id, "--as", world.bureau.username)
    assert r.exit_code == 1
    # the bureau suspends: queries are refused
    r = gongshu("sandbox", "suspend", number, "--reason", "整改", "--as", world.bureau.username)
    assert r.exit_code == 0, r.output
    r = gongshu("sandbox", "query", "--as", user, "--sql", sql, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["code"] == "NOT_AUTHORISED"
    r = gongshu("sandbox", "authorisations", "--json")
    assert [a["status"] for a in json.loads(r.output)] == ["suspended"]
