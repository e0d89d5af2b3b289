"""Whether the clocks keep time: the sweep's heartbeat and the outbox's oldest waiting message.

/healthz says whether a web process can serve (its database and broker answer); a load balancer acts on
it. This says whether the scheduled work is being done, which no page shows: with the worker or beat
down, pages still show the right state (it is derived from stored times), but no freeze is lifted at the
exchange, no hold lapses in the exchange's records, no reminder or e-mail goes out. Monitoring acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Min

from leors.core.models import OutboxMessage, SweepHeartbeat

CLOCKS_SWEEP = "clocks_sweep"


def heartbeat_record(*, name: str, now: datetime) -> None:
    """`name` finished at `now`: one row, written over (an upsert, so two sweeps never collide)."""
    SweepHeartbeat.objects.bulk_create([SweepHeartbeat(name=name, finished_at=now)], update_conflicts=True,
                                       unique_fields=["name"], update_fields=["finished_at"])


@dataclass(frozen=True)
class ClocksHealth:
    healthy: bool
    report: dict[str, Any]


def clocks_health(*, now: datetime) -> ClocksHealth:
    """The sweep's last finish, and, per channel, whether a message has waited past the limit.

    Only states and ages: the endpoint is open to monitoring without an account, so it names no
    case, recipient or count."""
    sweep_late = timedelta(minutes=settings.LEORS_HEALTH_SWEEP_LATE_MINUTES)
    outbox_late = timedelta(minutes=settings.LEORS_HEALTH_OUTBOX_LATE_MINUTES)
    heartbeat = SweepHeartbeat.objects.filter(name=CLOCKS_SWEEP).first()
    report: dict[str, Any] = {}
    if heartbeat is None:
        report["clocks"] = "never run"
    else:
        age = now - heartbeat.finished_at
        report["clocks"] = "late" if age > sweep_late else "ok"
        report["clocks_last_finished_seconds_ago"] = max(0, int(age.total_seconds()))
    oldest = dict(OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).values("channel")
                  .annotate(oldest=Min("created_at")).values_list("channel", "oldest"))
    for channel, label in ((OutboxMessage.Channel.WEBHOOK, "webhooks"), (OutboxMessage.Channel.EMAIL, "emails")):
        waiting = now - oldest[channel] if channel in oldest else timedelta(0)
        report[label] = "late" if waiting > outbox_late else "ok"
        if waiting > outbox_late:
            report[f"{label}_oldest_waiting_seconds"] = int(waiting.total_seconds())
    healthy = all(report[key] == "ok" for key in ("clocks", "webhooks", "emails"))
    return ClocksHealth(healthy=healthy, report={"status": "ok" if healthy else "late", **report})
