"""R2: access requests are generally reviewed within 15–20 business days. Applications become due
soon at the start of the 15th business day and overdue after the 20th; the legal leads get one
digest a day while any is due soon or overdue — an e-mail with no application content (R12).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from cases.services.clocks import access_review_digest
from leors.access import services
from leors.access.models import AccessApplication, User
from leors.core.audit import Actor
from leors.core.models import OutboxMessage
from leors.core.outbox import outbox_deliver_due
from tests.factories import make_lead, make_reviewer, verified_application

# Verified Wednesday 3 June 2026 (Seychelles calendar, UTC): business day 15 is Friday 26 June, and
# the 20th is Monday 6 July (see tests/access/test_applications.py for the count).
VERIFIED_AT = datetime(2026, 6, 3, 16, 45, tzinfo=UTC)
WINDOW_OPENS = datetime(2026, 6, 26, tzinfo=UTC)
OVERDUE_FROM = datetime(2026, 7, 7, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _calendar(settings: Any) -> None:
    settings.LEORS_BUSINESS_CALENDAR = "SC"
    settings.LEORS_BUSINESS_TIME_ZONE = "UTC"
    settings.LEORS_DIGEST_HOUR_UTC = 0  # from the first moment of the day: the day's boundaries are what is tested


def digests(to: str | None = None) -> list[OutboxMessage]:
    messages = OutboxMessage.objects.filter(key__startswith="access-digest:").order_by("id")
    return list(messages.filter(recipient=to) if to else messages)


def run_digest() -> int:
    return access_review_digest(now=timezone.now())


def application(**overrides: Any) -> AccessApplication:
    with time_machine.travel(VERIFIED_AT, tick=False):
        return verified_application(now=timezone.now(), **overrides)


@pytest.mark.django_db
def test_r2_applications_become_due_soon_on_the_15th_business_day_and_overdue_after_the_20th() -> None:
    leads = [make_lead(), make_lead()]
    pending = application()
    assert (pending.review_window_opens_at, pending.review_due_at) == (WINDOW_OPENS, OVERDUE_FROM)

    with time_machine.travel(WINDOW_OPENS - SECOND, tick=False) as traveller:
        assert not pending.is_due_soon(timezone.now())
        assert run_digest() == 0

        traveller.move_to(WINDOW_OPENS)  # the first moment of the 15th business day
        assert pending.is_due_soon(timezone.now())
        assert run_digest() == 2
        assert sorted(m.recipient for m in digests()) == sorted(lead.email for lead in leads)

        traveller.move_to(OVERDUE_FROM - SECOND)  # the last moment of the 20th business day
        assert (pending.is_due_soon(timezone.now()), pending.is_overdue(timezone.now())) == (True, False)

        traveller.move_to(OVERDUE_FROM)
        assert (pending.is_due_soon(timezone.now()), pending.is_overdue(timezone.now())) == (False, True)
        assert run_digest() == 2  # overdue ones are in the digest too
    assert len(digests()) == 4  # two leads, on the two days it ran


@pytest.mark.django_db
def test_r2_the_digest_goes_to_each_active_lead_once_a_day_however_often_it_runs() -> None:
    leads = [make_lead(), make_lead()]
    make_lead(is_active=False)
    make_reviewer()  # reviewers are not sent the digest
    application()

    with time_machine.travel(WINDOW_OPENS + timedelta(hours=6), tick=False) as traveller:
        assert [run_digest() for _ in range(4)] == [2, 0, 0, 0]
        traveller.move_to(WINDOW_OPENS + timedelta(hours=8))
        newcomer = make_lead()
        assert run_digest() == 1  # only the lead who had none today
        traveller.move_to(WINDOW_OPENS + DAY - SECOND)
        assert run_digest() == 0

        traveller.move_to(WINDOW_OPENS + DAY)  # the next day
        assert [run_digest() for _ in range(3)] == [3, 0, 0]

    for lead in [*leads, newcomer]:
        assert len(digests(lead.email)) == 2, lead.email
    assert {m.recipient for m in digests()} == {lead.email for lead in [*leads, newcomer]}


@pytest.mark.django_db
def test_r2_no_digest_when_nothing_is_due_soon_or_overdue() -> None:
    lead = make_lead()
    with time_machine.travel(WINDOW_OPENS + DAY, tick=False):
        assert run_digest() == 0  # no application at all
    early = application()
    with time_machine.travel(WINDOW_OPENS - SECOND, tick=False):
        assert run_digest() == 0  # not yet in its window
    with time_machine.travel(OVERDUE_FROM + DAY, tick=False):
        services.application_reject(application=early, reason="The body named does not exist in the register.",
                                    actor=Actor(user=User.objects.get(pk=lead.pk)), now=timezone.now())
        assert run_digest() == 0  # decided applications are never late
    assert digests() == []


@pytest.mark.django_db
def test_r2_the_digest_email_carries_no_application_content() -> None:
    lead = make_lead()
    pending = application(body_name="Zephyr Island Constabulary", jurisdiction="Port Zephyr District",
                          applicant_name="Morgan Quillfeather", official_email="m.quillfeather@zephyr.police.example",
                          phone="+44 20 7946 0018", rank_title="Detective Inspector",
                          supervisor_name="Casey Brightwater",
                          supervisor_email="c.brightwater@zephyr.police.example")
    with time_machine.travel(WINDOW_OPENS + timedelta(hours=6), tick=False):
        assert run_digest() == 1
        mail.outbox.clear()
        outbox_deliver_due(now=timezone.now())
    [sent] = [m for m in mail.outbox if m.to == [lead.email]]
    text = f"{sent.subject}\n{sent.body}"
    for content in (pending.reference, pending.body_name, pending.jurisdiction, pending.applicant_name,
                    pending.official_email, "zephyr", "Quillfeather", pending.phone, pending.rank_title,
                    pending.supervisor_name, pending.supervisor_email):
        assert content.lower() not in text.lower(), content
    assert "due soon or overdue" in sent.body
    assert "LEORS-DIGEST-20260626" in sent.body  # the digest's own reference, verifiable on /verify/
    assert "password" in sent.body.lower()  # the never-ask notice (R12)


@pytest.mark.django_db
def test_r2_the_digest_goes_out_from_its_hour_and_a_run_missed_then_is_made_up_the_same_day(settings: Any) -> None:
    """The beat asks for the digest every ten minutes: nothing before the configured hour, and a worker that was down
    at that hour sends the day's digest when it is back."""
    from celery.schedules import crontab

    from leors.celery import _beat_schedule

    settings.LEORS_DIGEST_HOUR_UTC = 7
    schedule = _beat_schedule()["access-review-digest"]["schedule"]
    assert isinstance(schedule, crontab) and schedule.minute == set(range(0, 60, 10)) and len(schedule.hour) == 24
    lead = make_lead()
    application()
    with time_machine.travel(WINDOW_OPENS + timedelta(hours=7) - SECOND, tick=False) as traveller:
        assert run_digest() == 0  # before the hour
        traveller.move_to(WINDOW_OPENS + timedelta(hours=11, minutes=30))  # down from 07:00 until 11:30
        assert [run_digest(), run_digest()] == [1, 0]
    assert [m.recipient for m in digests()] == [lead.email]
