"""Every audit action recorded anywhere in src has a label in both languages.

The actions are enumerated from the source: constant actions of ``audit.record(db, actor, "x.y",
…)``, both branches of a conditional, and actions built by a helper from a template such as
``f"catalog.{action}"``, followed to the helper's callers in the same file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gongshu.core.i18n import LOCALES, catalog

SRC = Path(__file__).resolve().parents[2] / "src" / "gongshu"


def _is_record(node: ast.Call) -> bool:
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr == "record" and isinstance(f.value, ast.Name)
            and f.value.id == "audit")


def _constants(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _constants(node.body), _constants(node.orelse)
        return None if a is None or b is None else a + b
    return None


def recorded_actions() -> tuple[set[str], list[str]]:
    """(actions found, places whose action could not be worked out)."""
    actions: set[str] = set()
    unknown: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
        parents = {child: f for f in functions.values() for child in ast.walk(f)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _is_record(node)) or len(node.args) < 3:
                continue
            arg = node.args[2]
            found = _constants(arg)
            if found is not None:
                actions.update(found)
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            helper = parents.get(node)
            param = (arg.id if isinstance(arg, ast.Name) else
                     next((v.value.id for v in arg.values if isinstance(v, ast.FormattedValue)
                           and isinstance(v.value, ast.Name)), None)
                     if isinstance(arg, ast.JoinedStr) else None)
            if helper is None or param is None:
                unknown.append(where)
                continue
            names = [a.arg for a in helper.args.posonlyargs + helper.args.args]
            if param not in names:
                unknown.append(where)  # e.g. a status enum's value: checked below by prefix
                continue
            index = names.index(param)
            template = (lambda v: v) if isinstance(arg, ast.Name) else (
                lambda v, arg=arg: "".join(
                    p.value if isinstance(p, ast.Constant) else v for p in arg.values))
            callers = [c for c in ast.walk(tree) if isinstance(c, ast.Call)
                       and isinstance(c.func, ast.Name) and c.func.id == helper.name]
            for call in callers:
                value = call.args[index] if len(call.args) > index else None
                if value is not None and (got := _constants(value)) is not None:
                    actions.update(template(v) for v in got)
    return actions, unknown


#: actions built from run-time values (a status, a decision); their families are checked by prefix
DYNAMIC = {"core/jobs.py": "job.", "grading/service.py": "grading.",
           "library/service.py": "library.ingest."}
#: actions a helper receives in a variable; listed so that they are checked too
INDIRECT = {"catalog.create", "catalog.import"}


def test_the_scan_finds_the_actions() -> None:
    actions, unknown = recorded_actions()
    assert {"catalog.update", "census.open", "user.create", "user.recovery", "user.revoke",
            "audit.verify", "audit.export", "sharing.request_submit", "opening.download"} <= actions
    assert len(actions) > 60
    assert {where.partition(":")[0] for where in unknown} <= set(DYNAMIC), unknown


@pytest.mark.parametrize("locale", LOCALES)
def test_every_recorded_action_has_a_label(locale: str) -> None:
    actions, _ = recorded_actions()
    actions |= INDIRECT
    labels = catalog(locale)
    missing = sorted(a for a in actions if f"audit_action.{a}" not in labels)
    assert not missing, f"audit actions without a {locale} label: {missing}"


@pytest.mark.parametrize("locale", LOCALES)
def test_actions_built_at_run_time_have_labels_by_prefix(locale: str) -> None:
    """``f"library.ingest.{status.value}"``, ``f"job.{status}"``…: their family is labelled."""
    labels = catalog(locale)
    for prefix in DYNAMIC.values():
        assert any(k.startswith(f"audit_action.{prefix}") for k in labels), prefix
