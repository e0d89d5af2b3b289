"""The sign-in backend: allauth's, with the role-wide permissions read in one query."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth import get_user_model

from leors.core.permissions import role_permissions_of


class AuthenticationBackend(AllauthBackend):
    """allauth's backend (sign-in by e-mail and password; Django's ModelBackend beneath), except that
    a user's role-wide permissions, their own and their groups', are read in one query instead of
    two. Read once per user object, that is once per request, as Django does; superusers and
    inactive users get Django's answers.

    The signed-in user of each request is read with their officer record and its agency, in the one
    query Django makes for the user anyway: every officer page asks for the record (its access guard,
    its gates), which was a query of its own on each of them (benchmarks, P1).
    `leors.access.selectors.officer_for` reads it from there."""

    def get_user(self, user_id: Any) -> Any:
        # Django's ModelBackend.get_user, with the join.
        user_model = get_user_model()
        user = user_model._default_manager.select_related("officer__agency").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None or user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = role_permissions_of(user_obj)
        return user_obj._perm_cache  # type: ignore[no-any-return]
