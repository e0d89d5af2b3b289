"""Forms of the officer portal for cases. They parse what the officer sent and carry errors back to
the fields; the rules (what each request type needs, R4 language, R8 duration, identifier formats)
live in cases.services.intake, which reports every problem at once. Fields the service checks are
therefore optional here: a form error would stop the service from reporting the other problems.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar, cast

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.forms.formsets import BaseFormSet, formset_factory
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from cases.identifiers import CHAIN_CHOICES
from cases.models import Case, CaseDocument, RequestType, SubjectIdentifier
from cases.services.intake import CaseInput, DocumentInput, IdentifierInput
from leors import policy
from leors.access.forms import MultipleFileField
from leors.core.dates import BoundedDateField, by_tomorrow
from leors.core.files import display_name

SUBJECT_PREFIX = "subjects"
DOCUMENT_PREFIX = "documents"
# Blank rows shown without JavaScript; with htmx the officer can add more, up to the maximum.
BLANK_SUBJECT_ROWS = 3
BLANK_DOCUMENT_ROWS = 3
MAX_SUBJECT_ROWS = 50
_SUBMISSION_KEY = re.compile(r"^[0-9a-f]{32}$")

REQUEST_TYPE_HELP = {
    RequestType.USER_INFORMATION: "Identity, login and transaction data of an account. Needs a warrant, court order "
                                  "or local equivalent.",
    RequestType.PRESERVATION: "Keep an account's data while you obtain the legal process to compel its disclosure.",
    RequestType.PRESERVATION_EXTENSION: "Extend a preservation your agency requested, before it expires.",
    RequestType.FREEZE: "Restrict an account for the duration your freeze order states.",
    RequestType.ASSET_RECOVERY: "Return of assets on the decision of a competent judicial body.",
}

# Each request type asks only for what it needs (the rest of the form is common to all types).
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    RequestType.USER_INFORMATION: ("data_requested", "period_from", "period_to", "has_non_disclosure_instruction",
                                   "non_disclosure_until"),
    RequestType.PRESERVATION: (),
    RequestType.PRESERVATION_EXTENSION: ("extends_case_reference",),
    # A freeze order may be a further order for a freeze already requested (R8: it extends that freeze).
    RequestType.FREEZE: ("freeze_duration_days", "extends_case_reference"),
    # R9: the freeze holding the assets (lifted when the return is recorded).
    RequestType.ASSET_RECOVERY: ("assets_description", "extends_case_reference"),
}
_ALL_TYPE_FIELDS = {name for names in TYPE_FIELDS.values() for name in names}
# Shown as required (the service refuses the request without them); optional in the form, see above.
REQUIRED_FIELDS = {"title", "request_text", "data_requested", "has_non_disclosure_instruction",
                   "extends_case_reference", "freeze_duration_days", "assets_description"}
# Fields whose meaning depends on the type: (label, help, required) for the types that differ.
EXTENDS_FIELD_BY_TYPE: dict[str, tuple[str, str, bool]] = {
    RequestType.FREEZE: (
        "This is a further order for freeze (LEORS reference)",
        "Only if this order continues a freeze you already sent us: its LEORS reference, e.g. LEORS-2026-000123. "
        "Accepted while that freeze is in force, it extends it; leave empty for a new freeze.",
        False,
    ),
    RequestType.ASSET_RECOVERY: (
        "The freeze holding the assets (LEORS reference)",
        "If the assets are frozen under a freeze you sent us, its LEORS reference: that freeze is lifted when the "
        "return is recorded. Assets are returned only on a court order (attach it as a court order).",
        False,
    ),
}

NO_FILE_KEPT = ("Files cannot be kept when the form is shown again (browsers do not allow it): "
                "choose every file again before sending.")


def new_submission_key() -> str:
    return uuid.uuid4().hex


def submission_key_or_new(value: str | None) -> str:
    """A well-formed key from the form, or a fresh one (a tampered key must not block the officer)."""
    return value if value and _SUBMISSION_KEY.match(value) else new_submission_key()


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def request_type_options() -> list[dict[str, str]]:
    """Step one of a new request (a GET form: `?type=`), so the form can show only that type's fields."""
    return [{"value": value, "label": label, "help": REQUEST_TYPE_HELP[RequestType(value)]}
            for value, label in RequestType.choices]


class CaseForm(forms.Form):
    submission_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    request_type = forms.ChoiceField(choices=RequestType.choices, widget=forms.HiddenInput)
    title = forms.CharField(max_length=200, required=False,
                            help_text="A short description, e.g. “Account behind a romance-scam wallet”.")
    case_reference = forms.CharField(label="Your reference", max_length=120, required=False,
                                     help_text="Your agency's own case or investigation number, if any.")
    request_text = forms.CharField(
        label="The request", required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 7}),
        help_text="In English: the facts, the legal basis and what you need. Documents in another language need "
                  "a certified English translation, attached below.",
    )
    # User information.
    data_requested = forms.CharField(
        label="Information requested", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="E.g. identity (KYC) data, login IP addresses, deposits and withdrawals.",
    )
    period_from = BoundedDateField(label="Period from", required=False, widget=DateInput,
                                   what="The start of the period", earliest=policy.EARLIEST_DOCUMENT_DATE)
    period_to = BoundedDateField(label="Period to", required=False, widget=DateInput,
                                 what="The end of the period", earliest=policy.EARLIEST_DOCUMENT_DATE)
    has_non_disclosure_instruction = forms.ChoiceField(
        label="Does the legal process instruct us not to notify the user?",
        required=False,
        choices=[("no", "No: the user may be notified before disclosure"),
                 ("yes", "Yes: the user must not be notified until the date below")],
        widget=forms.RadioSelect,
        help_text="Unless the legal process says otherwise, the user may be notified before disclosure.",
    )
    non_disclosure_until = BoundedDateField(label="Do not notify the user until", required=False, widget=DateInput,
                                            help_text="As the legal process states it. Only if you answered yes.",
                                            what="The end of the non-disclosure instruction",
                                            earliest=policy.EARLIEST_DOCUMENT_DATE)
    # Preservation extension.
    extends_case_reference = forms.CharField(
        label="LEORS reference of the preservation to extend", max_length=40, required=False,
        help_text="As shown on the preservation request, e.g. LEORS-2026-000123.",
    )
    # Freeze.
    freeze_duration_days = forms.IntegerField(
        label="Duration of the freeze stated in the order (days)", required=False, max_value=36500,
        help_text="An order that states no duration cannot be taken.",
    )
    # Asset recovery.
    assets_description = forms.CharField(
        label="Assets to be returned", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Asset, amount, and the account or address they are held in.",
    )

    def __init__(self, *args: Any, request_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chosen_type = request_type
        for name in _ALL_TYPE_FIELDS - set(TYPE_FIELDS[request_type]):
            del self.fields[name]
        required = set(REQUIRED_FIELDS)
        if request_type in EXTENDS_FIELD_BY_TYPE:
            extends = self.fields["extends_case_reference"]
            extends.label, extends.help_text, is_required = EXTENDS_FIELD_BY_TYPE[request_type]
            if not is_required:
                required.discard("extends_case_reference")
        for name, field in self.fields.items():
            if name in required:
                field.is_marked_required = True  # type: ignore[attr-defined]
                if not isinstance(field.widget, forms.RadioSelect):  # a radio group is marked on its fieldset
                    field.widget.attrs["aria-required"] = "true"

    @property
    def type_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in TYPE_FIELDS[self.chosen_type]]

    @property
    def request_type_label(self) -> str:
        return RequestType(self.chosen_type).label

    def to_input(self, *, identifiers: list[IdentifierInput], documents: list[DocumentInput]) -> CaseInput:
        data = self.cleaned_data
        non_disclosure = {"yes": True, "no": False}.get(data.get("has_non_disclosure_instruction") or "")
        return CaseInput(
            request_type=self.chosen_type,
            title=data["title"],
            request_text=data["request_text"],
            submission_key=data["submission_key"],
            case_reference=data["case_reference"],
            identifiers=identifiers,
            documents=documents,
            data_requested=data.get("data_requested", ""),
            period_from=data.get("period_from"),
            period_to=data.get("period_to"),
            has_non_disclosure_instruction=non_disclosure,
            non_disclosure_until=data.get("non_disclosure_until"),
            extends_case_reference=data.get("extends_case_reference", ""),
            freeze_duration_days=data.get("freeze_duration_days"),
            assets_description=data.get("assets_description", ""),
        )


class SubjectForm(forms.Form):
    kind = forms.ChoiceField(label="Kind of identifier", choices=[("", "Choose…"), *SubjectIdentifier.Kind.choices],
                             required=False)
    value = forms.CharField(label="Identifier", max_length=200, required=False)
    chain = forms.ChoiceField(label="Chain (wallets only)", choices=CHAIN_CHOICES, required=False)

    def __init__(self, *args: Any, row_index: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_number = None if row_index is None else row_index + 1

    @property
    def is_blank(self) -> bool:
        return not (getattr(self, "cleaned_data", None) or {}).get("value", "").strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("value", "").strip() and not cleaned.get("kind"):
            self.add_error("kind", "Choose what kind of identifier this is.")
        return cleaned


class BaseSubjectFormSet(BaseFormSet):  # type: ignore[type-arg]
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "row_index": index}

    def to_inputs(self) -> tuple[list[IdentifierInput], list[int]]:
        """The identifiers the officer filled in, and for each the row it came from (blank rows skipped)."""
        inputs, rows = [], []
        for index, form in enumerate(self.forms):
            if form.is_blank:
                continue
            data = form.cleaned_data
            inputs.append(IdentifierInput(kind=data["kind"], value=data["value"], chain=data.get("chain") or ""))
            rows.append(index)
        return inputs, rows


SubjectFormSet = cast(type[BaseSubjectFormSet], formset_factory(
    SubjectForm, formset=BaseSubjectFormSet, extra=BLANK_SUBJECT_ROWS, max_num=MAX_SUBJECT_ROWS, validate_max=True,
    absolute_max=MAX_SUBJECT_ROWS))


class DocumentForm(forms.Form):
    # An empty file is passed on: leors.core.files.file_inspect refuses it with an error naming it.
    file = forms.FileField(required=False, allow_empty_file=True, label="File",
                           help_text="PDF, DOCX, plain text, PNG or JPEG.")
    document_type = forms.ChoiceField(label="Type of document", required=False,
                                      choices=[("", "Choose…"), *CaseDocument.DocumentType.choices])
    issuing_authority = forms.CharField(label="Issuing authority", max_length=200, required=False)
    # Issued already: by tomorrow in UTC at the latest (the officer may be a day ahead of UTC).
    issued_on = BoundedDateField(label="Date of issue", required=False, widget=DateInput, what="The date of issue",
                                 earliest=policy.EARLIEST_DOCUMENT_DATE, latest=by_tomorrow)
    document_reference = forms.CharField(label="Its reference", max_length=120, required=False)
    translation_of = forms.TypedChoiceField(
        label="This is the certified English translation of", required=False, coerce=int, empty_value=None,
    )
    translator_certification = forms.CharField(
        label="Translator's certification", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For a translation only: the translator's name, qualification and statement that it is accurate.",
    )

    def __init__(self, *args: Any, row_index: int | None = None, row_count: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_number = None if row_index is None else row_index + 1
        choices: list[tuple[Any, str]] = [("", "— not a translation —")]
        choices += [(index, f"Document {index + 1}") for index in range(row_count) if index != row_index]
        self.fields["translation_of"].choices = choices  # type: ignore[attr-defined]

    @property
    def upload(self) -> UploadedFile | None:
        return (getattr(self, "cleaned_data", None) or {}).get("file") or None

    @property
    def is_translation_shown(self) -> bool:
        """Open the translation part of the row when the officer filled it in or it has an error."""
        names = ("translation_of", "translator_certification")
        return any(self[name].value() not in (None, "") or self[name].errors for name in names)

    @property
    def chosen_file_name(self) -> str:
        """The name of the file chosen in this row on the last post (the file itself cannot be kept)."""
        upload = self.files.get(self.add_prefix("file")) if self.is_bound else None
        return display_name(upload.name or "") if upload is not None else ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        described = any(cleaned.get(name) not in (None, "") for name in (
            "document_type", "issuing_authority", "issued_on", "document_reference", "translation_of",
            "translator_certification"))
        if described and not cleaned.get("file") and "file" not in self.errors:
            self.add_error("file", f"Choose the file for document {self.row_number}, or clear this row. {NO_FILE_KEPT}")
        return cleaned


class BaseDocumentFormSet(BaseFormSet):  # type: ignore[type-arg]
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "row_index": index, "row_count": self.total_form_count()}

    def clean(self) -> None:
        if any(self.errors):
            return
        for form in self.forms:
            target = form.cleaned_data.get("translation_of")
            if target is not None and (target >= len(self.forms) or self.forms[target].upload is None):
                form.add_error("translation_of", f"Document {target + 1} has no file: attach the original that "
                                                 "this document translates.")

    def to_inputs(self) -> tuple[list[DocumentInput], list[int]]:
        """The documents with a file, and for each the row it came from. A translation names its
        original by row; the service wants the original's position among the attached documents."""
        rows = [index for index, form in enumerate(self.forms) if form.upload is not None]
        position = {row: number for number, row in enumerate(rows)}
        inputs = []
        for row in rows:
            data = self.forms[row].cleaned_data
            target = data.get("translation_of")
            inputs.append(DocumentInput(
                upload=data["file"],
                document_type=data.get("document_type") or "",
                issuing_authority=data.get("issuing_authority", ""),
                issued_on=data.get("issued_on"),
                document_reference=data.get("document_reference", ""),
                translation_of=position[target] if target is not None else None,
                translator_certification=data.get("translator_certification", ""),
            ))
        return inputs, rows


DocumentFormSet = cast(type[BaseDocumentFormSet], formset_factory(
    DocumentForm, formset=BaseDocumentFormSet, extra=BLANK_DOCUMENT_ROWS, max_num=policy.upload_max_files(),
    validate_max=True, absolute_max=policy.upload_max_files()))


def document_row_limit() -> int:
    return policy.upload_max_files()


class FixedChoicesSelect(forms.Select):
    """A `<select>` whose choices are fixed in the code (the statuses, the kinds of request): its markup
    depends on nothing but its name, value, attributes and language, so each combination is rendered once
    per process and kept. Django renders a template per option on every request: the officers' list's two
    selects took 0.64 ms of it (benchmarks, P1). Only a value among the choices (or none) is kept, so a
    value typed into the address cannot grow what is kept; any other is rendered as Django renders it."""

    _rendered: ClassVar[dict[tuple[Any, ...], str]] = {}

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        choices = tuple((str(option), str(label)) for option, label in self.choices)
        if value not in (None, "") and str(value) not in {option for option, _label in choices}:
            return super().render(name, value, attrs, renderer)
        key = (name, value, choices, tuple(sorted(self.attrs.items())), tuple(sorted((attrs or {}).items())),
               translation.get_language(), renderer)
        if key not in self._rendered:
            self._rendered[key] = super().render(name, value, attrs, renderer)
        return mark_safe(self._rendered[key])  # noqa: S308  # Django's own rendering, kept


class CaseFilterForm(forms.Form):
    """The officer's list: search and filters (a GET form; invalid values are simply ignored)."""

    q = forms.CharField(label="Search", required=False, max_length=200,
                        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
                        help_text="LEORS reference, title, your reference or a subject identifier.")
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *Case.Status.choices],
                               widget=FixedChoicesSelect)
    type = forms.ChoiceField(label="Type", required=False, choices=[("", "Any type"), *RequestType.choices],
                             widget=FixedChoicesSelect)

    def value_of(self, name: str) -> str:
        if not self.is_valid():
            return ""
        return self.cleaned_data.get(name) or ""


class MessageForm(forms.Form):
    body = forms.CharField(label="Your message", max_length=10000, required=False,
                           widget=forms.Textarea(attrs={"rows": 5}))
    attachments = MultipleFileField(
        label="Attachments", required=False,
        help_text="PDF, DOCX, plain text, PNG or JPEG, in English. Files cannot be kept if the message is refused; "
                  "attach them again.",
    )


class ShareForm(forms.Form):
    colleague_email = forms.EmailField(
        label="Your colleague's official e-mail", max_length=254,
        help_text="An officer of your agency with current access. They will be able to see and answer this request.",
    )
