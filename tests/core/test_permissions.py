"""The direct permission reads of leors.core.permissions (the lists' `pk IN (...)` queries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.core.management.sql import emit_post_migrate_signal
from django.db import DEFAULT_DB_ALIAS

from cases.models import Case, CaseGroupObjectPermission, CaseUserObjectPermission
from cases.selectors import case_list_for
from leors.access.backends import AuthenticationBackend
from leors.access.models import User
from leors.core.permissions import objects_for_direct, permission_id, permission_ids_forget, user_holds_object_perm
from tests.factories import approved_officer, make_auditor, make_lead, make_reviewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def forget_after() -> Iterator[None]:
    """The test's rollback takes back the permission it re-created: the id read must go with it."""
    yield
    permission_ids_forget()


def test_a_permission_created_anew_by_a_migrate_is_read_again(forget_after: None) -> None:
    first = permission_id("cases.view_case")
    assert first == Permission.objects.get(codename="view_case", content_type__app_label="cases").pk
    # A flush and migrate (as the transactional tests do) deletes the row and creates it again.
    Permission.objects.filter(pk=first).delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)
    second = permission_id("cases.view_case")
    assert second == Permission.objects.get(codename="view_case", content_type__app_label="cases").pk
    assert second != first


def test_an_unknown_permission_opens_nothing() -> None:
    officer = approved_officer()
    assert permission_id("cases.no_such_permission") is None
    assert not objects_for_direct(officer.user, "cases.no_such_permission", Case.objects.all(),
                                  user_permissions=CaseUserObjectPermission,
                                  group_permissions=CaseGroupObjectPermission).exists()
    assert not case_list_for(user=officer.user).exists()


def test_the_list_query_is_one_text_with_the_user_and_permission_as_parameters() -> None:
    """The subquery's text is written once (from the tables' names) and shared by every user: who
    asks, and for what, only ever travels as a parameter."""
    first, second = approved_officer(), approved_officer()
    compiled = [case_list_for(user=officer.user).query.sql_with_params() for officer in (first, second)]
    (first_sql, first_params), (second_sql, second_params) = compiled
    assert first_sql == second_sql
    permission = permission_id("cases.view_case")
    assert tuple(first_params) == (permission, first.user.pk, permission, first.user.pk)
    assert tuple(second_params) == (permission, second.user.pk, permission, second.user.pk)


def test_role_permissions_are_djangos_read_in_one_query(django_assert_num_queries: Any) -> None:
    """The sign-in backend reads a user's role-wide permissions (own and through groups) in one query;
    the answer is Django's ModelBackend's, for every role and for a permission given to one user."""
    officer = approved_officer().user
    granted = make_reviewer()
    # A permission of the leads, given to this one reviewer directly (not through a group).
    granted.user_permissions.add(Permission.objects.get(codename="view_all_cases", content_type__app_label="cases"))
    inactive = make_lead()
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    for user in (make_lead(), granted, make_auditor(), officer, inactive):
        expected = ModelBackend().get_all_permissions(User.objects.get(pk=user.pk))
        fresh = User.objects.get(pk=user.pk)
        with django_assert_num_queries(0 if user is inactive else 1):
            assert AuthenticationBackend().get_all_permissions(fresh) == expected
            assert AuthenticationBackend().get_all_permissions(fresh) == expected  # read once per user object
        assert bool(expected) == (user is not officer and user is not inactive)
    assert "cases.view_all_cases" in AuthenticationBackend().get_all_permissions(User.objects.get(pk=granted.pk))
    assert "cases.view_all_cases" not in AuthenticationBackend().get_all_permissions(make_reviewer())


def test_a_model_without_direct_permission_tables_is_refused_not_read_another_way() -> None:
    """Every model checked per object has guardian's direct tables; one without fails loudly (a
    developer's error, caught by the first test that asks), never answers from other tables."""
    officer = approved_officer()
    with pytest.raises(ImproperlyConfigured, match=r"access\.Agency has no direct object permission tables"):
        user_holds_object_perm(officer.user, "access.view_agency", officer.agency)
