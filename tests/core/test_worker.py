"""A real Celery worker, against the real Redis broker and the test PostgreSQL database.

Not eager mode: the web side commits, the on-commit hook puts the task on Redis, a separate
worker process picks it up, reads the committed row and sends the e-mail through Django's mail
framework (a file backend, so that this process can read what the worker sent).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from leors.core.models import OutboxMessage
from leors.core.outbox import email_enqueue


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(tmp_path: Path) -> Iterator[Path]:
    mail_dir = tmp_path / "mail"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "leors", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield mail_dir
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_r12_email_is_delivered_by_a_real_worker(celery_worker_process: Path) -> None:
    now = timezone.now()
    with transaction.atomic():
        message = email_enqueue(key="worker-test", to="officer@police.example.gov", template="application_update",
                                reference="LEORS-APP-2026-000042", link_path="/applications/LEORS-APP-2026-000042/",
                                now=now)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == OutboxMessage.Status.SENT:
            break
        time.sleep(0.5)
    assert message.status == OutboxMessage.Status.SENT, message.last_error
    assert message.attempts == 1
    sent = "".join(path.read_text() for path in celery_worker_process.glob("*.log"))
    assert "LEORS-APP-2026-000042" in sent
    assert "Verification code:" in sent
