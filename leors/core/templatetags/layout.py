"""`{% layout_part "layout/header.html" %}`: a part of the layout, for the pages of Django's template engine.

The parts are Jinja2 templates (`jinja_templates/layout/`) that the case pages' Jinja2 layout includes too, so
both engines' pages show one header, one footer and one never-ask notice (leors/core/jinja.py). A part
reads what it shows from the request (the signed-in user, messages, the CSRF token), as its context
processors give it on either engine.
"""

from __future__ import annotations

from django import template
from django.template import engines
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def layout_part(context: template.Context, name: str) -> SafeString:
    request = getattr(context, "request", None)
    # Autoescaped by Jinja2 as it rendered; Django's engine must not escape it a second time.
    return mark_safe(engines["jinja2"].get_template(name).render({}, request))  # noqa: S308
