"""Sharing's permissions (Art. 12), declared here and read by ``core.permissions``.

Who acts: a requesting body's staff ask (``sharing.request``); the provider's staff answer
conditional requests and may revoke what they granted (``sharing.answer``); the data bureau
checks conformity, coordinates disputes and not-shared entries, and may revoke
(``sharing.coordinate``); a holder's staff pull granted data (``sharing.pull``, together with the
grant itself: an object capability); reports are for the bureau, chief data officers and
security officers (``sharing.report``); administrators keep the working-day calendar.
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

SHARE_REQUEST = define(
    "sharing.request", {R.REQUESTER, R.CATALOG_EDITOR, R.DATA_STEWARD, R.CDO},
    "Ask another body for data under a scenario (Art. 12).")
SHARE_ANSWER = define(
    "sharing.answer", {R.DATA_STEWARD, R.CDO},
    "Answer requests for one's own body's entries; revoke grants one's body gave.")
SHARE_COORDINATE = define(
    "sharing.coordinate", {R.BUREAU_REVIEWER},
    "Check conformity, coordinate disputes and not-shared entries, revoke grants (the bureau).")
SHARE_PULL = define(
    "sharing.pull", {R.REQUESTER, R.DATA_STEWARD, R.CDO},
    "Pull data under a grant one's body holds (with the grant: an object capability).")
SHARE_REPORT = define(
    "sharing.report", {R.BUREAU_REVIEWER, R.CDO, R.SECURITY_OFFICER, R.AUDITOR},
    "See usage reports: pulls per grant and body, answers per bureau.")
CALENDAR_MANAGE = define(
    "calendar.manage", {R.ADMIN},
    "Extend the working-day calendar (a year's holiday notice, make-up working days).")
