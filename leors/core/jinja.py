"""The officer portal's case pages through Jinja2 (templates in `jinja_templates/`), beside Django's templates.

Why: the case list, the case page and the search are the pages officers use most, and Django's
template language was the largest part of their server time — each `{% include %}`, variable and
filter is a node walked at every request (benchmarks/README.md, P1: templates 4.1 of the officer
list's 11 ms). Jinja2 compiles a template to Python once and renders the same markup several times
faster. Django supports it as a second template engine; its form widgets already render through it
(leors/core/renderers.py).

What stays on Django's engine: allauth's pages, the admin and the other portal pages. They share the
layout's parts with the Jinja2 pages (`jinja_templates/layout/`, included by `templates/base.html` through
`{% layout_part %}`), so the header, the footer and the never-ask notice are written once.

The filters and globals here are Django's own functions, so a value prints as Django's templates print
it: dates in the viewer's time zone (`date` converts as Django's `date` filter does), sizes, plurals,
line breaks, query strings. `template_rendered` is sent as Django's test instrumentation sends it for
its own engine, so the test client's `response.context` works for these pages too; with no receiver
(outside tests) a send returns at once.
"""

from __future__ import annotations

import datetime
from typing import Any

import jinja2
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template import defaultfilters, defaulttags
from django.template.backends.jinja2 import Jinja2 as DjangoJinja2
from django.template.backends.jinja2 import Template as DjangoJinja2Template
from django.templatetags.static import static
from django.test.signals import template_rendered
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import formats
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # unstubbed

from leors import policy


def _date(value: Any, format_string: str | None = None) -> str:
    # Django's `date` filter, which its engine hands the value already in the viewer's time zone. Its "c"
    # is the value's isoformat() (django.utils.dateformat), asked for in every <time datetime="…">.
    value = template_localtime(value)
    if format_string == "c" and isinstance(value, datetime.date):
        return value.isoformat()
    return defaultfilters.date(value, format_string)


class _QuerystringContext:
    """What Django's `{% querystring %}` reads of its template context: the request."""

    def __init__(self, request: Any) -> None:
        self.request = request


@jinja2.pass_context
def _querystring(context: Any, **changes: Any) -> str:
    return defaulttags.querystring(_QuerystringContext(context["request"]), **changes)  # type: ignore[arg-type]


# The addresses the layout and the pages name without arguments (home, requests, sign out, verify …): a
# dozen a page, each a walk of the URL patterns (~30 µs), and the same until the URL configuration changes.
_fixed_urls: dict[tuple[str, str, str], str] = {}


@receiver(setting_changed)
def _forget_fixed_urls(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":  # as Django forgets its own URL caches then
        _fixed_urls.clear()


def _url(view_name: str, *args: Any, **kwargs: Any) -> str:
    if args or kwargs:
        return reverse(view_name, args=args or None, kwargs=kwargs or None)
    key = (view_name, str(get_urlconf() or settings.ROOT_URLCONF), get_script_prefix())
    if key not in _fixed_urls:
        _fixed_urls[key] = reverse(view_name)
    return _fixed_urls[key]


def environment(**options: Any) -> jinja2.Environment:
    # Django's backend passes autoescape=True unless a setting says otherwise; none does.
    env = jinja2.Environment(autoescape=options.pop("autoescape", True), **options)
    env.globals.update({"url": _url, "static": static, "querystring": _querystring,
                        # R11, R12: the notices, on every page, even one rendered without a request (an error page).
                        "NEVER_ASK_NOTICE": policy.NEVER_ASK_NOTICE, "NO_WAIVER_NOTICE": policy.NO_WAIVER_NOTICE})
    env.filters.update({
        "date": _date,
        "filesizeformat": defaultfilters.filesizeformat,
        "intcomma": intcomma,
        "linebreaks": defaultfilters.linebreaks_filter,
        "linebreaksbr": defaultfilters.linebreaksbr,
        "localize": formats.localize,
        "pluralize": defaultfilters.pluralize,
        "urlencode": defaultfilters.urlencode,
    })
    return env


class Template(DjangoJinja2Template):
    def render(self, context: dict[str, Any] | None = None, request: Any = None) -> str:
        # The view's context, as Django's test instrumentation sends it for its own engine; then Django's render.
        context = {} if context is None else context
        template_rendered.send(sender=self, template=self, context=context)
        return super().render(context, request)


class Jinja2(DjangoJinja2):
    def get_template(self, template_name: str) -> Template:
        return Template(super().get_template(template_name).template, self)
