from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    """Agencies, officer accounts, access applications and their vetting (R1-R3)."""

    name = "leors.access"
    label = "access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from leors.access.roles import roles_sync

        # After the permissions themselves exist (they are created by post_migrate too).
        post_migrate.connect(roles_sync, dispatch_uid="leors.access.roles_sync")
