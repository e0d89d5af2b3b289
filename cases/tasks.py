"""Thin Celery tasks for the clocks: they call the sweeps with the current time."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from cases.services import clocks


@shared_task(name="cases.tasks.clocks_sweep", acks_late=True)
def clocks_sweep() -> list[int]:
    now = timezone.now()
    # After downtime, many freezes may be due at once: other worker processes help lift them
    # (their claims skip the rows this one holds, so no freeze is lifted twice).
    for _ in range(clocks.freezes_lift_helpers_wanted(now=now)):
        freezes_lift_due.delay()
    return list(clocks.clocks_sweep_run(now=now))


@shared_task(name="cases.tasks.freezes_lift_due", acks_late=True)
def freezes_lift_due() -> int:
    return clocks.freezes_lift_due(now=timezone.now())


@shared_task(name="cases.tasks.access_review_digest", acks_late=True)
def access_review_digest() -> int:
    return clocks.access_review_digest(now=timezone.now())
