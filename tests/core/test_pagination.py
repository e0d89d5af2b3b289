"""FirstPageCountingPaginator: the first page of a short list is counted from its rows, not by a query;
with `rows`, a page is read by its keys."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db.models import Value

from leors.core.pagination import FirstPageCountingPaginator

pytestmark = pytest.mark.django_db


def groups(count: int) -> Any:
    Group.objects.bulk_create(Group(name=f"group {n:02d}") for n in range(count))
    return these_groups()


def these_groups() -> Any:
    # The migrations create the staff roles' groups: the test's own are named apart.
    return Group.objects.filter(name__startswith="group ").order_by("name")


def names(page: Any) -> list[str]:
    return [group.name for group in page.object_list]


@pytest.mark.parametrize("number", [None, "", "1", 1])
def test_a_first_page_shorter_than_a_page_is_one_query(number: Any, django_assert_num_queries: Any) -> None:
    queryset = groups(3)
    with django_assert_num_queries(1):
        page = FirstPageCountingPaginator(queryset, 5).get_page(number)
        assert (page.number, page.paginator.count, page.paginator.num_pages) == (1, 3, 1)
        assert names(page) == ["group 00", "group 01", "group 02"]
        assert not page.has_other_pages()


def test_an_empty_list_is_one_query_and_one_empty_page(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        page = FirstPageCountingPaginator(these_groups(), 5).get_page(None)
        assert (page.number, page.paginator.count, names(page)) == (1, 0, [])


def test_a_list_of_exactly_one_page_is_not_counted(django_assert_num_queries: Any) -> None:
    queryset = groups(5)
    with django_assert_num_queries(1):
        page = FirstPageCountingPaginator(queryset, 5).get_page("1")
        assert (page.paginator.count, len(names(page)), page.has_next()) == (5, 5, False)


def test_a_longer_list_is_counted_and_its_first_page_taken_from_the_rows_read(django_assert_num_queries: Any) -> None:
    queryset = groups(6)
    with django_assert_num_queries(2):
        page = FirstPageCountingPaginator(queryset, 5).get_page(None)
        assert names(page) == [f"group {n:02d}" for n in range(5)]
        assert (page.paginator.count, page.paginator.num_pages, page.has_next()) == (6, 2, True)


def test_other_pages_are_djangos() -> None:
    queryset = groups(6)
    assert names(FirstPageCountingPaginator(queryset, 5).get_page("2")) == ["group 05"]
    assert FirstPageCountingPaginator(queryset, 5).get_page("99").number == 2  # past the end: the last page
    assert FirstPageCountingPaginator(queryset, 5).get_page("x").number == 1  # not a number: the first page


# --- Read by keys: `rows` reads a page's rows for the keys `object_list` gives --------------------

def read_by_rows(keys: Any) -> Any:
    """The rows of a page's keys, in the list's order, each marked as read here."""
    return Group.objects.filter(pk__in=keys).annotate(by_rows=Value(True)).order_by("-name")


def test_with_rows_a_page_is_its_keys_rows_in_the_lists_order(django_assert_num_queries: Any) -> None:
    queryset = groups(7).order_by("-name")
    with django_assert_num_queries(2):  # the count, and the first page: its keys are a subquery
        page = FirstPageCountingPaginator(queryset, 5, rows=read_by_rows).get_page(None)
        assert names(page) == [f"group {n:02d}" for n in (6, 5, 4, 3, 2)]
        assert all(group.by_rows for group in page.object_list)
        assert (page.paginator.count, page.paginator.num_pages) == (7, 2)
    with django_assert_num_queries(2):
        page = FirstPageCountingPaginator(queryset, 5, rows=read_by_rows).get_page("2")
        assert names(page) == ["group 01", "group 00"]
        assert all(group.by_rows for group in page.object_list)


def test_with_rows_a_short_list_is_still_one_query(django_assert_num_queries: Any) -> None:
    queryset = groups(3).order_by("-name")
    with django_assert_num_queries(1):
        page = FirstPageCountingPaginator(queryset, 5, rows=read_by_rows).get_page("1")
        assert (names(page), page.paginator.count) == (["group 02", "group 01", "group 00"], 3)


def test_with_rows_only_the_lists_keys_are_read() -> None:
    # `rows` is given the list's keys, with its filter: rows outside the list are never read.
    groups(6)
    queryset = these_groups().filter(name__in=["group 01", "group 03", "group 05"]).order_by("-name")
    page = FirstPageCountingPaginator(queryset, 2, rows=read_by_rows).get_page("2")
    assert (names(page), page.paginator.count) == (["group 01"], 3)


def test_large_counts_are_written_with_separators() -> None:
    """"about 1000000 cases" is hard to read at a glance: the staff lists and the officers' list write
    1,000,000. (The staff lists' counts of a million rows are estimates, and say so.)"""
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    paginator = SimpleNamespace(estimated=True, count=1_234_567)
    cl = SimpleNamespace(paginator=paginator, result_count=1_234_567, full_result_count=2_345_678,
                         show_full_result_count=True, opts=SimpleNamespace(verbose_name_plural="cases"), formset=None,
                         search_fields=("reference",), query="", params={}, is_popup=False, add_facets=False)
    staff = {"under the list": render_to_string("admin/pagination.html", {"cl": cl, "pagination_required": False}),
             "beside the search": render_to_string("admin/search_form.html", {"cl": cl, "show_result_count": True})}
    for where, html in staff.items():
        assert "about 1,234,567 " in " ".join(html.split()), where
    assert "2,345,678 total" in staff["beside the search"]
    officers = render_to_string("cases/_case_results.html",
                                {"page": SimpleNamespace(paginator=paginator, object_list=[]), "is_filtered": True})
    assert "1,234,567 requests found" in " ".join(officers.split())
