"""The officers' list's filters: its fixed-choice selects render once per value, as Django renders them."""

from __future__ import annotations

from django import forms
from django.http import QueryDict

from cases.forms import CaseFilterForm, FixedChoicesSelect
from cases.models import Case, RequestType


def _django_markup(form: CaseFilterForm, name: str) -> str:
    """The field as Django's own Select renders it, from the same bound field."""
    bound = form[name]
    widget = forms.Select(choices=bound.field.choices)
    return str(bound.as_widget(widget=widget))


def test_every_status_and_type_renders_as_django_renders_it_and_again_from_what_was_kept() -> None:
    FixedChoicesSelect._rendered.clear()
    values = [("status", value) for value in ["", *Case.Status.values]] + \
             [("type", value) for value in ["", *RequestType.values]]
    for name, value in values:
        form = CaseFilterForm(QueryDict(f"{name}={value}"))
        expected = _django_markup(form, name)
        assert str(form[name]) == expected, (name, value)
        assert str(CaseFilterForm(QueryDict(f"{name}={value}"))[name]) == expected, (name, value)  # kept
        if value:
            assert f'<option value="{value}" selected>' in expected
    assert len(FixedChoicesSelect._rendered) == len(values)


def test_a_value_that_is_no_choice_is_shown_as_django_shows_it_and_not_kept() -> None:
    FixedChoicesSelect._rendered.clear()
    for typed in ("closed<script>", "x" * 200, "nonsense"):
        form = CaseFilterForm(QueryDict("", mutable=True) | {"status": typed})
        assert not form.is_valid() and form.value_of("status") == ""
        assert str(form["status"]) == _django_markup(form, "status")
        assert "<script>" not in str(form["status"])
    assert FixedChoicesSelect._rendered == {}


def test_a_stored_kind_or_status_that_is_no_longer_a_choice_is_listed_as_it_is() -> None:
    from django.utils import timezone

    from cases.selectors import CaseListRow

    def row(**values: str) -> CaseListRow:
        return CaseListRow(**{"reference": "LEORS-2026-000001", "title": "A request", "submitted_at": timezone.now(),
                              "case_reference": "", "officer_user_id": 1, "officer_email": "a@police.example", **values})

    assert (row(request_type="freeze", status="in_review").request_type_label,
            row(request_type="freeze", status="in_review").status_label) == ("Freeze of an account", "In review")
    retired = row(request_type="retired_kind", status="archived")
    assert (retired.request_type_label, retired.status_label) == ("retired_kind", "archived")
