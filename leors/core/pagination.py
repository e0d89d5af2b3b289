"""Pagination that does not count what it has already read."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator


class FirstPageCountingPaginator(Paginator):
    """Django's Paginator, except that the first page is read with one row more than a page: when
    the list is shorter than that, the rows read are the count and no `COUNT(*)` query is made.

    Most officers' lists fit on one page, so their list costs one query instead of two (a count and
    a select over the same permission union; benchmarks, P1). A longer list is counted as before,
    and its first page is taken from the rows already read. Other pages are Django's.
    """

    def get_page(self, number: Any) -> Page:
        if number not in (None, "", "1", 1):
            return super().get_page(number)
        rows = list(self.object_list[: self.per_page + 1])
        if len(rows) <= self.per_page:
            self.__dict__["count"] = len(rows)  # Paginator.count is a cached_property
        return self._get_page(rows[: self.per_page], 1, self)  # type: ignore[attr-defined]  # Django's hook, unstubbed
