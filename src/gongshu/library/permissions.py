"""The resource library's permissions (Art. 11), declared here and read by ``core.permissions``.

A body's data stewards (and catalog editors) store its datasets; its staff and the reviewing
bureau read them; the data stewards keep the quality rules.
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

LIBRARY_READ = define("library.read", {R.DATA_STEWARD, R.CATALOG_EDITOR, R.CDO,
                                       R.BUREAU_REVIEWER},
                      "Read a body's datasets, versions and masked previews (Art. 11).")
LIBRARY_INGEST = define("library.ingest", {R.DATA_STEWARD, R.CATALOG_EDITOR},
                        "Ingest a new version of a body's dataset (Art. 11).")
QUALITY_MANAGE = define("quality.manage", {R.DATA_STEWARD},
                        "Keep a dataset's quality rules and evaluate them.")
