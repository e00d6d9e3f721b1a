"""Any text sent as a developer key is refused as unauthenticated, never an error. (Cells that
never start like a formula are core.exports' tests; the portal's downloads use it.)"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongshu.core.errors import Unauthenticated
from gongshu.opening.service import authenticate_key


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.text(max_size=80),
                     st.builds(lambda p, s: f"gso_{p}_{s}", st.text(min_size=8, max_size=8),
                               st.text(max_size=40))))
def test_any_key_text_is_refused_as_unauthenticated(runtime: Any, raw: str) -> None:
    with runtime.db.transaction(write=False) as db, pytest.raises(Unauthenticated):
        authenticate_key(db, raw)
