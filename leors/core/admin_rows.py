"""The staff workspace's lists (the admin's change lists) without the admin's per-cell work.

Why: Django's `items_for_result` works out each cell from nothing — which field the column names, its
choices as a new dict, its empty value, its CSS classes, the date format of the language — for every
cell of every row: 50 rows of the staff queue are 400 cells, and that was 40% of the queue's server time
(benchmarks/README.md, P1). Here the columns are worked out once per list, and each row only reads its
values through them. The markup is Django's, cell for cell: `tests/core/test_admin_rows.py` renders every
list of the workspace both ways and compares them.

A list this does not cover — editable in place (a formset), a pop-up, a link to another field than the
key — is left to Django's `results` whole.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from django.contrib.admin.templatetags.admin_list import (  # type: ignore[attr-defined]  # _coerce_field_name
    ResultList,
    _coerce_field_name,
    result_headers,
    result_hidden_fields,
    results,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, lookup_field
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils import dateformat, formats
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # unstubbed

Cell = Callable[[Any], Any]


def result_list(cl: Any) -> dict[str, Any]:
    """Django's `result_list` (the context of `admin/change_list_results.html`), with the rows built here."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": list(fast_results(cl)),
    }


def fast_results(cl: Any) -> Iterator[ResultList]:
    if cl.formset or cl.is_popup or cl.to_field:
        yield from results(cl)
        return
    columns = [_Column(cl, name, index) for index, name in enumerate(cl.list_display)]
    _place_link(cl, columns)
    link_query = _LinkQuery(cl)
    for obj in cl.result_list:
        yield ResultList(None, [column.cell(obj, link_query) for column in columns])


class _LinkQuery:
    """The change page's address of a row, with the list's filters kept (Django's `url_for_result` and
    `add_preserved_filters`). Every row's address is the same but for its key: the address is worked out
    once, for a stand-in key, and each row's quoted key is put in its place — unless the change list
    words its addresses its own way, or the stand-in does not come back once, whole."""

    STAND_IN = "8642097531864209753"  # digits: admin's `quote` leaves them as they are

    def __init__(self, cl: Any) -> None:
        self.cl = cl
        self.context = {"preserved_filters": cl.preserved_filters, "opts": cl.opts}
        self.parts: tuple[str, str] | None = None
        if type(cl).url_for_result is ChangeList.url_for_result:
            url = self._slow(SimpleNamespace(**{cl.pk_attname: self.STAND_IN}))
            if url is not None and url.count(self.STAND_IN) == 1:
                before, after = url.split(self.STAND_IN)
                self.parts = (before, after)

    def url(self, obj: Any) -> str | None:
        key = getattr(obj, self.cl.pk_attname)
        if self.parts is not None and isinstance(key, int):  # a text key may need reverse()'s own quoting
            return f"{self.parts[0]}{key}{self.parts[1]}"
        return self._slow(obj)

    def _slow(self, obj: Any) -> str | None:
        try:
            return add_preserved_filters(self.context, self.cl.url_for_result(obj))
        except NoReverseMatch:
            return None


def _place_link(cl: Any, columns: list[_Column]) -> None:
    # Django's `link_in_col`: the columns of `list_display_links`, or the first one when it is empty.
    links = cl.list_display_links
    if links is None:
        return
    for position, column in enumerate(columns):
        column.is_link = (position == 0 and not links) or column.name in links
    # The first link is a <th>, as Django's is: the row's header cell.
    first = next((column for column in columns if column.is_link), None)
    if first is not None:
        first.tag = "th"


def _blank_as_empty(value: Any) -> Any:
    # Django's items_for_result: a text of only spaces shows as the empty value.
    return "" if isinstance(value, str) and value.strip() == "" else value


def _nowrap(field: Any) -> str:
    # Django's items_for_result: dates, times and foreign keys do not wrap.
    return "nowrap" if isinstance(field, (models.DateField, models.TimeField, models.ForeignKey)) else ""


def _model_field(opts: Any, name: Any) -> Any:
    """The model field a column names, as Django's `lookup_field` takes it, or None."""
    if not isinstance(name, str):
        return None
    try:
        return opts.get_field(name)
    except FieldDoesNotExist:
        return None


def _is_plain(field: Any, name: str) -> bool:
    """A concrete field of the row, or a foreign key by its name: what the fast cells cover."""
    if field.auto_created or field.many_to_many or field.one_to_many:
        return False
    # Not a generic foreign key, nor a key's column (`agency_id`), which Django shows as the id.
    return not (field.is_relation and (field.related_model is None or getattr(field, "attname", None) == name))


class _Column:
    """One column of `list_display`, looked up once: how to read a row's value and show it."""

    def __init__(self, cl: Any, name: Any, index: int) -> None:
        self.cl, self.name = cl, name
        self.model_admin = cl.model_admin
        self.empty = self.default_empty = self.model_admin.get_empty_value_display()
        self.base_class = f"field-{_coerce_field_name(name, index)}"
        self.classes = [self.base_class]
        self.is_link, self.tag = False, "td"
        self.field: Any = None  # the model field, for a column of one
        self.attr: Any = None
        self.show: Cell = self._show_generic
        self.choices: dict[Any, Any] | None = None
        self.datetime_format = ""
        field = _model_field(cl.lookup_opts, name)
        if field is None:
            self._plan_attr(name)
        elif _is_plain(field, name):
            self._plan_field(field)
        # else: a many-to-many, reverse or generic relation, or a key's column: Django's lookup, per row

    # -- planning

    def _plan_field(self, field: Any) -> None:
        self.field = field
        self.classes += [_nowrap(field)] if _nowrap(field) else []
        if isinstance(field.remote_field, models.ManyToOneRel):  # a foreign key or one-to-one: the object
            self.show = self._show_related
        elif getattr(field, "flatchoices", None):
            try:
                self.choices = dict(field.flatchoices)
            except TypeError:  # list-like choices: Django's own way
                self.choices = None
            self.show = self._show_choice if self.choices is not None else self._show_field
        elif isinstance(field, models.DateTimeField):
            self.datetime_format = formats.get_format("DATETIME_FORMAT")
            self.show = self._show_datetime
        else:
            self.show = self._show_field

    def _plan_attr(self, name: Any) -> None:
        # As Django's `lookup_field` finds it: a callable, or a method of the ModelAdmin, read once here;
        # anything else (a property, a model method, a path across relations) is looked up per row.
        if callable(name):
            self.attr = name
        elif isinstance(name, str) and name != "__str__" and hasattr(self.model_admin, name):
            self.attr = getattr(self.model_admin, name)
        if self.attr is not None:
            self.empty = getattr(self.attr, "empty_value_display", self.empty)
            self.show = self._show_callable
        if name == "action_checkbox":
            self.classes = ["action-checkbox"]

    # -- one row

    def cell(self, obj: Any, link_query: _LinkQuery) -> SafeString:
        try:
            content, extra_class = self.show(obj)
            classes = " ".join([*self.classes, extra_class]) if extra_class else " ".join(self.classes)
        except ObjectDoesNotExist:  # as Django: the list's empty value, whatever the column's own, and no more class
            content, classes = self.default_empty, self.base_class
        content = conditional_escape(content)
        if self.is_link:
            url = link_query.url(obj)
            if url is not None:
                content = f'<a href="{conditional_escape(url)}">{content}</a>'
        return mark_safe(f'<{self.tag} class="{classes}">{content}</{self.tag}>')  # noqa: S308  # escaped above

    def _value(self, obj: Any) -> Any:
        return _blank_as_empty(getattr(obj, self.name))

    def _show_related(self, obj: Any) -> tuple[Any, str]:
        value = getattr(obj, self.field.name)  # type: ignore[union-attr]
        return (self.empty if value is None else value), ""

    def _show_choice(self, obj: Any) -> tuple[Any, str]:
        value = self._value(obj)
        try:
            return self.choices.get(value, self.empty), ""  # type: ignore[union-attr]
        except TypeError:  # an unhashable value: Django's own way
            return display_for_field(value, self.field, self.empty, avoid_link=self.is_link), ""

    def _show_datetime(self, obj: Any) -> tuple[Any, str]:
        value = self._value(obj)
        if value in self.field.empty_values:  # type: ignore[union-attr]
            return self.empty, ""
        return dateformat.format(template_localtime(value), self.datetime_format), ""

    def _show_field(self, obj: Any) -> tuple[Any, str]:
        return display_for_field(self._value(obj), self.field, self.empty, avoid_link=self.is_link), ""

    def _show_callable(self, obj: Any) -> tuple[Any, str]:
        return self._shown_value(_blank_as_empty(self.attr(obj)), getattr(self.attr, "boolean", False))

    def _show_generic(self, obj: Any) -> tuple[Any, str]:
        # Django's `items_for_result` for one cell, as it is.
        field, attr, value = lookup_field(self.name, obj, self.model_admin)
        empty = getattr(attr, "empty_value_display", self.empty)
        value = _blank_as_empty(value)
        if field is None or field.auto_created:
            boolean = getattr(attr, "boolean", False)
            if isinstance(attr, property) and hasattr(attr, "fget"):
                boolean = getattr(attr.fget, "boolean", False)
            return self._shown_value(value, boolean, empty)
        if isinstance(field.remote_field, models.ManyToOneRel):
            related = getattr(obj, field.name)
            return (empty if related is None else related), _nowrap(field)
        return display_for_field(value, field, empty, avoid_link=self.is_link), _nowrap(field)

    def _shown_value(self, value: Any, boolean: bool, empty: Any = None) -> tuple[Any, str]:
        extra = "nowrap" if isinstance(value, (datetime.date, datetime.time)) else ""
        return display_for_value(value, self.empty if empty is None else empty, boolean), extra
