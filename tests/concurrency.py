"""Run one operation N times at once, each call in its own thread and transaction, and collect
what each got: the result or the error. For workflows whose steps must be safe under
concurrency on PostgreSQL (one decision wins, the others get 409).

    outcomes = race(runtime, 20, lambda db, i: flows.answer(actor, db, request_id, approve=True))
    assert outcomes.successes == 1 and outcomes.errors_of(Conflict) == 19
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


@dataclass
class Outcomes:
    results: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return len(self.results)

    def errors_of(self, *kinds: type[BaseException]) -> int:
        return sum(isinstance(e, kinds) for e in self.errors)

    def unexpected(self, *expected: type[BaseException]) -> list[BaseException]:
        return [e for e in self.errors if not isinstance(e, expected)]


def race(runtime: Any, n: int, operation: Callable[[Session, int], Any], *,
         timeout: float = 60.0) -> Outcomes:
    """Start ``n`` threads that each wait at a barrier, then run ``operation(db, i)`` in
    ``runtime.db.transaction()`` (committed if it returns). Returns every outcome."""
    barrier = threading.Barrier(n)
    lock = threading.Lock()
    outcomes = Outcomes()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            with runtime.db.transaction() as db:
                result = operation(db, i)
            with lock:
                outcomes.results.append(result)
        except BaseException as exc:  # noqa: BLE001 - collected for the test to judge
            with lock:
                outcomes.errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing call did not finish"
    return outcomes
