"""The form renderer: Django's own form and widget templates rendered by their Jinja2 copies.

`FORM_RENDERER` (leors/core/renderers.py) takes ~9% off the officers' list page and over a third off the
application page (benchmarks README). What a person sees and what assistive technology reads must not
change with it: each form here, bound with errors, renders the same markup through both engines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django import forms
from django.contrib.admin.widgets import AdminDateWidget, AdminSplitDateTime
from django.forms.renderers import BaseRenderer, DjangoTemplates
from django.template.backends.django import Template as DjangoTemplate
from django.template.backends.jinja2 import Template as Jinja2Template
from django.test.html import parse_html

from cases.admin_forms import CaseChecklistForm, FreezeActivateForm, FreezeLiftForm
from cases.forms import CaseFilterForm, CaseForm, DocumentForm, SubjectForm
from leors.access.admin_forms import OfficerSuspendForm
from leors.access.forms import ApplicationForm
from leors.core.renderers import FormRenderer

FORMS: dict[str, Callable[[BaseRenderer], forms.Form]] = {
    "application": lambda renderer: ApplicationForm(
        {"applying_as": "lawyer", "country": "FR", "official_email": "officer@gmail.com",
         "body_name": "<b>Police</b> \"nationale\""}, renderer=renderer),
    "case list filter": lambda renderer: CaseFilterForm({"q": "0xabc & co", "status": "submitted", "type": "freeze"},
                                                        renderer=renderer),
    "new freeze request": lambda renderer: CaseForm({"freeze_duration_days": "-3"}, request_type="freeze",
                                                    renderer=renderer),
    "subject row": lambda renderer: SubjectForm({"kind": "wallet", "value": ""}, row_index=0, renderer=renderer),
    "document row": lambda renderer: DocumentForm({}, row_index=1, row_count=2, renderer=renderer),
    "review checklist": lambda renderer: CaseChecklistForm({}, renderer=renderer),
    "freeze activation": lambda renderer: FreezeActivateForm({"confirm_longer": "on"}, stated_days=90, max_days=30,
                                                             renderer=renderer),
    "freeze lift": lambda renderer: FreezeLiftForm({"reason": "nonsense"}, renderer=renderer),
    "officer suspension": lambda renderer: OfficerSuspendForm({}, renderer=renderer),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", FORMS)
def test_a_form_renders_the_same_markup_through_jinja2(name: str) -> None:
    through_django, through_jinja2 = FORMS[name](DjangoTemplates()), FORMS[name](FormRenderer())
    assert through_jinja2.is_valid() == through_django.is_valid()  # bound and cleaned: errors are rendered too
    for field in through_jinja2:
        expected = through_django[field.name]
        assert parse_html(str(field)) == parse_html(str(expected)), field.name
        assert parse_html(str(field.errors)) == parse_html(str(expected.errors)), field.name
    assert parse_html(str(through_jinja2)) == parse_html(str(through_django))  # the whole form, labels and help
    assert parse_html(str(through_jinja2.non_field_errors())) == parse_html(str(through_django.non_field_errors()))


def test_the_forms_above_render_errors() -> None:
    invalid = [name for name, make in FORMS.items() if not make(FormRenderer()).is_valid()]
    assert {"application", "new freeze request", "freeze lift"} <= set(invalid)


def test_the_widget_templates_are_jinja2_and_the_admins_own_widgets_still_render() -> None:
    renderer = FormRenderer()
    assert isinstance(renderer.get_template("django/forms/widgets/select.html"), Jinja2Template)
    assert isinstance(CaseFilterForm().renderer, FormRenderer)  # the setting is what every form uses
    # The admin's widget templates have no Jinja2 copy: Django's default renderer renders them.
    assert isinstance(renderer.get_template("admin/widgets/date.html"), DjangoTemplate)
    widgets: list[tuple[forms.Widget, Any]] = [(AdminDateWidget(), "2026-11-21"),
                                               (AdminSplitDateTime(), ["2026-11-21", "09:30"])]
    for widget, value in widgets:
        assert 'class="vDateField"' in widget.render("on", value, renderer=renderer)
