"""Fixtures of the core tests that need stored data (backups, crash recovery): the library's."""

from library.fixtures import entry, make_entry, people, run_ingest  # noqa: F401
