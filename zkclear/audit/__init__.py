"""The compliance audit from public chain data and a view key.

:func:`audit_member` (:mod:`.core`) runs it; :mod:`.chainview` reads the chain,
:mod:`.checks` audits one epoch, :mod:`.report` holds the result and its JSON form,
:mod:`.html` renders its page from ``templates/report.html.j2``.
"""

from .chainview import ChainDataError, ChainView, MemberView
from .checks import derive_slot
from .core import audit_member
from .report import FORMAT, AuditError, AuditReport, EpochRow, Finding

__all__ = [
    "FORMAT",
    "AuditError",
    "AuditReport",
    "ChainDataError",
    "ChainView",
    "EpochRow",
    "Finding",
    "MemberView",
    "audit_member",
    "derive_slot",
]
