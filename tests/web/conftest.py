"""Fixtures of the web tests that need stored data (shared with the library tests)."""

from library.fixtures import entry, make_entry, people, run_ingest  # noqa: F401
