"""One way to change a status: claimed with a conditional UPDATE (STYLE.md rule 4)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model

from leors.core.errors import ActionRefused

M = TypeVar("M", bound=Model)


def status_claim(obj: M, *, allowed_from: tuple[str, ...], to: str, refusal: str, **fields: Any) -> M:
    """Move `obj` to status `to` only if it is still in one of `allowed_from`; the row count of the
    UPDATE says whether another actor (or a sweep) got there first, in which case the refusal is
    raised with the status it now has. Runs inside the caller's transaction."""
    model = type(obj)
    updated = model._default_manager.filter(pk=obj.pk, status__in=allowed_from).update(status=to, **fields)
    if updated != 1:
        current = model._default_manager.get(pk=obj.pk)
        raise ActionRefused(f"{refusal} {current.get_status_display().lower()}.")  # type: ignore[attr-defined]
    obj.refresh_from_db()
    return obj
