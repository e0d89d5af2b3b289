from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from leors.core.outbox import outbox_deliver_due


class Command(BaseCommand):
    help = "Run the scheduled sweeps once (for cron-based deployments); the same code Celery beat runs."

    def handle(self, *args: Any, **options: Any) -> None:
        from cases.services.clocks import access_review_digest, clocks_sweep_run

        now = timezone.now()
        holds, freezes, reminders = clocks_sweep_run(now=now)
        digests = access_review_digest(now=now)
        sent = outbox_deliver_due(now=now)
        self.stdout.write(f"clocks: {holds} hold(s) lapsed, {freezes} freeze(s) lifted, {reminders} reminder(s); "
                          f"digest: {digests}; outbox: {sent} message(s) delivered")
