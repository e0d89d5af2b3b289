"""The form renderer: Django's form and widget templates through Jinja2, everything else as before.

A form field's widget is a template of its own, and a <select> renders one more per option. Through
Django's template language the three fields of the officers' list filter took a fifth of its view's
time, and the application form's country list a third of that page's (benchmarks README). Django ships Jinja2 copies of its form and widget templates
(django/forms/jinja2) that render the same markup. A template that has no Jinja2 copy — the admin's
widgets, `admin/widgets/*.html` — is rendered by Django's default form renderer, as it always was.

Jinja2 prints a value as `str()` does, where Django's templates localize it: a choice label must be a
string (every one is; `tests/core/test_form_renderer.py` compares the markup of both engines).
"""

from __future__ import annotations

from typing import Any

from django.forms.renderers import BaseRenderer, DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist


class FormRenderer(BaseRenderer):
    def __init__(self) -> None:
        self.jinja2, self.django = Jinja2(), DjangoTemplates()

    def get_template(self, template_name: str) -> Any:
        try:
            return self.jinja2.get_template(template_name)
        except TemplateDoesNotExist:
            return self.django.get_template(template_name)
