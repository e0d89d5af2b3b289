"""Models of the cases app: the requests themselves, and the clocks that run on them."""

from __future__ import annotations

from cases.models.clocks import Freeze, PreservationHold, Reminder
from cases.models.recovery import (
    Approval,
    AssetReturn,
    ConfirmationMethod,
    OutOfBandConfirmation,
    RecoveryInstructions,
    RecoveryOfficial,
)
from cases.models.requests import (
    CHECKLIST_FIELDS,
    Case,
    CaseDocument,
    CaseGroupObjectPermission,
    CaseMessage,
    CaseUserObjectPermission,
    Production,
    RequestType,
    SubjectIdentifier,
    _document_path,  # noqa: F401  (referenced by migration 0001)
)

__all__ = [
    "CHECKLIST_FIELDS",
    "Approval",
    "AssetReturn",
    "Case",
    "CaseDocument",
    "CaseGroupObjectPermission",
    "CaseMessage",
    "CaseUserObjectPermission",
    "ConfirmationMethod",
    "Freeze",
    "OutOfBandConfirmation",
    "PreservationHold",
    "Production",
    "RecoveryInstructions",
    "RecoveryOfficial",
    "Reminder",
    "RequestType",
    "SubjectIdentifier",
]
