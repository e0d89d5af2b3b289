"""A real Celery worker, against the real Redis broker and the test PostgreSQL database.

Not eager mode: the web side commits, the on-commit hook puts the task on Redis, a separate
worker process picks it up, reads the committed row and sends the e-mail through Django's mail
framework (a file backend, so that this process can read what the worker sent).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from leors.core.models import OutboxMessage
from leors.core.outbox import email_enqueue
from tests.processes import celery_processes


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_r12_email_is_delivered_by_a_real_worker(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    with celery_processes(tmp_path, EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                          EMAIL_FILE_PATH=str(mail_dir)):
        with transaction.atomic():
            message = email_enqueue(key="worker-test", to="officer@police.example.gov", template="application_update",
                                    reference="LEORS-APP-2026-000042",
                                    link_path="/applications/LEORS-APP-2026-000042/", now=timezone.now())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message.refresh_from_db()
            if message.status == OutboxMessage.Status.SENT:
                break
            time.sleep(0.5)
    assert message.status == OutboxMessage.Status.SENT, message.last_error
    assert message.attempts == 1
    sent = "".join(path.read_text() for path in mail_dir.glob("*.log"))
    assert "LEORS-APP-2026-000042" in sent
    assert "Verification code:" in sent
