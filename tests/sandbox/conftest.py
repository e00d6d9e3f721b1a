"""Fixtures of the sandbox room's tests (``sandbox.world``: datasets, operators, the bureau)."""

from sandbox.world import entry, make_entry, people, run_ingest, world  # noqa: F401
