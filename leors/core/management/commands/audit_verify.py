from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leors.core.audit import audit_chain_verify
from leors.core.models import AuditEvent


class Command(BaseCommand):
    help = "Verify the audit hash chain; name the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        broken = audit_chain_verify()
        if broken is not None:
            raise CommandError(f"Audit chain broken at event {broken.event_id}: {broken.reason}.")
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {AuditEvent.objects.count()} events verified."))
