"""Forms of the case workflow pages in the staff workspace. They parse input only; the services
(cases.services.*) hold the rules and say, in their own words, what is missing or refused.

As in leors.access.admin_forms, text fields that a service validates (a question, reasons, a
language override's reason) are not `required` here: the service's plain-English message (STYLE.md
rule 9) is then the one the staff member reads, and the rule lives in one place. Choices that
pick an object offer only the objects of the case at hand, so no id from another case is accepted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet

from cases.models import Approval, Case, CaseDocument, ConfirmationMethod, Freeze, Production, RecoveryOfficial
from cases.services.clocks import FreezeActivation
from cases.services.recovery import Confirmation
from cases.services.review import ReviewChecklist
from leors import policy
from leors.access.admin_forms import ReviewerAssignForm
from leors.core.dates import BoundedDateTimeField

TEXTAREA = {"rows": 6, "cols": 80}


class CaseAssignForm(ReviewerAssignForm):
    assigned_what = "case"


class CaseChecklistForm(forms.Form):
    """R10: what the reviewer checked in the legal process and the request."""

    check_issuing_authority = forms.BooleanField(
        required=False, label="Issuing authority",
        help_text="The authority that issued the legal process exists and is competent to issue it.",
    )
    check_jurisdiction = forms.BooleanField(
        required=False, label="Jurisdiction", help_text="The process is valid where it was issued and reaches us.",
    )
    check_signature_or_seal = forms.BooleanField(
        required=False, label="Signature or seal", help_text="Signed or sealed by the issuing authority.",
    )
    check_dates = forms.BooleanField(
        required=False, label="Dates", help_text="Issued, in force, and the period requested is covered.",
    )
    check_subject_identifiers = forms.BooleanField(
        required=False, label="Subject identifiers",
        help_text="The subjects of the request are the ones named in the legal process.",
    )
    check_scope = forms.BooleanField(
        required=False, label="Scope", help_text="What is requested is within what the legal process orders.",
    )
    checklist_notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs=TEXTAREA), label="Notes",
        help_text="For the legal team; the officer does not read these.",
    )

    @classmethod
    def initial_for(cls, case: Case) -> dict[str, Any]:
        return {field: getattr(case, field) for field in ReviewChecklist.__dataclass_fields__}

    def to_data(self) -> ReviewChecklist:
        return ReviewChecklist(**{field: self.cleaned_data[field] for field in ReviewChecklist.__dataclass_fields__})


class CaseQuestionForm(forms.Form):
    question = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs=TEXTAREA),
        help_text="The officer reads this in the portal; the case waits for the answer. "
                  "Never ask for a password or a code.",
    )


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe); cleans to a list, empty if none."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)] if data else []


class CaseMessageForm(forms.Form):
    AUDIENCE_INTERNAL = "internal"
    AUDIENCE_OFFICER = "officer"

    # No default on purpose: an internal note sent to the officer by mistake cannot be taken back,
    # so the author chooses every time.
    audience = forms.ChoiceField(
        choices=[
            (AUDIENCE_INTERNAL, "Internal note: the legal team only; the officer never sees it"),
            (AUDIENCE_OFFICER, "Message to the officer: read in the portal, announced by an e-mail without content"),
        ],
        widget=forms.RadioSelect,
        label="Who reads it",
    )
    body = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs=TEXTAREA),
        label="Message",
        help_text="Never ask for a password or a code.",
    )
    attachments = MultipleFileField(
        required=False,
        help_text="PDF, image, DOCX or plain text, in English (R4); a scan is flagged for a manual language check.",
    )

    @property
    def is_internal(self) -> bool:
        return bool(self.cleaned_data["audience"] == self.AUDIENCE_INTERNAL)


class DocumentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        document: CaseDocument = obj
        parts = [document.original_name, document.get_role_display()]
        if document.document_type:
            parts.append(document.get_document_type_display())
        if document.issuing_authority:
            parts.append(document.issuing_authority)
        if document.document_reference:
            parts.append(document.document_reference)
        parts.append(f"language: {document.get_language_status_display()}")
        return " — ".join(parts)


class CaseDocumentVerifyForm(forms.Form):
    """R5: pick the legal-process document of this case that the reviewer has checked."""

    document = DocumentChoiceField(queryset=CaseDocument.objects.none(), label="Legal process")

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["document"].queryset = self.documents_for(case)  # type: ignore[attr-defined]

    @staticmethod
    def documents_for(case: Case) -> QuerySet[CaseDocument]:
        return case.documents.filter(role=CaseDocument.Role.LEGAL_PROCESS, verified_at__isnull=True)


class CaseDocumentLanguageForm(forms.Form):
    """R4: the manual language check of a scan, or an override of a detection."""

    document = DocumentChoiceField(queryset=CaseDocument.objects.none())
    language_status = forms.ChoiceField(
        choices=[
            (CaseDocument.LanguageStatus.ENGLISH, "English"),
            (CaseDocument.LanguageStatus.NOT_ENGLISH, "Not English"),
        ],
        widget=forms.RadioSelect,
        label="The document is",
    )
    reason = forms.CharField(
        required=False,  # the service says when a reason is needed (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="Needed to override a detection or to record a scan as not English; it goes into the audit trail.",
    )

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["document"].queryset = case.documents.all()  # type: ignore[attr-defined]


class CaseDecideForm(forms.Form):
    decision = forms.ChoiceField(choices=Case.Decision.choices, widget=forms.RadioSelect)
    reasons = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs=TEXTAREA),
        help_text="The officer reads these: what was checked, what is missing or why. Never a bare “rejected”.",
    )


class CaseNotificationForm(forms.Form):
    """R6: whether the user is told before disclosure."""

    decision = forms.ChoiceField(choices=Case.NotificationDecision.choices, widget=forms.RadioSelect)
    notified_at = BoundedDateTimeField(
        what="The time the user was notified", earliest=policy.EARLIEST_RECORDED_TIME,
        required=False,
        label="Notified when",
        help_text="Only if the user was notified. In your time zone.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    waiver_reason = forms.CharField(
        required=False,  # the service says when a reason is needed (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        label="Why notification is waived",
        help_text="Only if waived.",
    )


class ProductionUploadForm(forms.Form):
    file = forms.FileField(help_text="Its SHA-256 is recorded and shown to the officer for the chain of custody.")
    description = forms.CharField(required=False, max_length=300)


class ProductionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        production: Production = obj
        described = f" — {production.description}" if production.description else ""
        return f"{production.original_name}{described} (SHA-256 {production.sha256[:12]}…)"


class ProductionReleaseForm(forms.Form):
    production = ProductionChoiceField(queryset=Production.objects.none())

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["production"].queryset = self.productions_for(case)  # type: ignore[attr-defined]

    @staticmethod
    def productions_for(case: Case) -> QuerySet[Production]:
        return case.productions.filter(released_at__isnull=True)


class ConfirmForm(forms.Form):
    """A confirmation only (fulfil, close): no input, but refusals still need a place to show."""


class FreezeActivateForm(forms.Form):
    """R8: the granted period is the stated duration, capped unless the order itself explicitly orders
    longer. The confirmation is offered only when the stated duration is over the cap (below it there
    is nothing to confirm); the service says what is missing (a passage to cite)."""

    confirm_longer = forms.BooleanField(
        required=False,
        label="The order itself explicitly orders a longer period",
        help_text="Tick only if the text of the order, not the officer's request, explicitly orders the freeze to "
                  "last longer than the cap. Otherwise the cap applies.",
    )
    longer_passage = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        label="The passage of the order that orders it",
        help_text="Quote it as it stands in the order (with its page or paragraph); it goes into the audit trail.",
    )

    def __init__(self, *args: Any, stated_days: int, max_days: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if stated_days <= max_days:
            del self.fields["confirm_longer"]
            del self.fields["longer_passage"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # A passage without the tick would be silently ignored (the cap applies): ask which was meant.
        if cleaned.get("longer_passage", "").strip() and not cleaned.get("confirm_longer"):
            self.add_error("confirm_longer", "You quoted a passage but did not confirm that the order explicitly "
                                             "orders a longer period: tick the box, or clear the passage.")
        return cleaned

    def to_activation(self) -> FreezeActivation:
        return FreezeActivation(confirm_longer=bool(self.cleaned_data.get("confirm_longer")),
                                longer_passage=self.cleaned_data.get("longer_passage", ""))


class FreezeLiftForm(forms.Form):
    """R8: an early lift, with its reason (the end of the granted period is the sweep's, not a person's)."""

    reason = forms.ChoiceField(
        choices=[(value, label) for value, label in Freeze.LiftReason.choices if value != Freeze.LiftReason.EXPIRED],
        widget=forms.RadioSelect,
        label="Why the freeze is lifted early",
    )
    note = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="What the lift rests on: the withdrawal or the decision, its date and reference. It goes into the "
                  "audit trail; the officer is told by an e-mail without content.",
    )


# --- Four-eyes, out-of-band confirmation, asset recovery (R9), hold (R3) ---------------------------

class ApprovalDecideForm(forms.Form):
    """Four-eyes: approve (which carries the action out) or cancel one pending approval of this case."""

    APPROVE = "approve"
    CANCEL = "cancel"

    approval = forms.ModelChoiceField(queryset=Approval.objects.none(), widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[(APPROVE, "Approve"), (CANCEL, "Cancel")], widget=forms.HiddenInput)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the pending approvals of this case: no id from another case (or a decided one) is accepted.
        self.fields["approval"].queryset = (  # type: ignore[attr-defined]
            case.approvals.filter(status=Approval.Status.PENDING))
        self.fields["approval"].error_messages["invalid_choice"] = (
            "This approval is no longer pending: it was decided meanwhile.")


class ConfirmationFields(forms.Form):
    """Who confirmed, how, where the contact came from, when: the service says what is missing."""

    confirmed_with = forms.CharField(
        required=False, max_length=200, label="Confirmed with (who)",
        help_text="The person who confirmed, and their role.",
    )
    method = forms.ChoiceField(choices=ConfirmationMethod.choices, widget=forms.RadioSelect, label="How")
    contact_source = forms.CharField(
        required=False, max_length=300, label="Where the contact was found",
        help_text="Found independently: an official directory or website — never a number or address the "
                  "request itself supplied.",
    )
    confirmed_at = BoundedDateTimeField(
        what="The time of the confirmation", earliest=policy.EARLIEST_RECORDED_TIME,
        required=False, label="When", help_text="In your time zone.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def to_confirmation(self) -> Confirmation:
        return Confirmation(confirmed_with=self.cleaned_data["confirmed_with"], method=self.cleaned_data["method"],
                            contact_source=self.cleaned_data["contact_source"],
                            confirmed_at=self.cleaned_data["confirmed_at"])


class OutOfBandConfirmForm(ConfirmationFields):
    """Forged-request resistance: the request itself confirmed with the agency out of band."""


class OfficialChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        official: RecoveryOfficial = obj
        return f"{official.name}, {official.title} ({official.organisation})"


class RecoveryOfficialAddForm(forms.Form):
    """R9, step 2: an official who will handle the return, with their official ID document."""

    name = forms.CharField(required=False, max_length=200)
    title = forms.CharField(required=False, max_length=200, help_text="Rank or function.")
    organisation = forms.CharField(required=False, max_length=200)
    id_document = forms.FileField(
        label="Official ID document", help_text="PDF or image; kept outside the web root, its SHA-256 recorded.")


class RecoveryOfficialCheckForm(forms.Form):
    """R9: the reviewer has examined the official's ID document."""

    official = OfficialChoiceField(queryset=RecoveryOfficial.objects.none())

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["official"].queryset = self.officials_for(case)  # type: ignore[attr-defined]

    @staticmethod
    def officials_for(case: Case) -> QuerySet[RecoveryOfficial]:
        return case.recovery_officials.filter(id_checked_at__isnull=True)


class RecoveryOfficialConfirmForm(ConfirmationFields):
    """R9: the official's identity confirmed out of band, once their ID document was checked."""

    official = OfficialChoiceField(queryset=RecoveryOfficial.objects.none())
    field_order = ["official"]

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["official"].queryset = self.officials_for(case)  # type: ignore[attr-defined]

    @staticmethod
    def officials_for(case: Case) -> QuerySet[RecoveryOfficial]:
        # The ID document first, then the call: the order in which the steps are offered.
        return case.recovery_officials.filter(id_checked_at__isnull=False, confirmed_at__isnull=True)


class ReturnRequestForm(forms.Form):
    """R9, step 5: what the return will record; the service checks each field."""

    asset = forms.CharField(required=False, max_length=20, help_text="e.g. BTC, ETH, USDT.")
    amount = forms.CharField(required=False, max_length=60, help_text="e.g. 0.5")
    destination_address = forms.CharField(required=False, max_length=200,
                                          help_text="The address named in the court order.")
    tx_hash = forms.CharField(required=False, max_length=200, label="Transaction hash")


class HoldReleaseForm(forms.Form):
    """R3: a legal lead lets work on a case on hold continue, recording what was checked."""

    note = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="What you checked (the request, its documents, the agency) before letting work continue. "
                  "It goes into the audit trail.",
    )
