"""Forms of the staff workspace's workflow pages. They parse input only; the services hold the rules.

Text fields that a service validates (a reason, a question, a note) are not `required` here on
purpose: the service's own plain-English message (STYLE.md rule 9) is then the one the staff
member reads, and the rule lives in one place.
"""

from __future__ import annotations

from typing import Any

from django import forms

from leors import policy
from leors.access.models import AccessApplication, User
from leors.access.services import ChecklistData, legal_team
from leors.core.dates import BoundedDateTimeField


class ReviewerAssignForm(forms.Form):
    """Assign a case or an application: only the people the service accepts are offered (the
    service still checks: it is the rule)."""

    assigned_what: str  # "case", "application": named in the help text
    reviewer = forms.ModelChoiceField(queryset=User.objects.none(), label="Assign to")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["reviewer"]
        field.queryset = legal_team().order_by("email")  # type: ignore[attr-defined]
        field.help_text = f"A legal reviewer or lead. The previous assignee loses access to this {self.assigned_what}."


class ApplicationAssignForm(ReviewerAssignForm):
    assigned_what = "application"


class ApplicationChecklistForm(forms.Form):
    check_body_exists = forms.BooleanField(
        required=False, label="The body exists", help_text="Checked against an official register or website."
    )
    check_domain_belongs = forms.BooleanField(
        required=False, label="The e-mail domain is the body's", help_text="Not a look-alike or a private domain."
    )
    supervisor_confirmed_with = forms.CharField(
        required=False, max_length=200, label="Supervisor confirmed with (who)"
    )
    supervisor_confirmation_method = forms.ChoiceField(
        required=False,
        choices=[("", "---------"), *AccessApplication.ConfirmationMethod.choices],
        label="How",
    )
    supervisor_contact_source = forms.CharField(
        required=False,
        max_length=300,
        label="Where the contact was found",
        help_text="The independent source of the contact (never one the applicant supplied).",
    )
    supervisor_confirmed_at = BoundedDateTimeField(
        what="The time of the supervisor's confirmation", earliest=policy.EARLIEST_RECORDED_TIME,
        required=False,
        label="When",
        help_text="In your time zone.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    @classmethod
    def initial_for(cls, application: AccessApplication) -> dict[str, Any]:
        return {field: getattr(application, field) for field in ChecklistData.__dataclass_fields__}

    def to_data(self) -> ChecklistData:
        data = self.cleaned_data
        return ChecklistData(
            check_body_exists=data["check_body_exists"],
            check_domain_belongs=data["check_domain_belongs"],
            supervisor_confirmed_with=data["supervisor_confirmed_with"],
            supervisor_confirmation_method=data["supervisor_confirmation_method"],
            supervisor_contact_source=data["supervisor_contact_source"],
            supervisor_confirmed_at=data["supervisor_confirmed_at"],
        )


class ApplicationQuestionForm(forms.Form):
    question = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="The applicant reads this in the portal. Never ask for a password or a code.",
    )


class ApplicationApproveForm(forms.Form):
    """A confirmation only: approving takes no input, but refusals still need a place to show."""


class ApplicationRejectForm(forms.Form):
    reason = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="The applicant reads this reason.",
    )


class OfficerSuspendForm(forms.Form):
    note = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        label="Why the account is suspected",
        help_text="Goes into the impersonation referral.",
    )
    referred_to = forms.CharField(
        required=False,
        max_length=200,
        label="Referred to",
        help_text="The enforcement agency it was referred to, if any.",
    )


class OfficerRenewForm(forms.Form):
    note = forms.CharField(
        required=False,  # the service says what is missing (see the module docstring)
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        label="How the officer was re-verified",
    )
