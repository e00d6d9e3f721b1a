"""The de-identification API as a data steward holding its permissions: no generated input
answers 5xx or anything undocumented (the platform-wide fuzz test acts as roles that hold no
``deid`` permission, so it mostly sees 403 here)."""

from __future__ import annotations

import traceback
from typing import Any

import pytest
import schemathesis
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from web.test_api_fuzz import _fuzz


@pytest.mark.slow
def test_deid_operations_as_a_steward(app: Any, client: Any, token_for: Any, people: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    headers = token_for(people.steward)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/deid"):
            continue
        operations += 1
        for mode in GenerationMode:
            try:
                _fuzz(operation, mode, headers, examples=5)()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}): "
                                f"{''.join(traceback.format_exception_only(exc))[:1500]}")
    assert operations >= 12
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
