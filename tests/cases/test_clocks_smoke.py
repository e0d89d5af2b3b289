from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from cases.models import Freeze, PreservationHold
from cases.services import clocks, review
from leors.core.audit import Actor
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import approved_officer, document_input, four_eyes_activate, make_lead, submit_case


@pytest.mark.django_db
def test_r7_r8_a_hold_lapses_and_a_freeze_lifts_by_themselves() -> None:
    officer, lead = approved_officer(), make_lead()
    staff = Actor(user=lead)
    order = [document_input(pdf_with_text(ENGLISH_WARRANT), document_type="freeze_order")]
    preservation = submit_case(officer, request_type="preservation", data_requested="",
                               has_non_disclosure_instruction=None, documents=order)
    hold = PreservationHold.objects.get(case=preservation)
    freeze_case = submit_case(officer, request_type="freeze", freeze_duration_days=45, data_requested="",
                              has_non_disclosure_instruction=None, documents=order)
    now = timezone.now()
    review.case_assign(case=freeze_case, reviewer=lead, actor=staff, now=now)
    review.case_checklist_update(case=freeze_case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    review.case_decide(case=freeze_case, decision="accepted", reasons="The freeze order is valid and explicit.",
                       actor=staff, now=now)
    freeze = four_eyes_activate(case=freeze_case, activation=clocks.FreezeActivation(), actor=staff, now=now)
    assert freeze.granted_days == 30  # capped: the order did not explicitly order longer
    with time_machine.travel(freeze.expires_at + timedelta(seconds=1), tick=False):
        assert not freeze.is_in_force(timezone.now())
        assert clocks.clocks_sweep(now=timezone.now()).freezes_lifted == 1
    with time_machine.travel(hold.expires_at + timedelta(seconds=1), tick=False):
        assert clocks.clocks_sweep(now=timezone.now()).holds_lapsed == 1
        assert tuple(clocks.clocks_sweep(now=timezone.now())) == (0, 0, 0)
    assert Freeze.objects.get().status == Freeze.Status.LIFTED
    assert PreservationHold.objects.get().status == PreservationHold.Status.LAPSED
