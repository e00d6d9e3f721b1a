"""The catalog's permissions (Arts. 9, 12, 47), declared here and read by ``core.permissions``.

Everyone may read the catalog, as far as ``catalog.access`` lets them see it (the public and
operators see only open entries, Art. 13). A body's catalog editors and chief data officer
compile its entries; the same-level data bureau reviews them (Art. 9) and keeps the data
elements (Art. 47) with administrators; the bureau runs the census, the bodies answer it.
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

CATALOG_READ = define("catalog.read", set(Role), "Read the catalog (as far as one may see it).")
CATALOG_EDIT = define("catalog.edit", {R.CATALOG_EDITOR, R.CDO},
                      "Compile a body's catalog entries and submit them (Art. 9).")
CATALOG_REVIEW = define("catalog.review", {R.BUREAU_REVIEWER},
                        "Review, return, approve and publish submitted entries (Art. 9).")
DATA_ELEMENT_MANAGE = define("data_element.manage", {R.BUREAU_REVIEWER, R.ADMIN},
                             "Keep the data element registry (Art. 47).")
CENSUS_MANAGE = define("census.manage", {R.BUREAU_REVIEWER},
                       "Open, remind and close a census of systems and data (Art. 9).")
CENSUS_RESPOND = define("census.respond", {R.CATALOG_EDITOR, R.CDO, R.DATA_STEWARD},
                        "Answer a census for one's body (Art. 9).")
