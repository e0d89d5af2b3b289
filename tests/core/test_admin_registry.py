from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib import admin
from django.contrib.auth.models import Group

from tests.conftest import signed_in_client
from tests.factories import make_user


@pytest.mark.parametrize("model", [EmailAddress, Authenticator, UserSession, Group])
def test_r12_second_factors_sessions_and_roles_are_not_editable_in_the_admin(model: type) -> None:
    assert not admin.site.is_registered(model)


@pytest.mark.django_db
def test_r12_even_a_superuser_cannot_remove_a_second_factor_through_the_admin() -> None:
    superuser = make_user(is_superuser=True)
    type(superuser).objects.filter(pk=superuser.pk).update(is_staff=True)
    superuser.refresh_from_db()
    response = signed_in_client(superuser).get("/admin/mfa/authenticator/")
    assert response.status_code == 404
