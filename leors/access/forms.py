"""Forms of the officer portal. They parse and show errors; rules live in leors.access.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django_countries import countries
from django_countries.fields import LazyTypedChoiceField  # type: ignore[attr-defined]

from leors import policy
from leors.access.models import AccessApplication, BodyKind
from leors.access.services import ApplicationData, official_email_problem

PRIVATE_PARTY_CHOICES = [
    ("private_lawyer", "A lawyer acting for a private client"),
    ("victim", "A victim of a crime, or someone acting for one"),
    ("company", "A company, exchange or other private organisation"),
]

PRIVATE_PARTY_EXPLANATION = (
    "LEORS accepts requests only from officials of governmental or judicial bodies. "
    "If you are a victim of a crime, report it to your local police: they can request information "
    "from us through LEORS. If you are a lawyer or a company, ask the police, prosecutor or court "
    "handling the matter to make the request. We cannot review requests from private parties."
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Empty files go on to leors.core.files.file_inspect, whose error names the file (STYLE rule 9);
        # Django's own "The submitted file is empty." does not say which of several files it means.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


# The e-mail columns' own length (254, RFC 5321's limit on a path): forms.EmailField alone allows 320, and a longer
# address would reach the database and fail there (a 500) instead of being refused on its field.
_EMAIL_MAX_LENGTH = AccessApplication._meta.get_field("official_email").max_length


class ApplicationForm(forms.Form):
    applying_as = forms.ChoiceField(
        label="You are applying as",
        choices=[("", "Choose…"), *BodyKind.choices, *PRIVATE_PARTY_CHOICES],
    )
    body_name = forms.CharField(label="Name of your body", max_length=200,
                                help_text="As it appears on official documents, e.g. “Metropolitan Police Service”.")
    country = LazyTypedChoiceField(choices=[("", "Choose…"), *countries])
    jurisdiction = forms.CharField(max_length=200, help_text="The area or matters your body has authority over.")
    applicant_name = forms.CharField(label="Your full name", max_length=200)
    rank_title = forms.CharField(label="Rank or title", max_length=120)
    official_email = forms.EmailField(label="Official e-mail", max_length=_EMAIL_MAX_LENGTH, help_text="The address your body issued to you. We send a verification link to it.")
    phone = forms.CharField(label="Official phone", max_length=40)
    supervisor_name = forms.CharField(label="Your supervisor's name", max_length=200)
    supervisor_email = forms.EmailField(label="Your supervisor's e-mail", max_length=_EMAIL_MAX_LENGTH)
    documents = MultipleFileField(
        label="Proof of authority",
        help_text="Warrant card, letter of appointment or similar: PDF, PNG or JPEG. "
        "Files cannot be kept if the form has an error; attach them again.",
    )
    undertaking_version = forms.CharField(widget=forms.HiddenInput, initial=policy.CURRENT_UNDERTAKING_VERSION)
    accept_undertaking = forms.BooleanField(
        label="I accept the undertaking above.",
        error_messages={"required": "You must accept the undertaking to apply (R3)."},
    )

    def clean_applying_as(self) -> str:
        value = self.cleaned_data["applying_as"]
        if value not in BodyKind.values:
            raise forms.ValidationError(PRIVATE_PARTY_EXPLANATION, code="private_party")
        return value

    def clean_official_email(self) -> str:
        email = self.cleaned_data["official_email"].strip().lower()
        problem = official_email_problem(email)
        if problem:
            raise forms.ValidationError(problem)
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        supervisor = cleaned.get("supervisor_email")
        if supervisor and supervisor.strip().lower() == cleaned.get("official_email"):
            self.add_error("supervisor_email", "Give your supervisor's own address, not yours.")
        return cleaned

    def to_data(self) -> ApplicationData:
        c = self.cleaned_data
        return ApplicationData(
            body_name=c["body_name"], body_kind=c["applying_as"], country=c["country"],
            jurisdiction=c["jurisdiction"], applicant_name=c["applicant_name"], rank_title=c["rank_title"],
            official_email=c["official_email"], phone=c["phone"], supervisor_name=c["supervisor_name"],
            supervisor_email=c["supervisor_email"], undertaking_version=c["undertaking_version"],
        )


class VerifyEmailForm(forms.Form):
    """The owner of the official mailbox chooses the account's password when verifying it."""

    password1 = forms.CharField(label="Choose a password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text="At least 12 characters; not a common password.")
    password2 = forms.CharField(label="Repeat the password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class AnswerForm(forms.Form):
    answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=10000)


class ReferenceCheckForm(forms.Form):
    reference = forms.CharField(max_length=40, help_text="As printed in the message, e.g. LEORS-APP-2026-000123.")
    code = forms.CharField(label="Verification code", max_length=20, help_text="The eight characters printed beside it.")
    email = forms.EmailField(label="The e-mail address the message was sent to", max_length=_EMAIL_MAX_LENGTH,
                             help_text="Yours, if it came to you. LEORS confirms a reference and code only to the "
                                       "address it sent them to.")


class StaffCheckForm(forms.Form):
    name = forms.CharField(label="Full name the person gave", max_length=200,
                           help_text="As they said or wrote it, e.g. “Lena Lead”.")
