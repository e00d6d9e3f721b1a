"""De-identification's permissions (Art. 16), declared here and read by ``core.permissions``.

A body's data stewards and the data bureau reviewing it measure the re-identification risk of
its data (``deid.assess``), keep its de-identification profiles and make, release and download
de-identified releases (``deid.manage``). Both are checked at the dataset's provider or its
reviewing bureau.
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

DEID_ASSESS = define(
    "deid.assess", {R.DATA_STEWARD, R.BUREAU_REVIEWER},
    "Measure the re-identification risk of a dataset or a file; see de-identified releases.")
DEID_MANAGE = define(
    "deid.manage", {R.DATA_STEWARD, R.BUREAU_REVIEWER},
    "Keep a dataset's de-identification profiles; make, release and download releases (Art. 16).")
