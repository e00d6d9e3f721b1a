"""Fixtures of the library tests (defined in library.fixtures, shared with grading)."""

from library.fixtures import entry, make_entry, people, run_ingest  # noqa: F401
