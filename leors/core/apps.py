from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting parts: the audit chain, the outbox, issued references (R12), files, health."""

    name = "leors.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from leors.core import signals  # noqa: F401  (connects the sign-in audit receivers)
        from leors.core.db import session_configure
        from leors.core.permissions import permission_ids_forget

        post_migrate.connect(permission_ids_forget, dispatch_uid="leors.core.permission_ids_forget")
        connection_created.connect(session_configure, dispatch_uid="leors.core.session_configure")
