"""Fixtures of the audit tests: catalog entries from the library fixtures."""

from library.fixtures import entry, make_entry  # noqa: F401
