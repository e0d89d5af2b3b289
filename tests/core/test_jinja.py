"""The Jinja2 engine of the case pages (leors/core/jinja.py) prints what Django's templates printed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.template import defaultfilters, engines
from django.test import override_settings
from django.urls import clear_url_caches, reverse, set_script_prefix
from django.utils import timezone

from leors.core.jinja import _date, _url

JINJA = engines["jinja2"]

urlpatterns: list[object] = []  # a URL configuration of no pages, for the test below


MOMENT = datetime(2026, 12, 8, 23, 30, 5, 123456, tzinfo=UTC)
DATES = [(value, format_string) for value in (MOMENT, date(2026, 2, 28), None, "")
         for format_string in ("c", "j M Y", "j M Y, H:i T", None)
         if not (isinstance(value, date) and not isinstance(value, datetime) and format_string == "j M Y, H:i T")]


@pytest.mark.parametrize(("value", "format_string"), DATES)
def test_dates_print_as_djangos_date_filter_prints_them_in_the_viewers_zone(value: object, format_string: str) -> None:
    with timezone.override("America/Anchorage"):
        expected = defaultfilters.date(timezone.template_localtime(value), format_string)  # type: ignore[attr-defined]
        assert _date(value, format_string) == expected
        if isinstance(value, datetime) and format_string == "c":
            assert expected.startswith("2026-12-08T14:30:05")  # in the viewer's zone, not UTC


def test_an_address_without_arguments_is_worked_out_once_and_again_when_the_url_configuration_changes() -> None:
    assert _url("verify") == reverse("verify") == "/verify/"
    assert _url("cases:detail", "LEORS-2026-000001") == reverse("cases:detail", args=["LEORS-2026-000001"])
    set_script_prefix("/leors/")
    try:
        assert _url("verify") == "/leors/verify/"  # behind a path prefix, its own address
    finally:
        set_script_prefix("/")
    with override_settings(ROOT_URLCONF=__name__):
        clear_url_caches()
        with pytest.raises(Exception, match="verify"):
            _url("verify")
    clear_url_caches()
    assert _url("verify") == "/verify/"


def test_a_page_autoescapes_what_it_prints() -> None:
    html = JINJA.from_string("<p title='{{ text }}'>{{ text }}</p>").render({"text": "<b>\"O'Brien\"</b> & co"})
    assert "<b>" not in html and "&lt;b&gt;" in html and "&amp; co" in html and "O'Brien" not in html


def test_r12_the_never_ask_notice_is_in_the_layout_even_of_a_page_rendered_without_a_request() -> None:
    from leors import policy

    footer = JINJA.get_template("layout/footer.html").render({}, None)
    assert policy.NEVER_ASK_NOTICE in footer and 'href="/verify/"' in footer
