from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from leors.core.outbox import outbox_deliver_due
from tests.factories import approved_officer


@pytest.mark.django_db
def test_r1_approved_officer_path_builds() -> None:
    officer = approved_officer()
    assert officer.agency.name == "Metropolitan Police Service"
    assert outbox_deliver_due(now=timezone.now()) >= 2
    assert all("Verification code:" in m.body for m in mail.outbox)
