"""The audit module's permissions, declared here and read by ``core.permissions``.

Reading the log and verifying the chain are core permissions (``Perm.AUDIT_READ``,
``Perm.AUDIT_VERIFY``). Acknowledging a break of the chain (Arts. 41-44) is for security
officers: it starts a new signed segment, so it is rare, explained and itself audited.
"""

from __future__ import annotations

from gongshu.core.permissions import Role, define

R = Role

AUDIT_ACKNOWLEDGE = define(
    "audit.acknowledge", {R.SECURITY_OFFICER},
    "Acknowledge a break of the audit chain after investigating it (starts a new signed "
    "segment; the evidence stays).")
