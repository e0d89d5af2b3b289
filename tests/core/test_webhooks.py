"""Signed webhooks to the exchange (R7, R8): queued in the outbox in the transaction of the change,
delivered by the outbox sweep to a real HTTP receiver on 127.0.0.1, verified there with
`webhook_signature_check`, retried with backoff after a failure, never processed twice.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from cases.models import Case, Freeze, PreservationHold
from cases.services import clocks
from leors import policy
from leors.core.audit import Actor
from leors.core.models import OutboxMessage
from leors.core.outbox import outbox_deliver_due
from leors.core.webhooks import webhook_signature, webhook_signature_check
from tests.cases.clock_cast import T0, ClockCast, sweep

SECRET = "whsec-test-0123456789abcdefghijklmnopqrstuvwxyz"  # at least 32 characters, as settings demand
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int


@dataclass
class Receiver:
    """The exchange's endpoint: checks the signature and freshness, processes each idempotency key once."""

    url: str = ""
    answers: list[int] = field(default_factory=list)  # the statuses to answer, in order; then 200
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        verified = webhook_signature_check(
            secret=SECRET, timestamp=headers.get("x-leors-timestamp", ""), body=body,
            signature=headers.get("x-leors-signature", ""), now=time.time(),
            window_seconds=django_settings.LEORS_WEBHOOK_REPLAY_WINDOW_SECONDS)
        status = 401 if not verified else (self.answers.pop(0) if self.answers else 200)
        if status == 200:
            self.processed.setdefault(headers["x-leors-idempotency-key"], json.loads(body))  # a repeat is ignored
        self.requests.append(Received(headers, body, verified, status))
        return status

    def post(self, headers: dict[str, str], body: bytes) -> int:
        """Send a request to the receiver as an attacker (or a replaying proxy) would."""
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    @property
    def events(self) -> list[str]:
        return [payload["event"] for payload in self.processed.values()]


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the http.server API names it so
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.handle({k.lower(): v for k, v in self.headers.items()}, body)  # names are case-insensitive
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/leors/webhooks"
    settings.LEORS_EXCHANGE_WEBHOOK_URL = state.url
    settings.LEORS_EXCHANGE_WEBHOOK_SECRET = SECRET
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def webhooks() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(channel=OutboxMessage.Channel.WEBHOOK).order_by("id"))


def deliver() -> int:
    return outbox_deliver_due(now=timezone.now())


class Abort(Exception):
    """Raised inside a transaction to roll it back."""


def in_rolled_back_transaction(action: Callable[[], Any], event: str) -> None:
    """Run `action` in a transaction that is then rolled back: its webhook is queued inside, and gone after."""
    before = [w.key for w in webhooks()]
    with pytest.raises(Abort), transaction.atomic():
        action()
        assert [w.subject for w in webhooks()][len(before):] == [event]  # queued in the same transaction
        raise Abort
    assert [w.key for w in webhooks()] == before


@pytest.mark.django_db
def test_each_clock_event_is_queued_in_the_transaction_of_its_change_and_vanishes_with_its_rollback(
        receiver: Receiver) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        in_rolled_back_transaction(cast.preservation, "hold.started")
        assert not Case.objects.exists() and not PreservationHold.objects.exists()
        preservation = cast.preservation()

        freeze_case = cast.freeze_request(10)
        cast.decide(freeze_case)
        in_rolled_back_transaction(lambda: cast.activate(freeze_case), "freeze.activated")
        assert not Freeze.objects.exists()
        freeze_case.refresh_from_db()
        assert freeze_case.status == Case.Status.ACCEPTED
        freeze = cast.activate(freeze_case)

        traveller.move_to(T0 + 5 * DAY)
        further = cast.freeze_request(10, further_order_of=freeze_case)
        cast.decide(further)
        in_rolled_back_transaction(lambda: cast.activate(further), "freeze.extended")
        freeze.refresh_from_db()
        assert (freeze.expires_at, freeze.extension_count) == (T0 + 10 * DAY, 0)
        cast.activate(further)

        traveller.move_to(T0 + 20 * DAY + SECOND)
        in_rolled_back_transaction(sweep, "freeze.lifted")
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.ACTIVE
        assert sweep().freezes_lifted == 1

        traveller.move_to(T0 + 50 * DAY)
        extension = cast.extension(preservation)
        in_rolled_back_transaction(lambda: cast.decide(extension), "hold.extended")
        hold = PreservationHold.objects.get(case=preservation)
        assert (hold.expires_at, hold.extension_count) == (T0 + 60 * DAY, 0)
        extension.refresh_from_db()  # its assignment was rolled back too
        cast.decide(extension)

        traveller.move_to(T0 + 120 * DAY + SECOND)
        in_rolled_back_transaction(sweep, "hold.lapsed")
        hold.refresh_from_db()
        assert hold.status == PreservationHold.Status.ACTIVE
        assert sweep().holds_lapsed == 1

    queued = webhooks()
    assert [w.subject for w in queued] == ["hold.started", "freeze.activated", "freeze.extended", "freeze.lifted",
                                           "hold.extended", "hold.lapsed"]
    assert [w.created_at for w in queued] == [T0, T0, T0 + 5 * DAY, T0 + 20 * DAY + SECOND, T0 + 50 * DAY,
                                              T0 + 120 * DAY + SECOND]
    assert queued[0].key == f"webhook:hold:{hold.pk}:started"
    assert {w.recipient for w in queued} == {receiver.url}
    assert queued[1].payload["data"]["restriction"] == {"type": "freeze", "id": freeze.pk}
    assert receiver.requests == []  # queued, not sent: the outbox delivers


@pytest.mark.django_db
def test_every_clock_event_reaches_the_receiver_signed_and_once(receiver: Receiver) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        preservation = cast.preservation()  # hold.started
        freeze = cast.freeze(20)  # freeze.activated
        traveller.move_to(T0 + 10 * DAY)
        further = cast.freeze_request(10, further_order_of=freeze.case)
        cast.decide(further)
        cast.activate(further)  # freeze.extended
        traveller.move_to(T0 + 30 * DAY + SECOND)
        assert sweep().freezes_lifted == 1  # freeze.lifted
        traveller.move_to(T0 + 50 * DAY)
        cast.decide(cast.extension(preservation))  # hold.extended
        traveller.move_to(T0 + 120 * DAY + SECOND)
        assert sweep().holds_lapsed == 1  # hold.lapsed

        queued = webhooks()
        assert [w.subject for w in queued] == ["hold.started", "freeze.activated", "freeze.extended", "freeze.lifted",
                                               "hold.extended", "hold.lapsed"]
        assert receiver.requests == []
        deliver()
        assert deliver() == 0  # a second sweep sends nothing again

    assert [r.status for r in receiver.requests] == [200] * 6
    assert all(r.verified for r in receiver.requests)
    # Events queued at the same moment may arrive in either order; each carries its key and occurred_at.
    assert sorted(receiver.events) == sorted(w.subject for w in queued)
    by_key = {json.loads(r.body)["idempotency_key"]: r for r in receiver.requests}
    assert set(by_key) == {w.key for w in queued}
    for message in queued:
        request = by_key[message.key]
        payload = json.loads(request.body)
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-leors-idempotency-key"] == payload["idempotency_key"] == message.key
        assert request.headers["x-leors-timestamp"] == str(int((T0 + 120 * DAY + SECOND).timestamp()))
        assert (payload["event"], payload["occurred_at"]) == (message.subject, message.created_at.isoformat())
        message.refresh_from_db()
        assert (message.status, message.attempts) == (OutboxMessage.Status.SENT, 1)
    # R7, R8: each event says the restriction's status after it, and its place among the restriction's events.
    assert [(w.subject, w.payload["data"]["status"], w.payload["data"]["sequence"]) for w in queued] == [
        ("hold.started", "active", 1), ("freeze.activated", "active", 1), ("freeze.extended", "active", 2),
        ("freeze.lifted", "lifted", 3), ("hold.extended", "active", 2), ("hold.lapsed", "lapsed", 3)]
    lapsed = json.loads(by_key[queued[-1].key].body)["data"]
    hold = PreservationHold.objects.get(case=preservation)
    assert lapsed["restriction"] == {"type": "preservation", "id": hold.pk}
    assert lapsed["ends_at"] == hold.expires_at.isoformat() == (T0 + 120 * DAY).isoformat()


@pytest.mark.django_db
def test_the_receiver_refuses_a_tampered_body_a_wrong_secret_and_an_old_timestamp(receiver: Receiver) -> None:
    window = django_settings.LEORS_WEBHOOK_REPLAY_WINDOW_SECONDS
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        cast.freeze(10)
        deliver()
        [original] = receiver.requests
        assert original.verified and original.status == 200
        headers = {k: v for k, v in original.headers.items() if k.startswith(("x-leors", "content-type"))}
        stamp, signature, body = headers["x-leors-timestamp"], headers["x-leors-signature"], original.body
        sent = int(stamp)
        tampered = body.replace(b'"freeze.activated"', b'"freeze.lifted"')
        assert tampered != body

        def check(*, secret: str = SECRET, timestamp: str = stamp, payload: bytes = body, now: float = sent) -> bool:
            return webhook_signature_check(secret=secret, timestamp=timestamp, body=payload, signature=signature,
                                           now=now, window_seconds=window)

        assert check()
        assert not check(payload=tampered)
        assert not check(secret="another-secret-of-at-least-32-characters")
        assert not check(timestamp=str(sent + 1))  # the timestamp is signed with the body
        assert not check(timestamp="yesterday")
        # A forged signature header with a character outside ASCII is refused, not an error at the receiver.
        assert not webhook_signature_check(secret=SECRET, timestamp=stamp, body=body, signature="v1=\u00e9",
                                           now=sent, window_seconds=window)
        assert check(now=sent + window)
        assert not check(now=sent + window + 1)  # outside the replay window
        assert not check(now=sent - window - 1)  # from the future, too
        assert signature == webhook_signature(secret=SECRET, timestamp=sent, body=body)

        # The same checks at the receiver, over the wire.
        assert receiver.post(headers, tampered) == 401
        assert receiver.post(headers, body) == 200  # a fresh repeat: accepted, but the key was already processed
        traveller.move_to(T0 + timedelta(seconds=window + 1))
        assert receiver.post(headers, body) == 401  # a replay after the window
    assert [r.verified for r in receiver.requests] == [True, False, True, False]
    assert receiver.events == ["freeze.activated"]  # processed once


@pytest.mark.django_db
def test_a_failing_receiver_gets_the_event_again_with_backoff_and_the_same_key_until_it_succeeds(
        receiver: Receiver) -> None:
    receiver.answers = [500, 500]
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        hold = PreservationHold.objects.get(case=cast.preservation())
        [message] = webhooks()

        deliver()
        message.refresh_from_db()
        assert (message.status, message.attempts) == (OutboxMessage.Status.PENDING, 1)
        assert message.next_attempt_at == T0 + policy.outbox_retry_delay(1) == T0 + timedelta(minutes=1)
        assert "500" in message.last_error

        traveller.move_to(T0 + timedelta(seconds=59))
        deliver()
        assert len(receiver.requests) == 1  # not before its time

        traveller.move_to(T0 + timedelta(minutes=1))
        deliver()
        message.refresh_from_db()
        assert (message.status, message.attempts) == (OutboxMessage.Status.PENDING, 2)
        assert message.next_attempt_at == T0 + timedelta(minutes=1) + policy.outbox_retry_delay(2)
        assert policy.outbox_retry_delay(2) == timedelta(minutes=2)  # backing off

        traveller.move_to(T0 + timedelta(minutes=2))
        deliver()
        assert len(receiver.requests) == 2

        traveller.move_to(T0 + timedelta(minutes=3))
        deliver()
        traveller.move_to(T0 + timedelta(minutes=30))
        deliver()

    message.refresh_from_db()
    assert (message.status, message.attempts, message.sent_at, message.last_error) == (
        OutboxMessage.Status.SENT, 3, T0 + timedelta(minutes=3), "")
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert all(r.verified for r in receiver.requests)
    keys = {r.headers["x-leors-idempotency-key"] for r in receiver.requests}
    assert keys == {f"webhook:hold:{hold.pk}:started"}
    assert len({r.body for r in receiver.requests}) == 1  # the same event each time
    assert receiver.events == ["hold.started"]


@pytest.mark.django_db
def test_with_no_webhook_url_configured_nothing_is_queued(settings: Any) -> None:
    settings.LEORS_EXCHANGE_WEBHOOK_URL = ""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        cast.preservation()
        freeze = cast.freeze(10)
        traveller.move_to(freeze.expires_at + SECOND)
        assert sweep().freezes_lifted == 1
        traveller.move_to(T0 + 60 * DAY + SECOND)
        assert sweep().holds_lapsed == 1
    assert webhooks() == []
    assert OutboxMessage.objects.filter(channel=OutboxMessage.Channel.EMAIL).exists()  # the e-mails still go


class _Redirecting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.django_db
def test_a_redirect_is_not_a_delivery(settings: object) -> None:
    from leors.core.outbox import outbox_deliver_due
    from leors.core.webhooks import webhook_enqueue

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.LEORS_EXCHANGE_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
        settings.LEORS_EXCHANGE_WEBHOOK_SECRET = "r" * 40  # type: ignore[attr-defined]
        now = timezone.now()
        with transaction.atomic():
            message = webhook_enqueue(event="freeze.lifted", key="redirect-test", data={}, now=now)
        assert message is not None
        assert outbox_deliver_due(now=now) == 0
        message.refresh_from_db()
        assert message.status == OutboxMessage.Status.PENDING and "302" in message.last_error
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_r8_a_lift_never_reaches_the_exchange_before_the_activation_it_ends(receiver: Receiver) -> None:
    """An exchange that freezes on `freeze.activated` and releases only on `freeze.lifted` must get them in that
    order, whatever the retries of each: the lift waits while the activation is retried, then goes right after."""
    receiver.answers = [503]  # the exchange's endpoint hiccups once, when the freeze is activated
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(10)
        deliver()  # freeze.activated: 503, retried in a minute
        traveller.move_to(T0 + 30 * SECOND)
        # Staff lift it early (a court decision) half a minute later.
        clocks.freeze_lift(freeze=Freeze.objects.get(pk=freeze.pk), reason=Freeze.LiftReason.COURT_DECISION,
                           note="Order set aside by the court on appeal, ref. A-2026-17.",
                           actor=Actor(user=cast.lead), now=timezone.now())
        deliver()
        activated, lifted = webhooks()
        # Not attempted, and not due again before the activation's retry: it stays out of the sweep's batches.
        assert (lifted.subject, lifted.status, lifted.attempts) == ("freeze.lifted", OutboxMessage.Status.PENDING, 0)
        assert lifted.ordering_key == activated.ordering_key == f"freeze:{freeze.pk}"
        assert lifted.next_attempt_at == activated.next_attempt_at == T0 + timedelta(minutes=1)
        assert len(receiver.requests) == 1

        traveller.move_to(T0 + timedelta(minutes=1))
        deliver()  # the activation, and the lift right after it
    assert [r.status for r in receiver.requests] == [503, 200, 200]
    assert receiver.events == ["freeze.activated", "freeze.lifted"]  # the last word is the lift
    assert [(payload["data"]["status"], payload["data"]["sequence"]) for payload in receiver.processed.values()] == [
        ("active", 1), ("lifted", 2)]


@pytest.mark.django_db
def test_r7_a_holds_events_reach_the_exchange_in_the_order_they_happened(receiver: Receiver) -> None:
    receiver.answers = [503, 503]  # down when the hold starts, and at the first retry
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        preservation = cast.preservation()
        deliver()  # hold.started: 503
        traveller.move_to(T0 + 10 * SECOND)
        cast.decide(cast.extension(preservation))  # hold.extended
        traveller.move_to(T0 + 20 * SECOND)
        cast.withdraw(preservation)  # hold.lapsed
        deliver()  # both wait for the start
        traveller.move_to(T0 + timedelta(minutes=1))
        deliver()  # hold.started: 503 again; the others still wait, not attempted
        assert [r.status for r in receiver.requests] == [503, 503]
        assert [(w.subject, w.attempts) for w in webhooks()] == [
            ("hold.started", 2), ("hold.extended", 0), ("hold.lapsed", 0)]
        traveller.move_to(T0 + timedelta(minutes=3))
        deliver()
    assert [r.status for r in receiver.requests] == [503, 503, 200, 200, 200]
    assert receiver.events == ["hold.started", "hold.extended", "hold.lapsed"]
    assert [(payload["data"]["status"], payload["data"]["sequence"]) for payload in receiver.processed.values()] == [
        ("active", 1), ("active", 2), ("lapsed", 3)]


@pytest.mark.django_db
def test_r8_a_webhook_is_never_given_up_while_the_exchange_is_down_for_hours(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    """An e-mail is given up after LEORS_OUTBOX_MAX_ATTEMPTS (about two hours); an event of a restriction is
    retried, at most an hour apart, until the exchange takes it, and reported as failing past that limit."""
    receiver.answers = [503] * 11  # six hours down
    with time_machine.travel(T0, tick=False) as traveller:
        freeze = ClockCast().freeze(10)
        [message] = webhooks()
        deliver()
        message.refresh_from_db()
        while receiver.answers:
            assert message.status == OutboxMessage.Status.PENDING, message.attempts
            assert message.next_attempt_at - timezone.now() <= timedelta(hours=1)
            traveller.move_to(message.next_attempt_at)
            deliver()
            message.refresh_from_db()
        traveller.move_to(message.next_attempt_at)  # the exchange is back
        deliver()
        message.refresh_from_db()
        assert timezone.now() - T0 > timedelta(hours=6)
    assert (message.status, message.attempts) == (OutboxMessage.Status.SENT, 12)
    assert message.attempts > policy.outbox_max_attempts()
    assert receiver.events == ["freeze.activated"]
    assert json.loads(receiver.requests[-1].body)["data"]["restriction"]["id"] == freeze.pk
    # Reported as failing for long once past the e-mails' limit, on each attempt.
    failing = [r for r in caplog.records if r.levelname == "ERROR" and "still failing" in r.getMessage()]
    assert len(failing) == 11 - policy.outbox_max_attempts() + 1
