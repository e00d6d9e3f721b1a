"""Grading's permissions (Art. 10), declared here and read by ``core.permissions``.

A body's data stewards confirm or override the proposed grade; the bureau (province-wide, see
``orgs.service.holds_province_wide``) and administrators choose the grading scheme.
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

GRADING_CONFIRM = define("grading.confirm", {R.DATA_STEWARD},
                         "Confirm or override a dataset's proposed grade (Art. 10).")
GRADING_MANAGE = define("grading.manage", {R.BUREAU_REVIEWER, R.ADMIN},
                        "Choose the grading scheme and manage rule packs (Art. 10).")
