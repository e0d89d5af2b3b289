"""Findings of the review of the clocks, recovery and four-eyes code, each pinned by a test."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases.models import Case, Freeze
from cases.services import clocks, productions, recovery, review
from cases.services.review import is_judicial_body
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from tests.cases.clock_cast import ClockCast
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import document_input

DAY = timedelta(days=1)


@pytest.mark.django_db
def test_r5_no_production_on_a_request_that_is_not_for_user_information() -> None:
    cast = ClockCast()
    case = cast.preservation()
    cast.assign(case)
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=cast.staff, now=timezone.now())
    cast.decide(case)
    with pytest.raises(ActionRefused, match="user-information requests only"):
        productions.production_upload(case=case, upload=SimpleUploadedFile("kyc.csv", b"uid\n1\n"),
                                      description="", actor=cast.staff, now=timezone.now())
    assert productions.production_release_blockers(case, timezone.now()) == [
        "Productions answer user-information requests only."]


def test_r9_a_ministry_of_justice_is_not_a_court() -> None:
    assert not is_judicial_body("Ministry of Justice")
    assert not is_judicial_body("U.S. Department of Justice")
    assert is_judicial_body("High Court of Justice")


@pytest.mark.parametrize("amount", ["1e30", "Infinity", "NaN", "1e-30", "0.0000000000000000001"])
def test_r9_an_amount_the_record_cannot_hold_exactly_is_refused_at_once(amount: str) -> None:
    with pytest.raises(ValidationError) as refused:
        recovery.return_params(asset="BTC", amount=amount, destination_address="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                               tx_hash="ab" * 32)
    assert "amount" in refused.value.message_dict


@pytest.mark.django_db
def test_r8_an_accepted_further_order_keeps_the_freeze_until_it_is_activated() -> None:
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(10)
        further = cast.freeze_request(10, further_order_of=freeze.case)
        cast.decide(further)  # accepted before the end; its activation (four-eyes) comes later
        traveller.move_to(freeze.expires_at + timedelta(hours=2))
        assert clocks.clocks_sweep(now=timezone.now()).freezes_lifted == 0
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.ACTIVE
        extended = cast.activate(further)
        assert extended.pk == freeze.pk and extended.expires_at == t0 + 20 * DAY


@pytest.mark.django_db
def test_r8_one_sweep_lifts_more_than_one_batch_after_downtime(settings: Any) -> None:
    settings.LEORS_SWEEP_BATCH_SIZE = 2
    cast = ClockCast()
    freezes = [cast.freeze(5) for _ in range(5)]
    with time_machine.travel(timezone.now() + 6 * DAY, tick=False):
        assert clocks.clocks_sweep(now=timezone.now()).freezes_lifted == 5
    assert all(Freeze.objects.get(pk=f.pk).status == Freeze.Status.LIFTED for f in freezes)


@pytest.mark.django_db
def test_r3_a_suspended_officers_freeze_in_force_goes_on_hold_and_their_downloads_stop() -> None:
    from leors.access.services import officer_suspend

    cast = ClockCast()
    freeze = cast.freeze(20)
    officer_suspend(officer=cast.officer, note="Forged order sent from a hijacked mailbox.", referred_to="",
                    actor=cast.staff, now=timezone.now())
    case = Case.objects.get(pk=freeze.case_id)
    assert case.status == Case.Status.FULFILLED and case.on_hold_at is not None
    order = [document_input(pdf_with_text(ENGLISH_WARRANT))]
    assert order  # the hold also stops downloads: see productions.production_download_record
    with pytest.raises(ActionRefused):
        productions.production_download_record(production=_released_production_on_hold(), actor=Actor(
            user=cast.officer.user), now=timezone.now())


def _released_production_on_hold():  # type: ignore[no-untyped-def]
    from cases.models import Production

    cast = ClockCast()
    case = cast.freeze_request(5)  # any case of a user; the production row is what matters
    Case.objects.filter(pk=case.pk).update(on_hold_at=timezone.now(), request_type="user_information")
    now = timezone.now()
    return Production.objects.create(case=Case.objects.get(pk=case.pk), file="x", original_name="x.csv",
                                     content_type="text/csv", size=1, sha256="0" * 64, uploaded_at=now,
                                     uploaded_by=cast.reviewer, released_at=now, released_by=cast.lead,
                                     available_until=now + DAY)
