"""R9: assets are returned only on a court order, through steps no one can skip, each recorded.

The cast (tests/cases/recovery_cast.py): the officer who asks, a colleague of theirs, a legal lead, the
reviewer the case is assigned to, a reviewer it is not assigned to, and an auditor.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.models import Approval, AssetReturn, Case, Freeze, RecoveryInstructions, RecoveryOfficial
from cases.services import approvals, recovery, review
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from tests.cases.clock_cast import ClockCast
from tests.cases.recovery_cast import (
    BTC_ADDRESS,
    PARIS_COURT,
    POLICE_LETTER,
    T0,
    TX_HASH,
    RecoveryCast,
    audit_actions,
    confirmation,
    court_order,
)
from tests.factories import four_eyes_activate, submit_case

R9_BLOCKER = r"judicial body \(R9\): a court order naming the issuing court, verified by the reviewer"


@pytest.fixture(autouse=True)
def _clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


# --- The court order -------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("document_type", "issuing_authority"), [
    ("other", "Metropolitan Police Service"),
    ("warrant", "Metropolitan Police Service"),
])
def test_r9_a_recovery_on_a_police_letter_alone_cannot_be_accepted_and_is_declined_with_the_reason(
        document_type: str, issuing_authority: str) -> None:
    cast = RecoveryCast(documents=court_order(document_type=document_type, issuing_authority=issuing_authority,
                                              text=POLICE_LETTER))
    cast.review()  # assigned, checklist complete, the letter itself verified as genuine
    assert cast.legal_process().verified_at is not None
    blockers = review.case_acceptance_blockers(cast.case)
    assert len(blockers) == 1 and "court order naming the issuing court" in blockers[0]
    for decision in (Case.Decision.ACCEPT, Case.Decision.PARTLY_ACCEPT):
        with pytest.raises(ActionRefused, match=R9_BLOCKER):
            cast.decide(decision)
        cast.case.refresh_from_db()
        assert cast.case.status == Case.Status.IN_REVIEW
    case = cast.decide(Case.Decision.DECLINE, reasons=blockers[0])
    assert case.status == Case.Status.DECLINED
    assert "lawful decision of a competent judicial body (R9)" in case.decision_reasons
    assert "law-enforcement agency alone is declined" in case.decision_reasons
    # And nothing of the recovery can start on it.
    with pytest.raises(ActionRefused, match="only after the court order was verified"):
        cast.add_official()


@pytest.mark.django_db
def test_r9_a_court_order_of_a_named_court_must_be_verified_and_then_the_request_can_be_accepted() -> None:
    cast = RecoveryCast()
    cast.review(verify=False)
    with pytest.raises(ActionRefused, match=R9_BLOCKER):
        cast.decide()
    review.case_document_verify(document=cast.legal_process(), actor=cast.staff, now=timezone.now())
    assert review.case_acceptance_blockers(cast.case) == []
    case = cast.decide()
    assert case.status == Case.Status.ACCEPTED
    document = cast.legal_process()
    assert (document.document_type, document.issuing_authority) == ("court_order", PARIS_COURT)


# --- Step by step; none can be skipped -------------------------------------------------------------

@pytest.mark.django_db
def test_r9_no_official_can_be_named_before_the_request_is_accepted() -> None:
    cast = RecoveryCast()
    cast.review()  # in review, court order verified, not yet accepted
    with pytest.raises(ActionRefused, match="only after the court order was verified and the request accepted"):
        cast.add_official()
    assert not RecoveryOfficial.objects.filter(case=cast.case).exists()
    cast.decide()
    official = cast.add_official()
    assert (official.case_id, official.id_checked_at, official.confirmed_at) == (cast.case.pk, None, None)
    assert official.id_sha256 and official.added_by == cast.reviewer
    assert "recovery.official_added" in audit_actions(cast.case, "recovery.")
    # Only the legal team of this case names officials: not the officer, not another reviewer, not an auditor.
    for outsider in (cast.officer.user, cast.other_reviewer, cast.auditor):
        with pytest.raises(ActionRefused):
            recovery.recovery_official_add(case=cast.case, name="Someone Else", title="Inspector",
                                           organisation="Anywhere", id_document=court_order()[0].upload,
                                           actor=Actor(user=outsider), now=timezone.now())
    assert RecoveryOfficial.objects.filter(case=cast.case).count() == 1


@pytest.mark.django_db
def test_r9_only_an_asset_recovery_request_has_recovery_steps() -> None:
    cast = RecoveryCast()
    other = submit_case(cast.officer, now=timezone.now())  # a user-information request
    cast.case = other
    cast.accepted()  # accepted on its warrant: only its type stands in the way
    assert other.status == Case.Status.ACCEPTED
    with pytest.raises(ActionRefused, match="asset-recovery requests only"):
        cast.add_official()
    with pytest.raises(ActionRefused, match="asset-recovery requests only"):
        cast.issue()


@pytest.mark.django_db
def test_r9_a_confirmation_cannot_predate_the_request_it_confirms(_clock: time_machine.Coordinates) -> None:
    """The official's identity and the request itself are confirmed once the request has arrived; a time
    before it is a typing error. The minute the request arrived in counts (times are typed to the minute)."""
    _clock.shift(timedelta(seconds=30))
    cast = RecoveryCast().accepted()
    official = cast.add_official()
    recovery.recovery_official_id_check(official=official, actor=cast.staff, now=timezone.now())
    cast.case.refresh_from_db()
    assert cast.case.submitted_at == T0 + timedelta(seconds=30)
    the_day_before = confirmation(confirmed_at=T0 - timedelta(days=1))

    for confirm in (
        lambda data: recovery.recovery_official_confirm(official=official, data=data, actor=cast.staff,
                                                        now=timezone.now()),
        lambda data: recovery.case_out_of_band_confirm(case=cast.case, data=data, actor=cast.staff,
                                                       now=timezone.now()),
    ):
        with pytest.raises(ValidationError) as refused:
            confirm(the_day_before)
        assert refused.value.message_dict == {"confirmed_at": [
            "The confirmation cannot be before the request was received (2 March 2026 at 09:00 (UTC)): "
            "check the date."]}
        confirm(confirmation(confirmed_at=T0))  # 09:00, typed for a request that arrived at 09:00:30
    official.refresh_from_db()
    assert official.is_verified and cast.case.out_of_band_confirmations.count() == 1


@pytest.mark.django_db
def test_r9_instructions_wait_for_every_official_s_id_check_and_out_of_band_confirmation() -> None:
    cast = RecoveryCast().accepted()
    with pytest.raises(ActionRefused, match="Name the officials"):
        cast.issue()
    official = cast.add_official("Commandant Claire Martin")
    with pytest.raises(ActionRefused, match=r"Verify the identity of every official.*Commandant Claire Martin"):
        cast.issue()

    recovery.recovery_official_id_check(official=official, actor=cast.staff, now=timezone.now())
    with pytest.raises(ActionRefused, match="already checked"):
        recovery.recovery_official_id_check(official=official, actor=cast.staff, now=timezone.now())
    with pytest.raises(ActionRefused, match="Verify the identity of every official"):
        cast.issue()  # the ID document alone is not enough

    # The out-of-band confirmation names who, how, when and where the contact came from.
    future = timezone.now() + timedelta(minutes=5)
    for wrong, field in ((confirmation(confirmed_with=" "), "confirmed_with"),
                         (confirmation(method="carrier_pigeon"), "method"),
                         (confirmation(contact_source="mail"), "contact_source"),
                         (confirmation(confirmed_at=None), "confirmed_at"),
                         (confirmation(confirmed_at=future), "confirmed_at")):
        with pytest.raises(ValidationError) as refused:
            recovery.recovery_official_confirm(official=official, data=wrong, actor=cast.staff, now=timezone.now())
        assert set(refused.value.message_dict) == {field}
    official.refresh_from_db()
    assert official.confirmed_at is None
    with pytest.raises(ActionRefused, match="Verify the identity"):
        cast.issue()

    confirmed = recovery.recovery_official_confirm(official=official, data=confirmation(), actor=cast.staff,
                                                   now=timezone.now())
    assert confirmed.is_verified
    assert (confirmed.confirmation_method, confirmed.confirmation_recorded_by) == ("phone", cast.reviewer)
    assert confirmed.contact_source == "Switchboard number in the ministry's official directory"
    with pytest.raises(ActionRefused, match="already confirmed"):
        recovery.recovery_official_confirm(official=official, data=confirmation(), actor=cast.staff,
                                           now=timezone.now())

    # A second official named later must be verified too.
    second = cast.add_official("Lieutenant Paul Girard")
    with pytest.raises(ActionRefused, match="Lieutenant Paul Girard") as refused:
        cast.issue()
    assert "Claire Martin" not in refused.value.message
    cast.verify_official(second)
    instructions = cast.issue()
    assert instructions.issued_by == cast.reviewer and instructions.acknowledged_at is None
    assert "Claire Martin" in instructions.text and "Paul Girard" in instructions.text
    with pytest.raises(ActionRefused, match="already issued"):
        cast.issue()
    assert audit_actions(cast.case, "recovery.") == [
        "recovery.official_added", "recovery.official_id_checked", "recovery.official_confirmed",
        "recovery.official_added", "recovery.official_id_checked", "recovery.official_confirmed",
        "recovery.instructions_issued"]


@pytest.mark.django_db
def test_r9_the_return_waits_for_the_officer_s_acknowledgement_and_the_request_s_out_of_band_confirmation() -> None:
    cast = RecoveryCast().accepted()
    with pytest.raises(ActionRefused, match="No instructions were issued yet"):
        cast.acknowledge()
    cast.verify_official(cast.add_official())
    with pytest.raises(ActionRefused, match="Written instructions must be issued and acknowledged"):
        cast.request_return()
    cast.issue()

    with pytest.raises(ActionRefused) as refused:
        cast.request_return()
    assert "acknowledged by the officer" in refused.value.message
    assert "confirmed with the agency" in refused.value.message
    assert not Approval.objects.filter(case=cast.case).exists()

    # Only the officers of the case acknowledge: not a colleague of the same agency, not the legal team.
    for someone in (cast.colleague.user, cast.reviewer, cast.lead):
        with pytest.raises(ActionRefused, match="Only the officers of this case"):
            cast.acknowledge(Actor(user=someone))
    assert RecoveryInstructions.objects.get(case=cast.case).acknowledged_at is None

    acknowledged = cast.acknowledge()
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == (cast.officer.user, T0)
    with pytest.raises(ActionRefused, match="already acknowledged"):
        cast.acknowledge()
    with pytest.raises(ActionRefused) as refused:
        cast.request_return()
    assert "confirmed with the agency" in refused.value.message
    assert "acknowledged by the officer" not in refused.value.message

    # The request's own out-of-band confirmation: who, how, when (not in the future), where found.
    with pytest.raises(ValidationError) as invalid:
        recovery.case_out_of_band_confirm(case=cast.case, actor=cast.staff, now=timezone.now(), data=confirmation(
            confirmed_with="", contact_source="", confirmed_at=timezone.now() + timedelta(hours=1)))
    assert set(invalid.value.message_dict) == {"confirmed_with", "contact_source", "confirmed_at"}
    assert not cast.case.out_of_band_confirmations.exists()
    cast.confirm_request()

    approval = cast.request_return()
    assert (approval.action, approval.status, approval.requested_by) == (
        Approval.Action.RETURN_RECORD, Approval.Status.PENDING, cast.reviewer)
    assert not AssetReturn.objects.filter(case=cast.case).exists()  # asked, not yet done


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "overrides"), [
    ("destination_address", {"destination_address": "bc1-not-a-wallet"}),
    ("destination_address", {"destination_address": BTC_ADDRESS[:-1] + "x"}),  # checksum broken
    # EIP-55: one capital of a mixed-case EVM address changed (a return there would be lost).
    ("destination_address", {"destination_address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}),
    ("tx_hash", {"tx_hash": "0x1234"}),
    ("amount", {"amount": "0"}),
    ("amount", {"amount": "-0.5"}),
    ("amount", {"amount": "half a bitcoin"}),
    ("asset", {"asset": " "}),
])
def test_r9_each_wrong_detail_of_the_return_is_named(field: str, overrides: dict[str, str]) -> None:
    values = {"asset": "btc", "amount": "0.5", "destination_address": BTC_ADDRESS, "tx_hash": TX_HASH}
    with pytest.raises(ValidationError) as refused:
        recovery.return_params(**{**values, **overrides})
    assert set(refused.value.message_dict) == {field}
    assert recovery.return_params(**values) == {
        "asset": "BTC", "amount": "0.5", "destination_address": BTC_ADDRESS, "destination_chain": "btc",
        "tx_hash": "ab" * 32}


def test_r9_an_evm_destination_is_recorded_with_its_eip55_capitals_whatever_case_it_was_given_in() -> None:
    values = {"asset": "usdt", "amount": "1200", "tx_hash": TX_HASH}
    for given in ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"):
        params = recovery.return_params(**values, destination_address=given)
        assert (params["destination_address"], params["destination_chain"]) == (
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "eth")


@pytest.mark.django_db
def test_r9_a_wrong_detail_asks_for_nothing() -> None:
    cast = RecoveryCast().ready_for_return()
    with pytest.raises(ValidationError) as refused:
        cast.request_return(amount="0", tx_hash="nope")
    assert set(refused.value.message_dict) == {"amount", "tx_hash"}
    assert not Approval.objects.filter(case=cast.case).exists()


@pytest.mark.django_db
def test_r9_a_recorded_return_stores_its_details_lifts_the_related_freeze_and_fulfils_the_case() -> None:
    clock = ClockCast()
    # The freeze holding the assets, activated earlier by the same officer's freeze request.
    freeze_case = submit_case(clock.officer, request_type="freeze", freeze_duration_days=30, data_requested="",
                              has_non_disclosure_instruction=None,
                              documents=court_order(document_type="freeze_order"))
    clock.decide(freeze_case)
    freeze = four_eyes_activate(case=freeze_case, actor=clock.staff, now=timezone.now())
    assert freeze.status == Freeze.Status.ACTIVE

    cast = RecoveryCast()
    cast.officer = clock.officer
    cast.case = cast.submit(extends_case_reference=freeze_case.reference)
    assert cast.case.extends_case_id == freeze_case.pk
    cast.ready_for_return()
    approval = cast.request_return()

    # The one who asked cannot also approve; nothing is recorded.
    with pytest.raises(ActionRefused, match="You asked for this action"):
        cast.grant(approval, by=cast.reviewer)
    assert not AssetReturn.objects.filter(case=cast.case).exists()

    granted = cast.grant(approval, by=cast.lead)
    record = granted.outcome
    assert isinstance(record, AssetReturn)
    record.refresh_from_db()
    assert (record.asset, record.amount, record.destination_address, record.destination_chain, record.tx_hash) == (
        "BTC", Decimal("0.5"), BTC_ADDRESS, "btc", "ab" * 32)
    assert (record.requested_by, record.approved_by, record.recorded_at) == (cast.reviewer, cast.lead, T0)
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == (Approval.Status.APPROVED, cast.lead)

    freeze.refresh_from_db()
    assert (freeze.status, freeze.lift_reason, freeze.lifted_at) == (
        Freeze.Status.LIFTED, Freeze.LiftReason.COURT_DECISION, T0)
    assert cast.case.reference in freeze.lift_note
    cast.case.refresh_from_db()
    assert cast.case.status == Case.Status.FULFILLED
    assert audit_actions(cast.case, "recovery.return") == ["recovery.return_recorded"]
    assert audit_actions(freeze_case, "freeze.") == ["freeze.activated", "freeze.lifted"]

    # Recorded once: no second return.
    with pytest.raises(ActionRefused, match="already recorded"):
        cast.request_return()
    assert AssetReturn.objects.filter(case=cast.case).count() == 1


@pytest.mark.django_db
def test_r9_a_return_without_a_related_freeze_is_recorded_and_lifts_nothing() -> None:
    other_freeze = ClockCast().freeze(30)  # another officer's freeze: untouched
    cast = RecoveryCast().ready_for_return()
    assert cast.case.extends_case_id is None
    cast.grant(cast.request_return(), by=cast.lead)
    cast.case.refresh_from_db()
    assert cast.case.status == Case.Status.FULFILLED
    other_freeze.refresh_from_db()
    assert other_freeze.status == Freeze.Status.ACTIVE


@pytest.mark.django_db
def test_r9_a_case_on_hold_refuses_every_step() -> None:
    cast = RecoveryCast().accepted()
    verified = cast.verify_official(cast.add_official("Commandant Claire Martin"))
    unchecked = cast.add_official("Lieutenant Paul Girard")
    stale = Case.objects.get(pk=cast.case.pk)  # loaded before the hold, as a request in flight would be

    cast.hold()
    hold = "on hold"
    with pytest.raises(ActionRefused, match=hold):
        recovery.recovery_official_add(case=stale, name="A. Third", title="Inspector", organisation="OCRGDF",
                                       id_document=court_order()[0].upload, actor=cast.staff, now=timezone.now())
    with pytest.raises(ActionRefused, match=hold):
        recovery.recovery_official_id_check(official=RecoveryOfficial.objects.get(pk=unchecked.pk),
                                            actor=cast.staff, now=timezone.now())
    unchecked_stale = RecoveryOfficial.objects.select_related("case").get(pk=unchecked.pk)
    unchecked_stale.case = stale
    with pytest.raises(ActionRefused, match=hold):
        recovery.recovery_official_confirm(official=unchecked_stale, data=confirmation(), actor=cast.staff,
                                           now=timezone.now())
    assert RecoveryOfficial.objects.filter(case=cast.case).count() == 2
    unchecked.refresh_from_db()
    assert (unchecked.id_checked_at, unchecked.confirmed_at) == (None, None)

    # Lift, finish the officials and issue; hold again before the officer acknowledges.
    cast.release_hold()
    cast.verify_official(unchecked)
    assert verified.is_verified
    cast.case = stale
    cast.hold()
    with pytest.raises(ActionRefused, match=hold):
        cast.issue()
    assert not RecoveryInstructions.objects.filter(case=cast.case).exists()
    cast.release_hold()
    cast.issue()
    cast.hold()
    with pytest.raises(ActionRefused, match=hold):
        cast.acknowledge()
    assert RecoveryInstructions.objects.get(case=cast.case).acknowledged_at is None
    cast.release_hold()
    cast.acknowledge()
    cast.confirm_request()
    approval = cast.request_return()

    # On hold with the return asked for: neither a new request nor the approval goes through.
    cast.hold()
    approvals.approval_cancel(approval=approval, actor=cast.staff, now=timezone.now())
    with pytest.raises(ActionRefused, match=hold):
        cast.request_return()
    cast.release_hold()
    approval = cast.request_return()
    cast.hold()
    with pytest.raises(ActionRefused, match=hold):
        cast.grant(approval, by=cast.lead)
    approval.refresh_from_db()
    assert approval.status == Approval.Status.PENDING  # the refused action undid the claim
    assert not AssetReturn.objects.filter(case=cast.case).exists()

    cast.release_hold()
    cast.grant(approval, by=cast.lead)
    assert AssetReturn.objects.filter(case=cast.case).count() == 1


def test_r9_only_a_judicial_body_counts_as_the_issuer_of_the_court_order() -> None:
    from cases.services.review import is_judicial_body

    assert is_judicial_body("Tribunal judiciaire de Paris")
    assert is_judicial_body("Crown Court at Southwark")
    assert is_judicial_body("Amtsgericht Berlin-Tiergarten")
    assert not is_judicial_body("Metropolitan Police Service")
    assert not is_judicial_body("Ministry of the Interior")
    assert not is_judicial_body("")


COURTS = [
    "Cour d'appel de Paris", "Bundesgerichtshof", "Landgericht Berlin", "Rechtbank Amsterdam",
    "Sąd Rejonowy dla Warszawy", "Westminster Magistrates' Court", "Juzgado Central de Instrucción nº 5",
    "Tribunale di Milano", "Edinburgh Sheriff Court", "東京地方裁判所", "北京市第一中级人民法院",
]
# Prosecutors' offices named after the court they sit at, a municipal administration, police forces
# named after a town or after the judiciary, and a ministry: none of them is a court (review finding).
NOT_COURTS = [
    "Procura della Repubblica presso il Tribunale di Milano", "Staatsanwaltschaft bei dem Landgericht Berlin",
    "Generalstaatsanwaltschaft Frankfurt am Main", "Prosecutor's Office attached to the Court of Appeal of Bucharest",
    "Parquet près le Tribunal judiciaire de Paris", "Magistrat der Stadt Wien", "Courtenay RCMP Detachment",
    "Federal Judicial Police, Brussels", "Ministerio de Justicia, Tribunal Supremo liaison office",
    "District Attorney, New York County Court", "北京市人民检察院",
]


@pytest.mark.parametrize("authority", COURTS)
def test_r9_a_court_is_recognised_by_its_name_in_its_own_language(authority: str) -> None:
    from cases.services.review import is_judicial_body

    assert is_judicial_body(authority)


@pytest.mark.parametrize("authority", NOT_COURTS)
def test_r9_a_prosecutor_police_force_or_administration_named_after_a_court_is_not_one(authority: str) -> None:
    from cases.services.review import is_judicial_body

    assert not is_judicial_body(authority)


@pytest.mark.django_db
@pytest.mark.parametrize("authority", ["Procura della Repubblica presso il Tribunale di Milano",
                                       "Federal Judicial Police, Brussels"])
def test_r9_a_prosecutors_or_police_order_alone_cannot_be_accepted_for_a_return(authority: str) -> None:
    with time_machine.travel(T0, tick=False):
        cast = RecoveryCast(documents=court_order(issuing_authority=authority))
        cast.review()
        with pytest.raises(ActionRefused, match="competent judicial body"):
            cast.decide()
    cast.case.refresh_from_db()
    assert cast.case.status == Case.Status.IN_REVIEW
    assert not AssetReturn.objects.filter(case=cast.case).exists()


@pytest.mark.django_db
def test_r9_an_accepted_recovery_offers_no_shortcut_past_the_recorded_return() -> None:
    from django.urls import reverse

    from tests.conftest import signed_in_client

    with time_machine.travel(T0, tick=False):
        cast = RecoveryCast().accepted()
        page = signed_in_client(cast.reviewer).get(reverse("admin:cases_case_change", args=[cast.case.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Add an official" in text  # the recovery's own steps are offered
    assert "Mark fulfilled" not in text  # the service refuses it: a recovery is fulfilled by its recorded return
