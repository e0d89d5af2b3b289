"""Thin Celery tasks: take ids, call a service, own retries (STYLE.md rule 7)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from leors.core import outbox


@shared_task(name="leors.core.tasks.outbox_deliver", acks_late=True)
def outbox_deliver(message_id: int) -> bool:
    return outbox.outbox_deliver(message_id=message_id, now=timezone.now())


@shared_task(name="leors.core.tasks.outbox_deliver_many", acks_late=True)
def outbox_deliver_many(message_ids: list[int]) -> int:
    return outbox.outbox_deliver_many(message_ids=message_ids, now=timezone.now())


@shared_task(name="leors.core.tasks.outbox_deliver_due", acks_late=True)
def outbox_deliver_due() -> int:
    return outbox.outbox_deliver_due(now=timezone.now())
