"""The outbox: written in the caller's transaction, idempotent by key, delivered once under a row
lock, retried with backoff after a failure, given up as failed after the configured attempts."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leors import policy
from leors.core import outbox
from leors.core.bulk import rows_insert
from leors.core.models import IssuedReference, OutboxMessage
from leors.core.outbox import email_enqueue, outbox_deliver, outbox_deliver_due, reference_check

NOW = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
THIS_MODULE = __name__


class FailingBackend(BaseEmailBackend):
    """A mail relay that refuses every connection."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("mail relay refused the connection")


class GatedBackend(LocmemBackend):
    """Sends like locmem, but only once the test opens the gate: a delivery caught mid-send."""

    entered = threading.Event()
    proceed = threading.Event()

    def send_messages(self, email_messages: Any) -> int:
        type(self).entered.set()
        assert type(self).proceed.wait(10), "the test never opened the gate"
        return super().send_messages(email_messages)


class DatabaseLostAfterSendBackend(LocmemBackend):
    """The relay accepts the e-mail; then the worker loses its database connection (PostgreSQL ends its
    session, as a failover or a network cut does) before it can record the send."""

    def send_messages(self, email_messages: Any) -> int:
        sent = super().send_messages(email_messages)
        worker_pid = connection.connection.info.backend_pid
        settings_dict = connection.settings_dict
        with psycopg.connect(host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432,
                             user=settings_dict["USER"], password=settings_dict["PASSWORD"] or None,
                             dbname=settings_dict["NAME"], autocommit=True) as outside:
            outside.execute("SELECT pg_terminate_backend(%s)", [worker_pid])
        return sent


def enqueue(key: str = "test:1", to: str = "officer@zephyr.police.example.uk", now: datetime = NOW) -> OutboxMessage:
    with transaction.atomic():
        return email_enqueue(key=key, to=to, template="application_update", reference="LEORS-APP-2026-000001",
                             link_path="/applications/LEORS-APP-2026-000001/", now=now)


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Record the delivery requested on commit instead of sending a task to the broker."""
    scheduled: list[int] = []
    monkeypatch.setattr(outbox, "schedule_delivery", scheduled.extend)
    yield scheduled


@pytest.mark.django_db
def test_enqueue_is_idempotent_by_key(no_broker: list[int]) -> None:
    first = enqueue(key="application-decided:7")
    again = enqueue(key="application-decided:7", to="someone.else@zephyr.police.example.uk")
    other = enqueue(key="application-decided:8")

    assert again.pk == first.pk and again.recipient == first.recipient
    assert other.pk != first.pk
    assert OutboxMessage.objects.count() == 2
    assert IssuedReference.objects.count() == 0  # an e-mail is rendered, with its code, when delivered
    assert outbox_deliver_due(now=NOW) == 2
    assert len(mail.outbox) == 2
    assert IssuedReference.objects.count() == 2  # one code per message, none for the repeated enqueue


@pytest.mark.django_db
def test_a_batch_queues_only_its_new_keys_and_returns_every_message_as_stored(
        no_broker: list[int], django_capture_on_commit_callbacks: Any) -> None:
    """A sweep's batch is one COPY; a key queued before, or given twice, falls back to the stored message."""
    with django_capture_on_commit_callbacks(execute=True):
        earlier = enqueue(key="clock:1:freeze-lifted")
    emails = [outbox.Email(key=key, to=f"{key.replace(':', '.')}@zephyr.police.example.uk", template="case_update",
                           reference="LEO-2026-000001", link_path="/cases/LEO-2026-000001/")
              for key in ("clock:2:freeze-lifted", "clock:1:freeze-lifted", "clock:3:freeze-lifted",
                          "clock:2:freeze-lifted", "clock:4:freeze-lifted")]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        queued = outbox.emails_enqueue(emails, now=NOW)

    assert [message.key for message in queued] == [email.key for email in emails]
    assert queued[1].pk == earlier.pk and queued[1].recipient == earlier.recipient  # queued before: not again
    assert queued[0] is queued[3]  # given twice: one message
    stored = {message.pk: message for message in OutboxMessage.objects.all()}
    assert len(stored) == 4
    for message in queued:  # each as stored, with its id
        assert (stored[message.pk].key, stored[message.pk].recipient) == (message.key, message.recipient)
    assert no_broker == [earlier.pk, queued[0].pk, queued[2].pk, queued[4].pk]  # only the new ones delivered


@pytest.mark.django_db
def test_a_key_queued_before_leaves_the_rest_of_a_batch_in_one_copy(no_broker: list[int]) -> None:
    earlier = enqueue(key="clock:17:freeze-lifted")
    emails = [outbox.Email(key=f"clock:{n}:freeze-lifted", to="officer@zephyr.police.example.uk",
                           template="case_update", reference="LEO-2026-000001", link_path="/cases/LEO-2026-000001/")
              for n in range(50)]
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        queued = outbox.emails_enqueue(emails, now=NOW)
    assert queued[17].pk == earlier.pk
    assert OutboxMessage.objects.count() == 50
    # The COPY that met the old key, the lookup, a second COPY of the other 49: not a query per message.
    assert len(captured.captured_queries) < 15


@pytest.mark.django_db
def test_a_copied_batch_gives_every_row_its_id_in_the_order_given() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("COPY, and the ids it takes from the sequence, are PostgreSQL's (elsewhere: bulk_create)")
    messages = [OutboxMessage(key=f"bulk:{n}", channel=OutboxMessage.Channel.EMAIL, recipient="a@example.org",
                              created_at=NOW, next_attempt_at=NOW, payload={"n": n}) for n in (3, 1, 2)]
    with transaction.atomic():
        rows_insert(OutboxMessage, messages)
    assert [message.pk for message in messages] == sorted(message.pk for message in messages)
    assert [(message.pk, message.payload) for message in OutboxMessage.objects.order_by("pk")] == [
        (message.pk, message.payload) for message in messages]
    assert not any(message._state.adding for message in messages)
    with transaction.atomic():  # and the table's own ids carry on after them
        assert enqueue(key="bulk:after").pk > messages[-1].pk


@pytest.mark.django_db
def test_nothing_is_sent_before_the_transaction_commits(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = enqueue()
    assert len(callbacks) == 1  # delivery is only asked for on commit
    assert mail.outbox == []
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxMessage.Status.PENDING


@pytest.mark.django_db
def test_delivery_sends_once_even_when_the_sweep_runs_twice(no_broker: list[int]) -> None:
    message = enqueue()
    assert outbox_deliver_due(now=NOW) == 1
    assert outbox_deliver_due(now=NOW) == 0
    assert outbox_deliver(message_id=message.pk, now=NOW + timedelta(hours=1)) is False

    (sent,) = mail.outbox
    assert sent.to == ["officer@zephyr.police.example.uk"]
    assert sent.extra_headers["X-LEORS-Outbox-Key"] == "test:1"
    message.refresh_from_db()
    assert (message.status, message.attempts, message.sent_at, message.last_error) == (
        OutboxMessage.Status.SENT, 1, NOW, "")
    # The code printed in the message is one LEORS can confirm (R12).
    code = next(line.split(": ", 1)[1] for line in sent.body.splitlines() if line.startswith("Verification code: "))
    assert reference_check(reference="LEORS-APP-2026-000001", code=code, recipient=sent.to[0], now=NOW) is not None


@pytest.mark.django_db
def test_a_message_not_yet_due_is_left_alone(no_broker: list[int]) -> None:
    enqueue(now=NOW)
    assert outbox_deliver_due(now=NOW - timedelta(seconds=1)) == 0
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_a_message_being_sent_is_locked_against_a_second_worker(no_broker: list[int], settings: Any) -> None:
    message = enqueue()
    assert no_broker == [message.pk]  # asked for on commit
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.GatedBackend"
    GatedBackend.entered.clear()
    GatedBackend.proceed.clear()
    results: dict[str, Any] = {}

    def first_worker() -> None:
        try:
            results["first"] = outbox_deliver_due(now=NOW)
        except Exception as error:  # surfaced by the assertion below
            results["first"] = error
        finally:
            connection.close()

    worker = threading.Thread(target=first_worker)
    worker.start()
    try:
        assert GatedBackend.entered.wait(10), "the first worker never reached the send"
        # The first worker holds the row lock while it sends: a second sweep and a direct delivery skip it.
        assert outbox_deliver_due(now=NOW) == 0
        assert outbox_deliver(message_id=message.pk, now=NOW) is False
    finally:
        GatedBackend.proceed.set()
        worker.join(10)
    assert results["first"] == 1
    assert len(mail.outbox) == 1
    assert outbox_deliver_due(now=NOW + timedelta(minutes=5)) == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxMessage.Status.SENT, 1)


@pytest.mark.django_db
def test_a_failing_backend_is_retried_with_backoff_then_delivers(no_broker: list[int], settings: Any) -> None:
    message = enqueue()
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.FailingBackend"

    assert outbox_deliver_due(now=NOW) == 0
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING
    assert message.attempts == 1
    assert message.last_error == "ConnectionRefusedError: mail relay refused the connection"
    assert message.next_attempt_at == NOW + timedelta(minutes=1)

    # Not before the backoff has passed.
    assert outbox_deliver_due(now=NOW + timedelta(seconds=59)) == 0
    message.refresh_from_db()
    assert message.attempts == 1

    assert outbox_deliver_due(now=NOW + timedelta(minutes=1)) == 0
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.next_attempt_at == NOW + timedelta(minutes=1) + timedelta(minutes=2)
    rendered = message.body
    assert "Verification code: " in rendered

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox_deliver_due(now=NOW + timedelta(minutes=3)) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (OutboxMessage.Status.SENT, 3, "")
    assert len(mail.outbox) == 1
    # Rendered once, on the first attempt: every retry sent the same message with the same one code.
    assert mail.outbox[0].body == rendered
    assert IssuedReference.objects.count() == 1


@pytest.mark.django_db
def test_delivery_gives_up_as_failed_after_the_configured_attempts(no_broker: list[int], settings: Any) -> None:
    settings.LEORS_OUTBOX_MAX_ATTEMPTS = 3
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.FailingBackend"
    message = enqueue()

    when = NOW
    for attempt in range(1, 4):
        assert outbox_deliver_due(now=when) == 0
        message.refresh_from_db()
        assert message.attempts == attempt
        expected = OutboxMessage.Status.FAILED if attempt == 3 else OutboxMessage.Status.PENDING
        assert message.status == expected, attempt
        when = message.next_attempt_at

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox_deliver_due(now=NOW + timedelta(days=30)) == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxMessage.Status.FAILED, 3)
    assert "ConnectionRefusedError" in message.last_error
    assert mail.outbox == []


def _code_in(body: str) -> str:
    found = re.search(r"^Verification code: (\S+)$", body, re.MULTILINE)
    assert found is not None, body
    return found.group(1)


@pytest.mark.django_db(transaction=True)
def test_r12_the_code_of_an_email_that_went_out_verifies_though_its_send_was_never_recorded(
        no_broker: list[int], settings: Any) -> None:
    """The code is issued, and the e-mail rendered, in a transaction committed before the send: a worker
    that loses the database after the relay accepted the e-mail loses only the record of the send."""
    message = enqueue()
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.DatabaseLostAfterSendBackend"
    with pytest.raises(DatabaseError):
        outbox_deliver(message_id=message.pk, now=NOW)
    connection.close()  # the worker reconnects
    [genuine] = mail.outbox
    # R12: the officer checks the genuine e-mail on /verify/.
    assert reference_check(reference="LEORS-APP-2026-000001", code=_code_in(genuine.body), recipient=genuine.to[0],
                           now=NOW) is not None

    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxMessage.Status.PENDING, 0)  # the send was never recorded
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox_deliver_due(now=NOW + timedelta(minutes=1)) == 1
    [_, again] = mail.outbox
    # The same e-mail again, under the same Message-ID: whichever copy a mail system keeps, its code verifies.
    assert (again.subject, again.body, again.extra_headers) == (genuine.subject, genuine.body, genuine.extra_headers)
    assert IssuedReference.objects.count() == 1


def test_backoff_doubles_and_is_capped_at_an_hour() -> None:
    delays = [policy.outbox_retry_delay(attempts) for attempts in range(1, 10)]
    assert delays[:4] == [timedelta(minutes=minutes) for minutes in (1, 2, 4, 8)]
    assert delays[-1] == timedelta(hours=1)


def test_the_backoffs_cap_is_a_setting_and_holds_after_any_number_of_attempts(settings: Any) -> None:
    settings.LEORS_OUTBOX_MAX_RETRY_DELAY_MINUTES = 15
    assert [policy.outbox_retry_delay(attempts) for attempts in (1, 4, 5, 6)] == [
        timedelta(minutes=minutes) for minutes in (1, 8, 15, 15)]
    assert policy.outbox_retry_delay(100_000) == timedelta(minutes=15)  # a webhook retried for weeks


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_raises(no_broker: list[int]) -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        email_enqueue(key="test:outside", to="officer@zephyr.police.example.uk", template="application_update",
                      reference="LEORS-APP-2026-000001", link_path="/", now=NOW)
    assert not OutboxMessage.objects.exists()
    assert not IssuedReference.objects.exists()
    assert no_broker == []


# --- Migration core 0007: the ordering key ------------------------------------------------------------

@pytest.mark.django_db
def test_the_release_before_the_ordering_key_can_still_queue_messages_during_a_rolling_deploy() -> None:
    """It names only its own columns: the new column keeps its default in the database, so its inserts still work."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_outboxmessage (key, channel, recipient, subject, body, payload, status, attempts, "
            "created_at, next_attempt_at, last_error) VALUES ('old-release:1', 'email', 'a@b.example', '', '', "
            "'{}', 'pending', 0, now(), now(), '') RETURNING id")
        row = cursor.fetchone()
    assert row is not None and OutboxMessage.objects.get(pk=row[0]).ordering_key == ""


@pytest.mark.django_db
def test_r8_the_migration_sends_again_the_webhooks_the_release_before_gave_up_in_their_restrictions_order() -> None:
    """Webhooks are never given up now: a lift the exchange never heard of, given up by the release before after
    eight attempts, is pending again after the migration, with its restriction's key. E-mails given up stay so."""
    from importlib import import_module

    from django.apps import apps

    now = timezone.now()
    common = {"recipient": "", "subject": "", "body": "", "attempts": 8, "status": OutboxMessage.Status.FAILED,
              "created_at": now, "next_attempt_at": now}
    lifted = OutboxMessage.objects.create(key="webhook:freeze:7:lifted", channel=OutboxMessage.Channel.WEBHOOK,
                                          payload={"data": {"restriction": {"type": "freeze", "id": 7}}}, **common)
    email = OutboxMessage.objects.create(key="email:1", channel=OutboxMessage.Channel.EMAIL, payload={}, **common)
    import_module("leors.core.migrations.0007_outbox_ordering_key").order_pending_webhooks(apps, None)
    lifted.refresh_from_db()
    email.refresh_from_db()
    assert (lifted.status, lifted.ordering_key) == (OutboxMessage.Status.PENDING, "freeze:7")
    assert lifted.next_attempt_at >= now
    assert email.status == OutboxMessage.Status.FAILED
