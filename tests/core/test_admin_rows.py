"""The staff workspace's lists show, cell for cell, what Django's admin would show (leors/core/admin_rows.py).

Every list of the workspace that a legal lead may open is rendered with a world in which each has rows
— cases of several kinds and states, a case assigned and one not, applications, officers, the audit trail
— and its rows, built once per column, are compared with Django's `items_for_result` on the same change
list. The page itself must carry the rows built here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import results
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case
from cases.services import review
from leors.access.models import User
from leors.core.admin_rows import fast_results
from leors.core.audit import Actor
from tests.conftest import signed_in_client
from tests.factories import accept_case, approved_officer, make_lead, make_reviewer, submit_application, submit_case

pytestmark = pytest.mark.django_db


def _cells(rows: Any) -> list[list[str]]:
    return [[str(cell) for cell in row] for row in rows]


def _world() -> tuple[User, list[Case]]:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    submit_application()  # an application in the queue beside the approved one
    cases = [submit_case(officer, title="Fraud <ring> & co"),  # marked-up text is escaped as Django escapes it
             submit_case(officer, request_type="preservation", title="Preserve the records"),
             submit_case(officer, title="Decided request")]
    review.case_assign(case=cases[1], reviewer=reviewer, actor=Actor(user=lead), now=timezone.now())
    accept_case(cases[2], lead)
    return User.objects.get(pk=lead.pk), cases


def _lists_of(client: Client) -> dict[str, Any]:
    """The change list of every registered model the client's user may open, by its URL."""
    shown = {}
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        if response.status_code == 200:
            shown[url] = response
    return shown


def test_every_list_of_the_workspace_shows_the_cells_django_would() -> None:
    lead, cases = _world()
    lists = _lists_of(signed_in_client(lead))
    assert reverse("admin:cases_case_changelist") in lists and reverse("admin:core_auditevent_changelist") in lists
    compared = 0
    for url, response in lists.items():
        change_list = response.context["cl"]
        django_rows = _cells(results(change_list))
        assert _cells(fast_results(change_list)) == django_rows, url
        page = response.content.decode()
        for row in django_rows:
            assert "".join(row) in page, url  # the page shows the rows built here, as Django's
        compared += len(django_rows)
    queue = lists[reverse("admin:cases_case_changelist")].content.decode()
    assert all(case.reference in queue for case in cases)
    assert "Fraud &lt;ring&gt; &amp; co" not in queue  # the queue has no title column; the audit list none either
    assert compared > len(cases) + 3


def test_a_filtered_list_keeps_its_filters_in_each_row_link() -> None:
    lead, cases = _world()
    url = reverse("admin:cases_case_changelist") + "?status__exact=submitted"
    response = signed_in_client(lead).get(url)
    change_list = response.context["cl"]
    fast = _cells(fast_results(change_list))
    assert fast == _cells(results(change_list))
    assert fast and all("_changelist_filters=status__exact%3Dsubmitted" in row[0] for row in fast)
    # The assigned case is in review, the accepted one decided: the filter kept only the first.
    assert [case.reference for case in change_list.result_list] == [cases[0].reference]


def test_columns_of_methods_dates_and_a_gone_object_show_what_django_would(rf: Any) -> None:
    from cases.admin import CaseAdmin

    lead, _cases = _world()

    class MoreColumns(CaseAdmin):
        list_display = (*CaseAdmin.list_display, "gone", "submitted_on", "has_reviewer", "officer__user__email")

        @admin.display(description="gone", empty_value="(none)")
        def gone(self, obj: Case) -> str:
            raise Case.DoesNotExist  # a related object no longer there: the list's empty value, not the column's

        @admin.display(description="submitted on")
        def submitted_on(self, obj: Case) -> object:
            return obj.submitted_at.date()  # a date from a method: "nowrap"

        @admin.display(description="reviewer", boolean=True)
        def has_reviewer(self, obj: Case) -> bool:
            return obj.assigned_to_id is not None

    request = rf.get(reverse("admin:cases_case_changelist"))
    request.user = lead
    change_list = MoreColumns(Case, admin.site).get_changelist_instance(request)
    change_list.formset = None  # as the admin's changelist_view sets it for a list not editable in place
    change_list.result_list = rows = list(change_list.result_list)
    rows[0]._state.fields_cache.pop("agency")
    rows[0].agency_id = 987654321  # its agency gone: the list's empty value, without the key column's "nowrap"
    django_rows = _cells(results(change_list))
    assert _cells(fast_results(change_list)) == django_rows
    assert all('<td class="field-gone">-</td>' in row for row in django_rows)
    assert all(any("field-submitted_on nowrap" in cell for cell in row) for row in django_rows)
    assert any("icon-yes" in "".join(row) for row in django_rows)
    assert '<td class="field-agency">-</td>' in django_rows[0]
