"""Access is one call (STYLE.md rule 5): object permissions through guardian, 404 for everything else.

A refusal is audited: when a signed-in user asks for something that exists but is not theirs to
see, `access_denied` records one "access.denied" event before the selector raises the same 404 it
raises for a thing that does not exist. Nothing in the response tells the two apart; only the trail does.

The reads every page makes (the lists' visible objects, one object's permissions, a user's role-wide
permissions) are fixed SQL texts, written once per process from the models' table and column names,
with the user, object and permission as parameters: the ORM took milliseconds to build what the
database answers in a fraction of one (benchmarks/README.md, P1). tests/core/test_permissions.py and
the property test of tests/security compare their answers with guardian's, Django's and the model's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from allauth.core import context as allauth_context
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import ManyToManyField, Model, QuerySet
from django.db.models.expressions import RawSQL
from guardian.shortcuts import get_objects_for_user
from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

from leors.core.audit import Actor, audit_record
from leors.core.db import quoted_column

M = TypeVar("M", bound=Model)

ACCESS_DENIED = "access.denied"


def user_may(user: Any, perm: str, obj: Any) -> bool:
    """A role-wide (global) permission, or the same permission on this one object.

    Never ask it for a view permission: reviewers hold `view_*` model-wide only so that the admin
    shows the model; which objects they see is decided by the `*_list_for` selectors.
    """
    if not user.is_active:
        return False
    # Each reads its permissions once per request; the one that usually answers is asked first, so
    # the other is often not read at all: the legal team holds role-wide permissions, officers hold
    # them on their cases.
    if user.is_staff:
        return bool(user.has_perm(perm) or user_holds_object_perm(user, perm, obj))
    return bool(user_holds_object_perm(user, perm, obj) or user.has_perm(perm))


def user_holds_object_perm(user: Any, perm: str, obj: Model) -> bool:
    """`user` holds `perm` on this one object, directly or through a group (no global permission,
    no superuser shortcut).

    The object's permissions are read once per user object — that is, once per request, where
    `request.user` is a new object each time — in one query (the user's and their groups' permissions
    on the object, as a UNION: `_object_codenames`), and every later question about the same object
    is answered from them. A grant or revocation takes effect from the next request.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    app_label, codename = perm.split(".", 1)
    if obj._meta.app_label != app_label:
        return False
    cache = user.__dict__.setdefault("_leors_object_perms", {})
    key = (obj._meta.label_lower, obj.pk)
    if key not in cache:
        cache[key] = _object_codenames(user, obj)
    return codename in cache[key]


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


def objects_for_direct(user: Any, perm: str, queryset: QuerySet[M], *, user_permissions: type[Model],
                       group_permissions: type[Model]) -> QuerySet[M]:
    """`objects_for`, read straight from the model's direct-foreign-key permission tables.

    Same answer as guardian's `get_objects_for_user` (user and group object permissions, no global
    permissions, no superuser shortcut), but as `pk IN (user rows UNION group rows)`: PostgreSQL
    then probes the permission index for this user instead of filtering every row of a table of a
    million cases (benchmarks/README.md, P1). The permission is named by its id and the groups by
    the user's memberships, so neither subquery joins the permission, content type or group tables:
    the query is smaller to build and to plan, which is most of its cost once the rows are indexed.
    Its text is written once per pair of tables (`_holders_sql`), not built by the ORM per request.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    permission = permission_id(perm)
    if permission is None:
        return queryset.none()
    # The text is fixed per pair of tables; the permission and user are parameters.
    holders = RawSQL(_holders_sql(user_permissions, group_permissions),  # noqa: S611
                     (permission, user.pk, permission, user.pk))
    return queryset.filter(pk__in=holders)


@dataclass(frozen=True)
class _GrantTables:
    """The quoted table and column names of a model's direct permission tables (guardian's user and
    group object permissions with a foreign key to the object) and of the permissions: with
    `_user_groups_sql`, the only names the permission reads below put into their text."""

    user: str
    user_object: str
    user_permission: str
    user_user: str
    group: str
    group_object: str
    group_permission: str
    group_group: str
    permission: str
    permission_id: str
    permission_codename: str


def _link_table(model: type[Model], name: str) -> tuple[str, str, str]:
    """A many-to-many field's table, and its columns for this side and the other, quoted."""
    quote = connection.ops.quote_name
    field = cast(ManyToManyField, model._meta.get_field(name))  # type: ignore[type-arg]
    return quote(field.m2m_db_table()), quote(field.m2m_column_name()), quote(field.m2m_reverse_name())


@functools.cache
def _user_groups_sql() -> str:
    """The ids of the groups of a user (one parameter: the user), as every read below asks it."""
    membership, membership_user, membership_group = _link_table(get_user_model(), "groups")
    return f"SELECT {membership_group} FROM {membership} WHERE {membership_user} = %s"  # noqa: S608


@functools.cache
def _grant_tables(user_permissions: type[Model], group_permissions: type[Model]) -> _GrantTables:
    quote = connection.ops.quote_name
    return _GrantTables(
        user=quote(user_permissions._meta.db_table), user_object=quoted_column(user_permissions, "content_object"),
        user_permission=quoted_column(user_permissions, "permission"), user_user=quoted_column(user_permissions, "user"),
        group=quote(group_permissions._meta.db_table), group_object=quoted_column(group_permissions, "content_object"),
        group_permission=quoted_column(group_permissions, "permission"), group_group=quoted_column(group_permissions, "group"),
        permission=quote(Permission._meta.db_table), permission_id=quoted_column(Permission, "id"),
        permission_codename=quoted_column(Permission, "codename"),
    )


@functools.cache
def _holders_sql(user_permissions: type[Model], group_permissions: type[Model]) -> str:
    """The ids of the objects a user holds a permission on, directly or through a group: the
    subquery of `objects_for_direct`, with four parameters (permission, user, permission, user).

    Written once per pair of tables, from the models' own table and column names, rather than built
    as three querysets and a UNION on every request: building and compiling those was most of the
    lists' query time (benchmarks/README.md, P1). No value of a request is ever part of the text.
    """
    t = _grant_tables(user_permissions, group_permissions)
    return (
        f"SELECT {t.user_object} FROM {t.user} WHERE {t.user_permission} = %s AND {t.user_user} = %s"  # noqa: S608
        f" UNION SELECT {t.group_object} FROM {t.group} WHERE {t.group_permission} = %s AND {t.group_group} IN"
        f" ({_user_groups_sql()})"
    )


@functools.cache
def _object_codenames_sql(user_permissions: type[Model], group_permissions: type[Model]) -> str:
    """The codenames of the permissions a user holds on one object, directly or through a group:
    guardian's `get_user_perms` and `get_group_perms` of the object in one query, with four
    parameters (user, object, object, user). Written once, like `_holders_sql`: guardian's two
    querysets and their UNION took ~3 ms to build and compile on every case page, the query 0.2 ms."""
    t = _grant_tables(user_permissions, group_permissions)
    return (
        f"SELECT {t.permission_codename} FROM {t.permission} WHERE {t.permission_id} IN"  # noqa: S608
        f" (SELECT {t.user_permission} FROM {t.user} WHERE {t.user_user} = %s AND {t.user_object} = %s"
        f" UNION SELECT {t.group_permission} FROM {t.group} WHERE {t.group_object} = %s AND {t.group_group} IN"
        f" ({_user_groups_sql()}))"
    )


@functools.cache
def _direct_permission_models(model: type[Model]) -> tuple[type[Model], type[Model]]:
    """The model's direct user and group permission models (guardian looks them up on every call;
    models do not change). Every model LEORS checks per object has them: one without is refused
    outright rather than read another way."""
    # guardian's lookups take a model or an instance (their stubs say instance).
    user_permissions = get_user_obj_perms_model(cast(Any, model))
    group_permissions = get_group_obj_perms_model(cast(Any, model))
    if user_permissions.objects.is_generic() or group_permissions.objects.is_generic():  # type: ignore[attr-defined]
        raise ImproperlyConfigured(f"{model._meta.label} has no direct object permission tables "
                                   "(guardian's UserObjectPermissionBase and GroupObjectPermissionBase).")
    return user_permissions, group_permissions


def _object_codenames(user: Any, obj: Model) -> frozenset[str]:
    with connection.cursor() as cursor:
        cursor.execute(_object_codenames_sql(*_direct_permission_models(type(obj))), (user.pk, obj.pk, obj.pk, user.pk))
        return frozenset(row[0] for row in cursor.fetchall())


def role_permissions_of(user: Any) -> set[str]:
    """The user's role-wide permissions ("app_label.codename"), their own and their groups', in one
    query: what Django's ModelBackend reads in two (each built by the ORM, ~1.5 ms apiece on every
    staff page; benchmarks/README.md, P1). The caller handles inactive users and superusers."""
    with connection.cursor() as cursor:
        cursor.execute(_role_permissions_sql(), (user.pk, user.pk))
        return {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}


@functools.cache
def _role_permissions_sql() -> str:
    quote = connection.ops.quote_name
    own, own_user, own_permission = _link_table(get_user_model(), "user_permissions")
    grants, grant_group, grant_permission = _link_table(Group, "permissions")
    # Only the models' table and column names, quoted, are put into the text.
    return (
        f"SELECT c.{quoted_column(ContentType, 'app_label')}, p.{quoted_column(Permission, 'codename')}"  # noqa: S608
        f" FROM {quote(Permission._meta.db_table)} p JOIN {quote(ContentType._meta.db_table)} c"
        f" ON c.{quoted_column(ContentType, 'id')} = p.{quoted_column(Permission, 'content_type')}"
        f" WHERE p.{quoted_column(Permission, 'id')} IN (SELECT {own_permission} FROM {own} WHERE {own_user} = %s"
        f" UNION SELECT {grant_permission} FROM {grants} WHERE {grant_group} IN ({_user_groups_sql()}))"
    )


_permission_ids: dict[str, int | None] = {}


def permission_id(perm: str) -> int | None:
    """The id of the permission "app_label.codename" (None if there is none), read once per process.

    Permissions are rows that migrations create and never renumber; a flush and re-migrate (the test
    suite's transactional tests) creates them anew, so the ids read are forgotten after every
    migrate (`permission_ids_forget`, connected to post_migrate by the core app)."""
    if perm not in _permission_ids:
        app_label, codename = perm.split(".", 1)
        _permission_ids[perm] = Permission.objects.filter(
            codename=codename, content_type__app_label=app_label).values_list("pk", flat=True).first()
    return _permission_ids[perm]


def permission_ids_forget(**kwargs: Any) -> None:
    _permission_ids.clear()


def access_denied(*, user: Any, obj: Model, perm: str) -> None:
    """Record that `user` asked for `obj`, which exists, and was refused (`perm` is what they lacked).

    Only the `*_get_for` selectors call this, on their 404 path for an object that exists; list
    filtering is not a refusal. An anonymous visitor is never recorded: the views send them to
    sign in before any selector runs, and there would be nobody to name.

    The selectors are given the user, not the request. The request being served is taken from
    allauth's request context (set by its middleware for every request) when it belongs to this
    user, so the event carries the address and browser too; outside a request (a shell, a task)
    the event names the user alone. The event is committed in its own transaction: the 404 that
    follows must not take it back, and the views do not run inside one (ATOMIC_REQUESTS is off).
    """
    if not getattr(user, "is_authenticated", False):
        return
    request = allauth_context.request
    request_user = getattr(request, "user", None) if request is not None else None
    if request is not None and getattr(request_user, "pk", None) == user.pk:
        actor = Actor.from_request_for(request, user)
    else:
        actor = Actor(user=user)
    with transaction.atomic():
        audit_record(actor=actor, action=ACCESS_DENIED, obj=obj, changes={"permission": perm})
