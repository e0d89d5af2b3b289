"""The audit trail and the outbox in the staff workspace: to read, never to edit.

Both tables are written only by services (the audit chain also by a PostgreSQL trigger that refuses
UPDATE and DELETE), so the admin offers no add, change or delete to anyone, superusers included.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model
from django.http import HttpRequest
from django.utils.functional import cached_property

from leors.core.models import AuditEvent, OutboxMessage


class EstimatedCountPaginator(Paginator):
    """Exact counts, except for an unfiltered list of a large table on PostgreSQL, which shows the
    planner's row estimate (`pg_class.reltuples`, kept current by autovacuum): counting a million
    rows on every page of the queue costs more than the rest of the page (benchmarks, P1)."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [self.object_list.model._meta.db_table])  # type: ignore[attr-defined]
                row = cursor.fetchone()
            if row is not None and row[0] > self.ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Looks, never touches: no add, change or delete for anyone, and no bulk actions at all
    (which also removes Django's "delete selected"). Staff change things only through the
    workflow pages, which call the services."""

    actions = None

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
    list_filter = ("action", "object_type")
    search_fields = ("object_repr", "actor_label", "object_id")
    ordering = ("-id",)
    date_hierarchy = "created_at"
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "created_at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr",
        "changes", "ip", "user_agent", "prev_hash", "hash",
    )
    readonly_fields = fields
    list_select_related = ("actor",)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyModelAdmin):
    # The body and payload are not shown: an e-mail body carries the verification code of its
    # reference (R12), which no one but the recipient should read.
    list_display = (
        "created_at", "about", "recipient", "channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error",
    )
    list_filter = ("status", "channel")
    search_fields = ("recipient", "subject", "key")
    ordering = ("-id",)
    fields = (
        "key", "channel", "recipient", "subject", "status", "attempts", "created_at", "next_attempt_at",
        "sent_at", "last_error",
    )
    readonly_fields = fields

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
