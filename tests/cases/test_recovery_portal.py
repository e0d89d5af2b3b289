"""R9 in the officer portal: the instructions to acknowledge and the recorded return."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, RecoveryInstructions
from cases.services import approvals, recovery, review
from leors.core.audit import Actor
from tests.conftest import signed_in_client
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import (
    PDF_BYTES,
    approved_officer,
    confirm_out_of_band,
    document_input,
    make_lead,
    make_reviewer,
    submit_case,
)

WALLET = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TX = "ab" * 32


def _recovery_with_instructions(officer, reviewer, lead):  # type: ignore[no-untyped-def]
    now = timezone.now()
    staff = Actor(user=reviewer)
    case = submit_case(officer, request_type="asset_recovery", data_requested="", has_non_disclosure_instruction=None,
                       assets_description="0.5 BTC held in the frozen account",
                       documents=[document_input(pdf_with_text(ENGLISH_WARRANT), document_type="court_order",
                                                 issuing_authority="Crown Court at Southwark")])
    review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=lead), now=now)
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    review.case_document_verify(document=case.documents.get(), actor=staff, now=now)
    review.case_decide(case=case, decision="accepted", reasons="The court order of the Crown Court is verified.",
                       actor=staff, now=now)
    official = recovery.recovery_official_add(case=case, name="DS Alex Morgan", title="Detective Sergeant",
                                              organisation="Metropolitan Police Service",
                                              id_document=SimpleUploadedFile("warrant-card.pdf", PDF_BYTES),
                                              actor=staff, now=now)
    recovery.recovery_official_id_check(official=official, actor=staff, now=now)
    recovery.recovery_official_confirm(official=official, actor=staff, now=now, data=recovery.Confirmation(
        confirmed_with="DI Rowan Hale", method="phone", contact_source="Met switchboard on the official website",
        confirmed_at=now))
    recovery.recovery_instructions_issue(case=case, actor=staff, now=now)
    return case


@pytest.mark.django_db
def test_r9_the_officer_acknowledges_the_instructions_then_sees_the_recorded_return() -> None:
    officer, reviewer, lead = approved_officer(), make_reviewer(), make_lead()
    case = _recovery_with_instructions(officer, reviewer, lead)
    client = signed_in_client(officer.user)
    page = client.get(reverse("cases:detail", args=[case.reference])).content.decode()
    assert "DS Alex Morgan" in page and "INSTRUCTIONS FOR THE RETURN OF ASSETS" in page
    assert reverse("cases:recovery_acknowledge", args=[case.reference]) in page

    # The return cannot be asked for before the acknowledgement.
    confirm_out_of_band(case, actor=Actor(user=reviewer))
    with pytest.raises(Exception, match="acknowledged"):
        recovery.return_request(case=case, asset="BTC", amount="0.5", destination_address=WALLET, tx_hash=TX,
                                actor=Actor(user=reviewer), now=timezone.now())

    response = client.post(reverse("cases:recovery_acknowledge", args=[case.reference]))
    assert response.status_code == 302
    instructions = RecoveryInstructions.objects.get(case=case)
    assert instructions.acknowledged_by == officer.user
    # A second acknowledgement is refused with a message, not an error page.
    assert client.post(reverse("cases:recovery_acknowledge", args=[case.reference])).status_code == 400

    approval = recovery.return_request(case=case, asset="btc", amount="0.5", destination_address=WALLET, tx_hash=TX,
                                       actor=Actor(user=reviewer), now=timezone.now())
    approvals.approval_grant(approval=approval, actor=Actor(user=lead), now=timezone.now())
    case.refresh_from_db()
    assert case.status == Case.Status.FULFILLED
    page = client.get(reverse("cases:detail", args=[case.reference])).content.decode()
    assert "0.5 BTC" in page and TX in page


@pytest.mark.django_db
def test_r9_only_the_officers_of_the_case_can_acknowledge() -> None:
    officer, reviewer, lead = approved_officer(), make_reviewer(), make_lead()
    case = _recovery_with_instructions(officer, reviewer, lead)
    colleague = approved_officer()
    response = signed_in_client(colleague.user).post(reverse("cases:recovery_acknowledge", args=[case.reference]))
    assert response.status_code == 404
    assert RecoveryInstructions.objects.get(case=case).acknowledged_at is None
