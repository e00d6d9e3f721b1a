"""Opening's permissions (Art. 13), declared here and read by ``core.permissions``.

The portal itself needs none: anyone reads what is open (``catalog.access``). A conditional
opening is answered first by the provider's data stewards or chief data officer
(``opening.answer``), then by the entry's data bureau (``opening.coordinate``); the usage of open
data is reported to the provider's staff and the bureau (``opening.report``); the bureau and
administrators may suspend a developer (``opening.manage``).
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

OPENING_ANSWER = define(
    "opening.answer", {R.DATA_STEWARD, R.CDO},
    "Answer conditional-opening applications for one's own body's entries (Art. 13).")
OPENING_COORDINATE = define(
    "opening.coordinate", {R.BUREAU_REVIEWER},
    "Decide conditional-opening applications after the provider (the entry's data bureau).")
OPENING_REPORT = define(
    "opening.report", {R.DATA_STEWARD, R.CDO, R.CATALOG_EDITOR, R.BUREAU_REVIEWER},
    "See downloads and API reads of one's body's open datasets.")
OPENING_MANAGE = define(
    "opening.manage", {R.ADMIN, R.BUREAU_REVIEWER},
    "Suspend or reinstate developers of the portal.")
