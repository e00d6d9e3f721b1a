"""Admission: how many requests a process serves at once, and who goes next.

A request needs a thread (the routes and the unit of work are synchronous) and, from its first
query until its unit of work ends, a database connection. Left alone, FastAPI runs any number
of requests on a pool of 40 threads while the connection pool holds fewer connections: a request
that holds a connection then waits for a thread held by one that waits for a connection, and
every request stalls until the pool gives up after 30 s with a 500. So:

- at most ``web_threads`` requests are *in* at once (``Admission``, outermost but for the error
  pages). The thread pool has a few threads more than that, and the connection pool has a
  connection for each of them (``Settings.effective_db_pool_size``): a request that is in never
  waits for a thread or a connection;
- the others wait in line without holding anything. When a slot frees, it goes to the waiting
  caller (a token, a browser session, else an address) that holds the fewest slots, the
  longest-waiting first among equals (``FairGate``). One client with 200 searches in flight
  therefore does not hold up another user's request for longer than a request takes;
- a request that waits ``request_queue_seconds`` is answered ``503`` with ``Retry-After``
  (problem+json ``overloaded``), never left hanging.

Static files do not take a slot (no thread of ours, no connection).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gongshu.core.errors import Unavailable

#: threads beyond the slots: static files, the notes written after a request
SPARE_THREADS = 4
#: paths that never take a slot
EXEMPT_PREFIXES = ("/static/",)


class FairGate:
    """At most ``slots`` holders at once; a free slot goes to the waiting caller holding the
    fewest slots (FIFO among equals). Used from one event loop only."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.free = slots
        self.held: Counter[str] = Counter()
        self._waiters: list[tuple[str, asyncio.Future[None]]] = []

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, caller: str, timeout: float) -> bool:
        """Take a slot for ``caller``; False if none came within ``timeout`` seconds."""
        if self.free > 0 and not self._waiters:
            self._grant(caller)
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (caller, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except (TimeoutError, asyncio.CancelledError) as exc:
            if future.done() and not future.cancelled():
                # granted just as the wait ended: give it back (or keep it if not cancelled)
                if isinstance(exc, TimeoutError):
                    return True
                self.release(caller)
            else:
                future.cancel()
                if entry in self._waiters:
                    self._waiters.remove(entry)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False

    def release(self, caller: str) -> None:
        self.held[caller] -= 1
        if self.held[caller] <= 0:
            del self.held[caller]
        self.free += 1
        self._dispatch()

    def _grant(self, caller: str) -> None:
        self.free -= 1
        self.held[caller] += 1

    def _dispatch(self) -> None:
        while self.free > 0 and self._waiters:
            best = min(range(len(self._waiters)),
                       key=lambda i: (self.held.get(self._waiters[i][0], 0), i))
            caller, future = self._waiters.pop(best)
            if future.done():  # cancelled meanwhile
                continue
            self._grant(caller)
            future.set_result(None)


def caller_of(scope: Scope) -> str:
    """Who is asking, for fairness only (never for authentication): the bearer token, else
    the browser session, else the client address; hashed so no secret is kept in memory."""
    headers = dict(scope.get("headers") or ())
    auth = headers.get(b"authorization", b"")
    if auth:
        return "t:" + hashlib.sha256(auth).hexdigest()[:16]
    cookie = headers.get(b"cookie", b"")
    if b"gongshu_session=" in cookie:
        session = cookie.split(b"gongshu_session=", 1)[1].split(b";", 1)[0]
        return "s:" + hashlib.sha256(session).hexdigest()[:16]
    client = scope.get("client")
    return "a:" + (str(client[0]) if client else "?")


class Admission:
    """ASGI middleware: a slot of the ``FairGate`` for each request, or 503 + Retry-After."""

    def __init__(self, app: ASGIApp, *, slots: int, queue_seconds: float,
                 headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.slots = slots
        self.queue_seconds = queue_seconds
        self.headers = headers or {}
        self._gate: FairGate | None = None

    @property
    def gate(self) -> FairGate:
        if self._gate is None:  # made inside the event loop that serves
            self._gate = FairGate(self.slots)
        return self._gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        caller = caller_of(scope)
        gate = self.gate
        if not await gate.acquire(caller, self.queue_seconds):
            await self._refuse(scope, receive, send, gate)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gate.release(caller)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, gate: FairGate) -> None:
        from gongshu.web.problems import overloaded

        # about as long as the line ahead takes to clear, at least a second
        retry = max(1, math.ceil(self.queue_seconds * gate.waiting / max(self.slots, 1) / 4))
        response = overloaded(Request(scope, receive), Unavailable(retry_after=min(retry, 60)))
        for key, value in self.headers.items():
            response.headers.setdefault(key, value)
        await response(scope, receive, send)


def install(app: Any, *, slots: int, queue_seconds: float, headers: dict[str, str]) -> None:
    """Add the admission middleware outside every other one (call it last)."""
    app.add_middleware(Admission, slots=slots, queue_seconds=queue_seconds, headers=headers)


def size_thread_pool(slots: int) -> None:
    """Give the event loop's thread pool a few threads more than there are slots (a request
    that is in never waits for a thread); call it from inside the loop (the lifespan)."""
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = slots + SPARE_THREADS
