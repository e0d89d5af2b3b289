"""The audit trail and the outbox in the staff workspace: to read, never to edit.

Both tables are written only by services (the audit chain also by a PostgreSQL trigger that refuses
UPDATE and DELETE), so the admin offers no add, change or delete to anyone, superusers included. The
one action is the outbox's re-queue of e-mails given up as failed, for legal leads (`outbox_requeue`,
audited); auditors, who change nothing, are not offered it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property

from leors import policy
from leors.core.audit import Actor
from leors.core.db import quoted_column
from leors.core.models import AuditEvent, OutboxMessage
from leors.core.outbox import outbox_requeue


class EstimatedCountPaginator(Paginator):
    """Exact counts up to ESTIMATE_ABOVE rows; beyond that, on PostgreSQL, the planner's estimate.

    Counting a million cases or audit events on every page of a list costs more than the rest of the
    page (benchmarks, P1). An unfiltered list of a large table reads the table's row estimate
    (`pg_class.reltuples`, kept current by autovacuum). Any other list counts at most
    ESTIMATE_ABOVE + 1 of its rows, and only when there are more asks the planner how many.
    """

    ESTIMATE_ABOVE = 10_000
    estimated = False  # whether `count` is an estimate: the list then says "about" (templates/admin/)

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or connection.vendor != "postgresql":
            return super().count
        query = queryset.query
        if not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [queryset.model._meta.db_table])
                row = cursor.fetchone()
            if row is not None and row[0] > self.ESTIMATE_ABOVE:
                self.estimated = True
                return int(row[0])
        # A filtered list, or a table whose statistics say it is small (or are not yet gathered).
        counted = queryset.order_by()[:self.ESTIMATE_ABOVE + 1].count()
        if counted <= self.ESTIMATE_ABOVE:
            return counted
        self.estimated = True
        return max(counted, _planned_rows(queryset))


def _planned_rows(queryset: QuerySet[Any]) -> int:
    """How many rows PostgreSQL expects `queryset` to return (its plan's estimate; nothing is read)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])


def indexed_values(model: type[Model], field_name: str) -> list[str]:
    """The distinct values of an indexed column, in order, found one index probe per value (a "loose
    index scan") instead of a DISTINCT that reads every row: the audit trail only grows."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = quoted_column(model, field_name)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE found(value) AS (SELECT MIN({column}) FROM {table} "  # noqa: S608 (quoted names)
            f"UNION ALL SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > found.value) "
            f"FROM found WHERE found.value IS NOT NULL) SELECT value FROM found WHERE value IS NOT NULL")
        return [row[0] for row in cursor.fetchall()]


class IndexedValuesFilter(admin.SimpleListFilter):
    """Filter by one of the values a column holds, as Django's filter of all values offers them, but
    read through the column's index (`indexed_values`)."""

    parameter_name: str  # the column's field name

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(value, value) for value in indexed_values(model_admin.model, self.parameter_name)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class AuditActionFilter(IndexedValuesFilter):
    title = "action"
    parameter_name = "action"


class AuditObjectTypeFilter(IndexedValuesFilter):
    title = "object type"
    parameter_name = "object_type"


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Looks, never touches: no add, change or delete for anyone, and no bulk actions at all
    (which also removes Django's "delete selected"). Staff change things only through the
    workflow pages, which call the services."""

    actions: Sequence[Any] | None = None

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyTabularInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "actor_label", "action", "object_type", "object_id", "object_repr", "ip")
    # Not `date_hierarchy` nor Django's all-values filters: each reads every event for its choices.
    list_filter = (("created_at", admin.DateFieldListFilter), AuditActionFilter, AuditObjectTypeFilter)
    search_fields = ("object_repr", "actor_label", "object_id")
    ordering = ("-id",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "created_at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr",
        "changes", "ip", "user_agent", "prev_hash", "hash",
    )
    readonly_fields = fields
    list_select_related = ("actor",)


class OutboxDeliveryFilter(admin.SimpleListFilter):
    """What needs a person: messages still retried after failing (a webhook is retried for as long as the
    exchange is down; past the e-mails' limit of attempts it is failing for long), and e-mails given up."""

    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("failing", "Failing, still retried"),
                ("failing_long", f"Failing after {policy.outbox_max_attempts()} attempts or more, still retried"),
                ("given_up", "Given up (e-mails)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        pending = queryset.filter(status=OutboxMessage.Status.PENDING)
        if self.value() == "failing":
            return pending.filter(attempts__gt=0)
        if self.value() == "failing_long":
            return pending.filter(attempts__gte=policy.outbox_max_attempts())
        if self.value() == "given_up":
            return queryset.filter(status=OutboxMessage.Status.FAILED)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyModelAdmin):
    # The body and payload are not shown: an e-mail body carries the verification code of its
    # reference (R12), which no one but the recipient should read.
    list_display = (
        "created_at", "about", "recipient", "channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error",
    )
    list_filter = (OutboxDeliveryFilter, "status", "channel")
    search_fields = ("recipient", "subject", "key")
    ordering = ("-id",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "key", "channel", "recipient", "subject", "status", "attempts", "created_at", "next_attempt_at",
        "sent_at", "last_error",
    )
    readonly_fields = fields
    # The only action; Django's "delete selected" stays away (no one has the delete permission).
    actions = ["requeue_failed_emails"]

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("core.requeue_outboxmessage"))

    @admin.action(description="Queue the selected failed e-mails again", permissions=["requeue"])
    def requeue_failed_emails(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox_requeue(message_ids=list(queryset.values_list("pk", flat=True)),
                               actor=Actor.from_request(request), now=timezone.now())
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(request, f"{count} failed e-mail(s) queued again. Only e-mails given up as failed are "
                          "queued again; webhooks are retried until delivered.", level)

    @admin.display(description="Subject")
    def about(self, message: OutboxMessage) -> str:
        """The subject; for an e-mail not yet rendered (on its first delivery), what it will be about."""
        if message.subject or message.channel != OutboxMessage.Channel.EMAIL:
            return message.subject
        return f"({message.payload.get('template', '')}) {message.payload.get('reference', '')}"


# Third-party admins would let a superuser edit, outside any service and audit, what LEORS
# manages itself: second factors, sessions, e-mail addresses, role groups (kept by roles_sync).
def _unregister_unaudited_admins() -> None:
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.usersessions.models import UserSession
    from django.contrib.auth.models import Group

    for model in (EmailAddress, Authenticator, UserSession, Group):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_unaudited_admins()
