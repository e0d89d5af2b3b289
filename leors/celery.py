"""The Celery app, configured from Django settings (CELERY_ namespace), and the beat schedule.

The schedule is defined here, in code and in one place (STYLE.md). Every scheduled entry is an
idempotent sweep: running it twice, late, or concurrently changes nothing more than running it once.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leors.settings")

app = Celery("leors")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["leors.core", "leors.access", "cases"])

def _beat_schedule() -> dict[str, dict[str, object]]:
    from django.conf import settings

    every = float(settings.LEORS_SWEEP_INTERVAL_SECONDS)
    return {
        # R7, R8: holds lapse, freezes lift, reminders go out — every minute, idempotent.
        "clocks-sweep": {"task": "cases.tasks.clocks_sweep", "schedule": every},
        # What a broker outage held back is delivered here.
        "outbox-deliver-due": {"task": "leors.core.tasks.outbox_deliver_due", "schedule": every},
        # R2: one digest a day of applications due soon or overdue, from LEORS_DIGEST_HOUR_UTC. Asked every ten
        # minutes, not once at that hour: a beat or worker down then would lose the day's digest.
        "access-review-digest": {"task": "cases.tasks.access_review_digest", "schedule": crontab(minute="*/10")},
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender: Celery, **kwargs: object) -> None:
    sender.conf.beat_schedule = _beat_schedule()
