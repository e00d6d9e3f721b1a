"""The sandbox's permissions (Art. 14), declared here and read by ``core.permissions``.

Who acts: the data bureau authorises operators, sets how each column may leave and changes an
authorisation's status (``sandbox.authorise``: its reviewers, and administrators covering it);
an operator's staff query what an active authorisation of their organisation covers
(``sandbox.query``); the bureau's reviewers release or refuse results (``sandbox.review``).
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

SANDBOX_QUERY = define(
    "sandbox.query", {R.OPERATOR},
    "Query, in the sandbox, the datasets an active authorisation of one's organisation covers.")
SANDBOX_AUTHORISE = define(
    "sandbox.authorise", {R.BUREAU_REVIEWER, R.ADMIN},
    "Authorise operators, suspend or revoke authorisations, set the columns' release levels "
    "(the data bureau).")
SANDBOX_REVIEW = define(
    "sandbox.review", {R.BUREAU_REVIEWER},
    "Review sandbox results before they leave: release or refuse (the data bureau).")
SANDBOX_PRODUCT = define(
    "sandbox.product", {R.OPERATOR},
    "Register one's organisation's data products and record their revenue (Art. 14).")
SANDBOX_SUPERVISE = define(
    "sandbox.supervise", {R.BUREAU_REVIEWER, R.SECURITY_OFFICER, R.AUDITOR, R.ADMIN},
    "Supervise operators: every product, the revenue ledger, annual figures; suspend a "
    "product (the data bureau).")
