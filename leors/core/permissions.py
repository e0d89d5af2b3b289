"""Access is one call (STYLE.md rule 5): object permissions through guardian, 404 for everything else."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from guardian.shortcuts import get_objects_for_user

M = TypeVar("M", bound=Model)


def objects_for(user: Any, perm: str, queryset: QuerySet[M]) -> QuerySet[M]:
    """The objects of `queryset` on which `user` holds the object permission `perm`.

    Global (model-level) permissions and superuser status are deliberately ignored: seeing
    everything is a role-level capability checked separately by the selectors that allow it.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    return get_objects_for_user(
        user, perm, klass=queryset, with_superuser=False, accept_global_perms=False
    )
