"""R7: user information is preserved for 60 days from receipt of a formal request; extensions are
requested through LEORS. The hold starts at intake, lapses by itself at its end (told to the officer
and the reviewer, audited, once), and an extension filed in time keeps it unbroken.

Every boundary is checked one second either side, with time controlled by time-machine.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, PreservationHold, Reminder
from cases.services import clocks, intake, review
from leors import policy
from leors.core import outbox
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent
from tests.cases.clock_cast import (
    ACCEPT_REASONS,
    FULL_CHECKLIST,
    T0,
    ClockCast,
    audit_actions,
    emails,
    sweep,
    sweep_meanwhile,
    webhook_data,
)
from tests.conftest import signed_in_client

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def hold_of(case: Case) -> PreservationHold:
    return PreservationHold.objects.get(case=case)


def reminder_days(hold: PreservationHold, ends_at: datetime) -> list[int]:
    return sorted(Reminder.objects.filter(hold=hold, clock_ends_at=ends_at).values_list("days_before", flat=True),
                  reverse=True)


def a_preservation_two_seconds_before_its_end(traveller: Any) -> tuple[ClockCast, Case, PreservationHold, datetime]:
    """A preservation received and accepted now, then the moment two seconds before its hold's end: the cast, the
    preservation, its hold and the hold's end."""
    cast = ClockCast()
    case = cast.preservation()
    cast.decide(case)
    hold = hold_of(case)
    traveller.move_to(hold.expires_at - 2 * SECOND)
    return cast, case, hold, hold.expires_at


def extension_filed_a_day_before_the_end(traveller: Any, *, accepted: bool = True) -> tuple[
        ClockCast, Case, PreservationHold, datetime, Case]:
    """A preservation received now (accepted, or only assigned), and an extension of it filed the day before its
    hold's end: the cast, the preservation, its hold, the hold's end and the extension, at that moment."""
    cast = ClockCast()
    case = cast.preservation()
    if accepted:
        cast.decide(case)
    else:
        cast.assign(case)
    hold = hold_of(case)
    traveller.move_to(hold.expires_at - DAY)
    return cast, case, hold, hold.expires_at, cast.extension(case)


# --- The hold and its end ---------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("configured_days", [None, 45])
def test_r7_a_preservation_request_starts_a_hold_at_receipt_for_the_configured_period(
        settings: Any, configured_days: int | None) -> None:
    if configured_days is not None:
        settings.LEORS_PRESERVATION_DAYS = configured_days
    expected_days = configured_days or 60  # the rule's 60 days is the default
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        case = cast.preservation()

    hold = hold_of(case)
    assert policy.preservation_period() == timedelta(days=expected_days)
    assert hold.started_at == case.submitted_at == T0  # receipt, not acceptance
    assert hold.expires_at == T0 + policy.preservation_period() == T0 + timedelta(days=expected_days)
    assert (hold.status, hold.extension_count, hold.lapsed_at) == (PreservationHold.Status.ACTIVE, 0, None)
    assert hold.is_in_force(T0)
    assert audit_actions(case, "hold.") == ["hold.started"]


@pytest.mark.django_db
def test_r7_the_hold_is_in_force_until_its_end_and_lapses_by_itself_exactly_once() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        cast.decide(case)  # accepted; the reviewer stays assigned
        hold = hold_of(case)
        end = hold.expires_at

        traveller.move_to(end - SECOND)
        assert hold.is_in_force(timezone.now())
        assert sweep().holds_lapsed == 0
        hold.refresh_from_db()
        assert hold.status == PreservationHold.Status.ACTIVE

        traveller.move_to(end)
        assert not hold.is_in_force(timezone.now())  # derived from the stored end: no sweep needed

        traveller.move_to(end + SECOND)
        assert not hold.is_in_force(timezone.now())
        assert sweep().holds_lapsed == 1
        assert sweep().holds_lapsed == 0  # the same minute again: nothing more
        traveller.move_to(end + timedelta(minutes=1))
        assert sweep().holds_lapsed == 0  # the next minute: nothing more

    hold.refresh_from_db()
    assert (hold.status, hold.lapsed_at, hold.expires_at) == (PreservationHold.Status.LAPSED, end + SECOND, end)
    assert audit_actions(case, "hold.") == ["hold.started", "hold.lapsed"]
    assert AuditEvent.objects.get(action="hold.lapsed").actor_label == "system:clocks"
    assert len(emails(cast.officer.user.email, "hold-lapsed")) == 1
    assert len(emails(cast.reviewer.email, "hold-lapsed")) == 1
    assert emails(cast.lead.email, "hold-lapsed") == []  # the lead was not the reviewer


@pytest.mark.django_db
def test_r7_a_hold_across_a_leap_day_is_exact(settings: Any) -> None:
    settings.LEORS_PRESERVATION_DAYS = 60
    start = datetime(2028, 2, 1, 9, 0, tzinfo=UTC)
    end = datetime(2028, 4, 1, 9, 0, tzinfo=UTC)  # February 2028 has 29 days: 28 + 31 + 1 = 60
    with time_machine.travel(start, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        hold = hold_of(case)
        assert (hold.started_at, hold.expires_at) == (start, end)

        traveller.move_to(datetime(2028, 3, 31, 9, 0, tzinfo=UTC))  # one day before: the last reminder
        assert sweep().reminders_sent == 1
        assert reminder_days(hold, end) == [14, 7, 1]

        traveller.move_to(end - SECOND)
        assert hold.is_in_force(timezone.now())
        assert sweep().holds_lapsed == 0

        traveller.move_to(end + SECOND)
        assert not hold.is_in_force(timezone.now())
        assert sweep().holds_lapsed == 1
    hold.refresh_from_db()
    assert hold.status == PreservationHold.Status.LAPSED


# --- Extensions ---------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r7_an_extension_filed_at_the_last_second_and_accepted_after_expiry_extends_without_a_gap(
        settings: Any) -> None:
    settings.LEORS_PRESERVATION_EXTENSION_DAYS = 30  # not the 60 of the first period: the setting is used
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        cast.decide(case)
        hold = hold_of(case)
        end = hold.expires_at

        traveller.move_to(end - SECOND)
        extension = cast.extension(case)
        assert (extension.status, extension.extends_case_id) == (Case.Status.SUBMITTED, case.pk)

        traveller.move_to(end + SECOND)
        # Past the stored end, but an extension filed in time awaits its review: still in force.
        assert hold.is_in_force(timezone.now())
        assert sweep().holds_lapsed == 0
        traveller.move_to(end + 3 * DAY)
        assert sweep().holds_lapsed == 0
        hold.refresh_from_db()
        assert hold.status == PreservationHold.Status.ACTIVE

        assert cast.decide(extension).status == Case.Status.FULFILLED
        hold.refresh_from_db()
        new_end = end + timedelta(days=30)
        assert hold.expires_at == end + policy.preservation_extension_period() == new_end  # from the old end
        assert (hold.status, hold.extension_count, hold.lapsed_at) == (PreservationHold.Status.ACTIVE, 1, None)
        assert hold.is_in_force(timezone.now())

        traveller.move_to(new_end - SECOND)
        assert sweep().holds_lapsed == 0
        traveller.move_to(new_end + SECOND)
        assert sweep().holds_lapsed == 1

    assert audit_actions(case, "hold.") == ["hold.started", "hold.extended", "hold.lapsed"]
    extended = AuditEvent.objects.get(action="hold.extended")
    assert extended.changes["expires_at"] == [str(end), str(new_end)]
    assert extended.changes["extension"] == extension.reference


@pytest.mark.django_db
def test_r7_an_extension_filed_after_expiry_is_refused_with_a_message_naming_the_end() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        cast.decide(case)
        end = hold_of(case).expires_at
        ended_on = f"{end:%d %B %Y at %H:%M} UTC"

        traveller.move_to(end + SECOND)  # no sweep has run yet: the end is derived from the stored time
        with pytest.raises(ValidationError) as refused:
            cast.extension(case)
        message = " ".join(refused.value.message_dict["extends_case_reference"])
        assert f"ended on {ended_on}" in message
        assert "must be filed before the hold expires" in message
        assert "send a new preservation request" in message

        # After two days of downtime the sweep catches up; the message still names the real end,
        # not the moment the sweep happened to run.
        traveller.move_to(end + 2 * DAY)
        assert sweep().holds_lapsed == 1
        with pytest.raises(ValidationError) as refused_again:
            cast.extension(case)
        assert f"ended on {ended_on}" in " ".join(refused_again.value.message_dict["extends_case_reference"])

    assert not Case.objects.filter(request_type="preservation_extension").exists()
    assert hold_of(case).expires_at == end


@pytest.mark.django_db
def test_r7_a_declined_extension_lets_the_hold_lapse_at_the_next_sweep() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, case, hold, end, extension = extension_filed_a_day_before_the_end(traveller)
        traveller.move_to(end + SECOND)
        assert sweep().holds_lapsed == 0  # the extension is pending

        traveller.move_to(end + DAY)
        assert cast.decide(extension, Case.Decision.DECLINE).status == Case.Status.DECLINED
        hold.refresh_from_db()
        assert hold.expires_at == end  # a declined extension adds nothing
        assert not hold.is_in_force(timezone.now())
        assert sweep().holds_lapsed == 1
        assert sweep().holds_lapsed == 0
    hold.refresh_from_db()
    assert (hold.status, hold.lapsed_at) == (PreservationHold.Status.LAPSED, end + DAY)
    assert audit_actions(case, "hold.") == ["hold.started", "hold.lapsed"]


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["declined", "withdrawn"])
def test_r7_declining_or_withdrawing_the_preservation_ends_its_hold(how: str) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        hold = hold_of(case)
        end = hold.expires_at

        traveller.move_to(T0 + 5 * DAY)
        if how == "declined":
            assert cast.decide(case, Case.Decision.DECLINE).status == Case.Status.DECLINED
        else:
            assert cast.withdraw(case).status == Case.Status.WITHDRAWN
        hold.refresh_from_db()
        assert (hold.status, hold.lapsed_at) == (PreservationHold.Status.LAPSED, T0 + 5 * DAY)
        assert not hold.is_in_force(timezone.now())

        traveller.move_to(end + SECOND)
        assert tuple(sweep()) == (0, 0, 0)  # nothing left to lapse or to remind of
    assert audit_actions(case, "hold.") == ["hold.started", "hold.ended"]
    assert AuditEvent.objects.get(action="hold.ended").changes["reason"] == how
    assert not Reminder.objects.exists()


@pytest.mark.django_db
def test_r7_a_preservation_is_not_closed_while_its_hold_is_in_force_so_it_can_still_be_extended() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        cast.decide(case)
        review.case_fulfil(case=case, actor=cast.staff, now=timezone.now())
        with pytest.raises(ActionRefused, match="preservation hold of this case is still in force"):
            review.case_close(case=case, actor=cast.staff, now=timezone.now())
        case.refresh_from_db()
        assert case.status == Case.Status.FULFILLED

        traveller.move_to(T0 + 50 * DAY)  # the officer extends in time, as the reminders ask
        extension = cast.extension(case)
        assert extension.extends_case_id == case.pk
        traveller.move_to(hold_of(case).expires_at + SECOND)
        with pytest.raises(ActionRefused):  # past its end, but kept by the pending extension
            review.case_close(case=case, actor=cast.staff, now=timezone.now())
        cast.decide(extension, Case.Decision.DECLINE)
        assert sweep().holds_lapsed == 1
        assert review.case_close(case=case, actor=cast.staff, now=timezone.now()).status == Case.Status.CLOSED


# --- Reminders ----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r7_reminders_14_7_and_1_days_before_expiry_are_each_sent_exactly_once() -> None:
    assert policy.preservation_reminder_days() == [14, 7, 1]
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        hold = hold_of(case)
        end = hold.expires_at
        sent: list[int] = []
        for days in (14, 7, 1):
            traveller.move_to(end - timedelta(days=days) - SECOND)
            assert sweep().reminders_sent == 0, f"{days} days: too early"
            traveller.move_to(end - timedelta(days=days))
            assert sweep().reminders_sent == 1, f"{days} days: due"
            assert sweep().reminders_sent == 0, f"{days} days: a second sweep"
            sent.append(days)
            assert reminder_days(hold, end) == sent
            assert len(emails(cast.officer.user.email, "hold-reminder")) == len(sent)
        traveller.move_to(end - SECOND)
        assert sweep().reminders_sent == 0

    assert [r.sent_at for r in Reminder.objects.filter(hold=hold).order_by("-days_before")] == [
        end - timedelta(days=d) for d in (14, 7, 1)]
    assert audit_actions(case, "hold.reminder") == ["hold.reminder_sent"] * 3


@pytest.mark.django_db
def test_r7_after_downtime_covering_two_reminders_one_email_goes_out_and_both_are_recorded() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        hold = hold_of(case)
        end = hold.expires_at

        traveller.move_to(end - timedelta(days=7))  # no sweep ran since before the 14-day reminder
        assert sweep().reminders_sent == 1
        assert sweep().reminders_sent == 0
        assert reminder_days(hold, end) == [14, 7]
        assert len(emails(cast.officer.user.email, "hold-reminder")) == 1
        assert AuditEvent.objects.get(action="hold.reminder_sent").changes["days_before"] == [14, 7]

        traveller.move_to(end - DAY)
        assert sweep().reminders_sent == 1
        assert reminder_days(hold, end) == [14, 7, 1]
        assert len(emails(cast.officer.user.email, "hold-reminder")) == 2


@pytest.mark.django_db
def test_r7_after_an_extension_the_reminders_come_again_for_the_new_end() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        cast.decide(case)
        hold = hold_of(case)
        end = hold.expires_at
        for days in (14, 7, 1):
            traveller.move_to(end - timedelta(days=days))
            sweep()
        assert reminder_days(hold, end) == [14, 7, 1]

        traveller.move_to(end - timedelta(hours=12))
        cast.decide(cast.extension(case))
        hold.refresh_from_db()
        new_end = hold.expires_at
        assert new_end == end + policy.preservation_extension_period()
        assert sweep().reminders_sent == 0  # the new end is 60 days away

        for days in (14, 7, 1):
            traveller.move_to(new_end - timedelta(days=days) - SECOND)
            assert sweep().reminders_sent == 0
            traveller.move_to(new_end - timedelta(days=days))
            assert sweep().reminders_sent == 1
            assert sweep().reminders_sent == 0
        assert reminder_days(hold, new_end) == [14, 7, 1]
        assert reminder_days(hold, end) == [14, 7, 1]
        assert len(emails(cast.officer.user.email, "hold-reminder")) == 6


@pytest.mark.django_db
def test_r7_a_hold_whose_extension_awaits_review_is_not_ending_soon() -> None:
    """The queue's "ending soon" (`ending_by`): in force now and not at the end of the week. An extension filed
    in time keeps the hold while it is reviewed, so that hold does not end; once declined, it does."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.preservation()
        cast.decide(case)
        end = hold_of(case).expires_at

        def ending_within_a_week() -> bool:
            now = timezone.now()
            return PreservationHold.objects.filter(case=case).ending_by(now, now + 7 * DAY).exists()

        traveller.move_to(end - 8 * DAY)
        assert not ending_within_a_week()
        traveller.move_to(end - 3 * DAY)
        assert ending_within_a_week()
        extension = cast.extension(case)
        assert not ending_within_a_week()
        traveller.move_to(end + DAY)
        cast.decide(extension, Case.Decision.DECLINE)
        assert not ending_within_a_week()  # not in force now: it ended with the declined extension
        assert not PreservationHold.objects.filter(case=case).in_force(timezone.now()).exists()


# --- When the data stopped being preserved ------------------------------------------------------------

HOUR = timedelta(hours=1)


def _officer_page(cast: ClockCast, case: Case) -> str:
    return signed_in_client(cast.officer.user).get(reverse("cases:detail", args=[case.reference])).content.decode()


def _shown_end(officer_html: str) -> str | None:
    shown = re.search(r'<dd id="hold-end"><time datetime="([^"]+)"', officer_html)
    return shown.group(1) if shown else None


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["declined", "withdrawn", "withdrawn, then closed"])
def test_r7_a_hold_kept_past_its_end_by_an_extension_ended_when_that_left_review_as_the_exchange_and_pages_say(
        exchange_webhook: None, how: str) -> None:
    """An extension filed in time keeps the hold in force while it is reviewed. Declined (or withdrawn) a day past
    the hold's end, it had kept the data preserved until then: the exchange, the officer and the legal team are told
    that moment, not the hold's own end — even when the sweep lapses it hours late (downtime)."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast, case, hold, end, extension = extension_filed_a_day_before_the_end(traveller)

        traveller.move_to(end + DAY)
        if how == "declined":
            assert cast.decide(extension, Case.Decision.DECLINE).status == Case.Status.DECLINED
        else:
            assert cast.withdraw(extension).status == Case.Status.WITHDRAWN
        traveller.move_to(end + DAY + HOUR)
        if how == "withdrawn, then closed":  # closing keeps the moment it was withdrawn
            review.case_close(case=extension, actor=Actor(user=cast.lead), now=timezone.now())
            assert Case.objects.get(pk=extension.pk).closed_at == end + DAY
        # Before a sweep records the lapse, the officer and the legal team already read when it ended, and why.
        unswept_officer_html = _officer_page(cast, case)
        assert _shown_end(unswept_officer_html) == timezone.localtime(end + DAY).isoformat()
        assert 'id="hold-kept"' in unswept_officer_html
        unswept_staff_html = signed_in_client(cast.reviewer).get(
            reverse("admin:cases_case_change", args=[case.pk])).content.decode()
        assert f'id="hold-ended-unswept" datetime="{timezone.localtime(end + DAY).isoformat()}"' in unswept_staff_html
        traveller.move_to(end + DAY + 3 * HOUR)  # the sweep was down for three hours
        assert sweep().holds_lapsed == 1
        hold.refresh_from_db()
        assert (hold.lapsed_at, hold.ended_at, hold.ended) == (end + DAY + 3 * HOUR, end + DAY, end + DAY)
        assert hold.kept_past_end
        assert webhook_data(f"hold:{hold.pk}:lapsed")["ends_at"] == (end + DAY).isoformat()

        officer_html = _officer_page(cast, case)
        assert _shown_end(officer_html) == timezone.localtime(end + DAY).isoformat()
        kept = re.search(r'<dd id="hold-kept">(.*?)</dd>', officer_html, re.S)
        assert kept is not None and f'datetime="{timezone.localtime(end).isoformat()}"' in kept.group(1)
        staff_html = signed_in_client(cast.reviewer).get(
            reverse("admin:cases_case_change", args=[case.pk])).content.decode()
        assert re.search(rf'id="hold-status">Lapsed, ended <time datetime="'
                         rf'{re.escape(timezone.localtime(end + DAY).isoformat())}">[^<]*</time> \(past its end: an '
                         r'extension filed before then kept it', staff_html)

        # Refused, a late extension names the day the data stopped being preserved.
        with pytest.raises(ValidationError) as refused:
            cast.extension(case)
        assert f"ended on {end + DAY:%d %B %Y at %H:%M} UTC" in " ".join(
            refused.value.message_dict["extends_case_reference"])


@pytest.mark.django_db
def test_r7_a_hold_that_ran_out_ended_at_its_end_and_one_ended_early_when_it_was_ended(exchange_webhook: None) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        ran_out, ended_early = cast.preservation(), cast.preservation()
        cast.decide(ran_out)
        end = hold_of(ran_out).expires_at
        traveller.move_to(T0 + 5 * DAY)
        cast.withdraw(ended_early)
        traveller.move_to(end + 2 * DAY)  # lapsed two days late (downtime): it still ended at its end
        assert sweep().holds_lapsed == 1
        officer_html = _officer_page(cast, ran_out)

    hold, early = hold_of(ran_out), hold_of(ended_early)
    assert (hold.ended_at, webhook_data(f"hold:{hold.pk}:lapsed")["ends_at"]) == (end, end.isoformat())
    assert (early.ended_at, webhook_data(f"hold:{early.pk}:lapsed")["ends_at"]) == (
        T0 + 5 * DAY, (T0 + 5 * DAY).isoformat())
    assert not hold.kept_past_end and not early.kept_past_end
    assert 'id="hold-kept"' not in officer_html
    assert _shown_end(officer_html) == timezone.localtime(end).isoformat()

    # A hold lapsed before the moment was recorded: the earlier of its end and its lapse.
    PreservationHold.objects.filter(pk=hold.pk).update(ended_at=None)
    hold.refresh_from_db()
    assert hold.ended == end


@pytest.mark.django_db
def test_r7_a_preservation_ended_early_while_its_extension_was_reviewed_ended_then(exchange_webhook: None) -> None:
    """A hold kept past its end by an extension under review, then ended early (its preservation request declined
    after a long review): it was in force until that moment."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast, case, hold, end, _extension = extension_filed_a_day_before_the_end(traveller, accepted=False)
        traveller.move_to(end + 2 * DAY)
        assert hold.is_in_force(timezone.now())
        assert cast.decide(case, Case.Decision.DECLINE).status == Case.Status.DECLINED
    hold.refresh_from_db()
    assert (hold.status, hold.ended_at) == (PreservationHold.Status.LAPSED, end + 2 * DAY)
    assert webhook_data(f"hold:{hold.pk}:lapsed")["ends_at"] == (end + 2 * DAY).isoformat()


@pytest.mark.django_db
def test_r7_an_extension_filed_while_a_hold_is_kept_past_its_end_is_refused_saying_so() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, case, _hold, end, _extension = extension_filed_a_day_before_the_end(traveller)
        traveller.move_to(end + DAY)
        with pytest.raises(ValidationError) as refused:
            cast.extension(case)
    message = " ".join(refused.value.message_dict["extends_case_reference"])
    assert f"preservation period of {case.reference} ended on {end:%d %B %Y at %H:%M} UTC" in message
    assert "stays in force only while the extension filed before then is reviewed" in message


def _extension_would_end(cast: ClockCast, extension: Case) -> str | None:
    """The staff page of an extension under review: what accepting it now would make the hold's end, as shown."""
    html = signed_in_client(cast.lead).get(reverse("admin:cases_case_change", args=[extension.pk])).content.decode()
    shown = re.search(r'<td id="extension-would-end">(.*?)</td>', html, re.S)
    return shown.group(1) if shown else None


@pytest.mark.django_db
def test_r7_the_reviewer_of_an_extension_sees_the_end_an_acceptance_gives_and_is_warned_when_it_has_passed() -> None:
    """The further period runs from the hold's end, however long the review takes: a review that outlasts it would
    extend the hold to a moment already past, and the hold would lapse at once. The extension's page says so first."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast, _case, hold, end, extension = extension_filed_a_day_before_the_end(traveller)
        new_end = end + policy.preservation_extension_period()
        assert clocks.hold_extended_end(hold) == new_end

        in_time = _extension_would_end(cast, extension)
        assert in_time is not None and f'datetime="{timezone.localtime(new_end).isoformat()}"' in in_time
        assert "already past" not in in_time

        traveller.move_to(new_end + HOUR)  # a review that outlasted the further period
        late = _extension_would_end(cast, extension)
        assert late is not None and "already past" in late and "lapse at the next sweep" in late

        cast.decide(extension)
        assert hold_of(extension.extends_case).expires_at == new_end  # accepted: the rule itself is unchanged
        assert _extension_would_end(cast, extension) is None  # decided: nothing left to warn about


# --- An extension filed in the last seconds, while the minute's sweep runs ---------------------------

@pytest.mark.django_db
def test_r7_an_extension_whose_hold_lapsed_while_it_was_being_received_is_refused_not_taken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Filed two seconds before the end; while intake reads the request (seconds, for long documents), the sweep of
    the minute lapses the hold. The officer is told, not answered with an extension that keeps nothing."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast, case, hold, end = a_preservation_two_seconds_before_its_end(traveller)
        detect = intake.detect_text

        def sweep_while_reading(text: str) -> Any:
            clocks.clocks_sweep(now=end + SECOND)  # committed in its own transaction, as the worker's would be
            return detect(text)

        monkeypatch.setattr(intake, "detect_text", sweep_while_reading)
        with pytest.raises(ValidationError) as refused:
            cast.extension(case)

    message = " ".join(refused.value.message_dict["extends_case_reference"])
    assert f"ended on {end:%d %B %Y at %H:%M:%S} UTC, while this extension was being received" in message
    assert not Case.objects.filter(extends_case=case).exists()
    hold.refresh_from_db()
    assert (hold.status, hold.ended) == (PreservationHold.Status.LAPSED, end)


@pytest.mark.django_db(transaction=True)
def test_r7_a_sweep_running_while_an_extension_is_filed_in_time_leaves_the_hold_to_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep of the minute runs, past the hold's end, while the extension filed before it is being stored: it
    skips the hold the filing holds, and the next sweep finds the extension pending. Nothing lapses."""
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    with time_machine.travel(T0, tick=False) as traveller:
        cast, case, hold, end = a_preservation_two_seconds_before_its_end(traveller)
        store = intake.file_store
        swept: list[Any] = []

        def sweep_while_storing(*args: Any, **kwargs: Any) -> Any:
            if not swept:  # the first document stored: the extension's transaction is under way
                swept.append(sweep_meanwhile(end + SECOND, waits="the sweep waited for the filing instead of "
                                                                  "skipping its hold"))
            return store(*args, **kwargs)

        monkeypatch.setattr(intake, "file_store", sweep_while_storing)
        extension = cast.extension(case)
        assert isinstance(swept[0], clocks.SweepResult) and swept[0].holds_lapsed == 0, swept
        traveller.move_to(end + MINUTE)
        assert sweep().holds_lapsed == 0  # the extension filed in time is pending: the hold is kept
        hold.refresh_from_db()
        assert hold.status == PreservationHold.Status.ACTIVE and hold.is_in_force(timezone.now())

        traveller.move_to(end + DAY)
        cast.decide(extension)
        hold.refresh_from_db()
        assert hold.expires_at == end + policy.preservation_extension_period()


@pytest.mark.django_db(transaction=True)
def test_r7_filing_an_extension_while_another_of_the_same_hold_is_accepted_deadlocks_neither(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The filing holds the hold (checked again under its lock) and then takes the audit trail's lock; the acceptance of
    an earlier extension takes the same two, in the same order. Taken the other way round, one of them was aborted."""
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    cast = ClockCast()
    preservation = cast.preservation()
    first = cast.extension(preservation)
    cast.assign(first)
    review.case_checklist_update(case=first, data=FULL_CHECKLIST, actor=cast.staff, now=timezone.now())
    results: dict[str, Any] = {}

    def accept() -> None:
        try:
            results["accept"] = review.case_decide(case=first, decision=Case.Decision.ACCEPT, reasons=ACCEPT_REASONS,
                                                   actor=cast.staff, now=timezone.now())
        except Exception as error:  # surfaced by the assertions below
            results["accept"] = error
        finally:
            connection.close()  # this thread's own connection

    locked_for_extension = intake._hold_locked_for_extension

    def then_the_reviewer_accepts(preservation_case: Case, *, now: datetime) -> None:
        locked_for_extension(preservation_case, now=now)  # this filing holds the hold now
        results["thread"] = thread = threading.Thread(target=accept)
        thread.start()
        thread.join(1.0)  # the acceptance gets as far as it can

    monkeypatch.setattr(intake, "_hold_locked_for_extension", then_the_reviewer_accepts)
    second = cast.extension(preservation)
    results["thread"].join(30)
    assert isinstance(results["accept"], Case), results
    assert second.extends_case_id == preservation.pk
    assert hold_of(preservation).extension_count == 1
