from __future__ import annotations

import pytest
from django.utils import timezone

from cases.models import Case
from cases.services import productions, review
from leors.core.audit import Actor
from tests.factories import approved_officer, four_eyes_release, make_lead, submit_case


@pytest.mark.django_db
def test_r10_a_user_information_request_goes_from_intake_to_release() -> None:
    officer = approved_officer()
    lead = make_lead()
    case = submit_case(officer)
    assert case.reference.startswith("LEORS-")
    staff = Actor(user=lead)
    now = timezone.now()
    review.case_assign(case=case, reviewer=lead, actor=staff, now=now)
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    review.case_document_verify(document=case.documents.get(), actor=staff, now=now)
    review.case_decide(case=case, decision="accepted", reasons="The warrant is valid and covers the account.",
                       actor=staff, now=now)
    review.case_notification_record(case=case, decision="waived", notified_at=None,
                                    waiver_reason="The user is deceased; the estate is notified by the court.",
                                    actor=staff, now=now)
    from django.core.files.uploadedfile import SimpleUploadedFile

    production = productions.production_upload(case=case, upload=SimpleUploadedFile("kyc.csv", b"uid,name\n1,A\n"),
                                               description="KYC", actor=staff, now=now)
    four_eyes_release(production=production, actor=staff, now=now)
    case.refresh_from_db()
    assert case.status == Case.Status.ACCEPTED
    assert production.content_type == "text/csv"
