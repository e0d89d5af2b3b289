"""Thin Celery tasks for the clocks: they call the sweeps with the current time."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from cases.services import clocks


@shared_task(name="cases.tasks.clocks_sweep", acks_late=True)
def clocks_sweep() -> list[int]:
    return list(clocks.clocks_sweep(now=timezone.now()))


@shared_task(name="cases.tasks.access_review_digest", acks_late=True)
def access_review_digest() -> int:
    return clocks.access_review_digest(now=timezone.now())
