"""`gongshu sharing request|requests|grants|calendar`, run as an operator would; the JSON of
`gongshu sharing grants --json` is a contract (id, entry, holder, status)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from gongshu.sharing import flows
from sharing.test_flows import act


def test_request_then_grants_json_contract(gongshu: Any, runtime: Any, publish: Any,
                                           cast: Any) -> None:
    entry = publish("unconditional")
    other = publish("conditional")
    requester = cast.requester.username
    r = gongshu("sharing", "request", "--entry", entry.resource_code, "--items", "XM,YSR",
                "--scenario", "救助资格核验", "--description", "核验救助对象",
                "--legal-basis", "《社会救助暂行办法》", "--contact", "周申请", "--phone", "123",
                "--as", requester, "--json")
    assert r.exit_code == 0, r.output
    req = json.loads(r.output)
    assert req["status"] == "bureau_check" and req["number"].startswith("GX-")
    # bad input: every problem, exit 1, nothing written
    r = gongshu("sharing", "request", "--entry", entry.resource_code, "--items", "NOPE",
                "--scenario", "新场景", "--contact", "x", "--phone", "1", "--as", requester)
    assert r.exit_code == 1
    assert "items" in r.output and "scenario.legal_basis" in r.output
    # the bureau checks; the entry is unconditional: granted
    act(runtime, flows.check, cast.bureau, type("R", (), {"id": uuid.UUID(req["id"])}),
        decision="conform")
    r = gongshu("sharing", "grants", "--json")
    assert r.exit_code == 0, r.output
    grants = json.loads(r.output)
    assert isinstance(grants, list) and len(grants) == 1
    g = grants[0]
    assert {"id", "entry", "holder", "status"} <= set(g)
    assert g["entry"] == entry.resource_code and g["status"] == "active"
    assert g["holder"] == "山西省卫生健康委员会"
    r = gongshu("sharing", "grants", "--entry", other.resource_code, "--json")
    assert json.loads(r.output) == []
    r = gongshu("sharing", "grants", "--entry", entry.resource_code, "--as",
                cast.stranger.username, "--json")
    assert json.loads(r.output) == []  # another body sees no one else's grants
    r = gongshu("sharing", "requests", "--box", "mine", "--as", requester, "--json")
    assert [x["number"] for x in json.loads(r.output)] == [req["number"]]


def test_calendar_commands(gongshu: Any) -> None:
    r = gongshu("sharing", "calendar", "deadline", "2", "--from", "2026-02-13")
    assert r.exit_code == 0 and "2026-02-24" in r.output
    r = gongshu("sharing", "calendar", "deadline", "2", "--from", "2026-12-30")
    assert "warning" in r.output and "2027" in r.output
    assert gongshu("sharing", "calendar", "set", "2027-01-01", "--holiday", "--note",
                   "元旦").exit_code == 0
    r = gongshu("sharing", "calendar", "deadline", "2", "--from", "2026-12-30")
    assert "2027-01-04" in r.output and "warning" not in r.output
    assert "2027-01-01" in gongshu("sharing", "calendar", "list").output
    assert gongshu("sharing", "calendar", "set", "bad", "--working").exit_code == 1
