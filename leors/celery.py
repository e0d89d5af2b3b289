"""The Celery app, configured from Django settings (CELERY_ namespace), and the beat schedule.

The schedule is defined here, in code and in one place (STYLE.md). Every scheduled entry is an
idempotent sweep: running it twice, late, or concurrently changes nothing more than running it once.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leors.settings")

app = Celery("leors")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["leors.core", "leors.access", "cases"])

app.conf.beat_schedule = {
    "outbox-deliver-due": {"task": "leors.core.tasks.outbox_deliver_due", "schedule": 60.0},
}
