"""A write to an entry one may not see answers exactly like a write to an id that does not
exist: the same 404 problem, so no write tells that an entry exists (catalog ``access.py``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

API = "/api/v1"

#: (method, path, body) of every write naming a catalog entry
WRITES: list[tuple[str, str, Any]] = [
    ("PUT", "/catalog/entries/{id}", "valid_entry"),
    ("PATCH", "/catalog/entries/{id}", {"summary": "改一改摘要，说明更新频率。"}),
    ("DELETE", "/catalog/entries/{id}/draft", None),
    ("POST", "/catalog/entries/{id}/submit", {"comment": "请审核"}),
    ("POST", "/catalog/entries/{id}/recall", None),
    ("POST", "/catalog/entries/{id}/return", {"comment": "请补充"}),
    ("POST", "/catalog/entries/{id}/approve", {"comment": "同意"}),
    ("POST", "/catalog/entries/{id}/publish", None),
    ("POST", "/catalog/entries/{id}/revise", {"change_note": "x"}),
    ("POST", "/catalog/entries/{id}/withdraw", {"reason": "不再提供"}),
    ("PUT", "/catalog/entries/{id}/grade", {"grade": "2", "reasons": ["x"]}),
    ("POST", "/grading/entries/{id}/decision", {"grade": "2", "reason": "x"}),
    ("POST", "/grading/entries/{id}/rescan", None),
]


def _same(a: Any, b: Any) -> tuple[Any, ...]:
    body = a.json() if a.content else None
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "instance"}
    return a.status_code, a.headers.get("content-type"), body


@pytest.mark.parametrize("who", ["city_editor", "city_reviewer", "city_steward", "outsider"])
def test_a_write_to_a_hidden_entry_answers_like_a_missing_one(
    who: str, client: Any, people: Any, make_user: Any, token_for: Any, catalog_ops: Any,
    valid_entry: dict[str, Any], tree: dict[str, Any],
) -> None:
    members = {"city_editor": people.city_editor, "city_reviewer": people.city_reviewer,
               "outsider": people.outsider,
               "city_steward": make_user("ty.steward", "data_steward", "taiyuan.hr")}
    headers = token_for(members[who])
    from gongshu.catalog import flows

    # a submitted draft of the province's HR department: only its body and the provincial
    # bureau know of it
    hidden = catalog_ops.create(people.editor.actor)
    catalog_ops.run(flows.submit, people.editor.actor, hidden)
    missing = uuid.uuid4()
    data = {**valid_entry, "provider": {**valid_entry["provider"],
                                        "org_id": str(tree["province.hr"].id)}}
    not_found = 0
    for method, path, body in WRITES:
        json = data if body == "valid_entry" else body
        seen = client.request(method, API + path.format(id=hidden), headers=headers, json=json)
        absent = client.request(method, API + path.format(id=missing), headers=headers, json=json)
        assert _same(seen, absent) == _same(absent, absent), (method, path, seen.text[:300])
        assert seen.status_code != 500
        not_found += seen.status_code == 404
    assert not_found >= 1  # the writes the member holds the permission for somewhere
    # and nothing happened to the entry
    own = client.get(f"{API}/catalog/entries/{hidden}", headers=token_for(people.editor)).json()
    assert own["status"] == "submitted"


def test_a_visible_entry_still_refuses_a_write_one_may_not_make(
    client: Any, people: Any, token_for: Any, catalog_ops: Any,
) -> None:
    """Seeing is not changing: a published entry another body sees is refused with 403."""
    published = catalog_ops.publish(people.editor.actor, people.reviewer.actor)
    response = client.post(f"{API}/catalog/entries/{published}/revise",
                           headers=token_for(people.city_editor), json={})
    assert response.status_code == 403
