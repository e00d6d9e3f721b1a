"""Fixtures of the sharing tests (the library's: entries, people, ingests)."""

from library.fixtures import entry, make_entry, people, run_ingest  # noqa: F401
