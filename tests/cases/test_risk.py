"""Forged-request resistance: the risk panel. Each signal is a fact LEORS holds, said in words; each
appears when the fact is there and disappears when it is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import Case
from cases.risk import RiskSignal, case_risk_signals, officer_risk_signals
from cases.services.intake import IdentifierInput
from leors import policy
from leors.access.models import AgencyDomain, Officer
from leors.access.services import signin_device_record
from leors.core.audit import Actor
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import (
    AgencyFactory,
    approved_officer,
    confirm_out_of_band,
    document_input,
    make_lead,
    make_user,
    submit_case,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
OTHER_WALLET = "0x8617E340B3D01FA5F11F306F4090FD50E238070D"


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def signals(officer: Officer) -> dict[str, RiskSignal]:
    return {signal.key: signal for signal in officer_risk_signals(officer=officer, now=timezone.now())}


def case_signals(case: Case) -> dict[str, RiskSignal]:
    return {signal.key: signal for signal in case_risk_signals(case=case, now=timezone.now())}


def warnings(found: dict[str, RiskSignal]) -> set[str]:
    return {key for key, signal in found.items() if signal.level == "warning"}


def request(officer: Officer, *, wallet: str = WALLET, issuing_authority: str = "Crown Court at Southwark",
            **overrides: Any) -> Case:
    documents = [document_input(pdf_with_text(ENGLISH_WARRANT), name="warrant.pdf",
                                issuing_authority=issuing_authority)]
    return submit_case(officer, now=timezone.now(), identifiers=[IdentifierInput(kind="wallet", value=wallet)],
                       documents=documents, **overrides)


def unvetted_officer() -> Officer:
    """An officer created without the vetting path (no application, no supervisor confirmation)."""
    agency = AgencyFactory(name="Landeskriminalamt Berlin", jurisdiction="Land Berlin")
    user = make_user(email="k.weber@lka.berlin.example.de")
    return Officer.objects.select_related("user", "agency").get(pk=Officer.objects.create(
        user=user, agency=agency, approved_at=timezone.now(),
        access_expires_at=timezone.now() + policy.access_validity()).pk)


# --- E-mail domain ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r3_risk_the_email_domain_is_a_warning_until_confirmed_for_the_agency(clock: time_machine.Coordinates) -> None:
    officer = approved_officer()
    domain = officer.user.email.rsplit("@", 1)[1]
    confirmed = signals(officer)["domain"]
    assert confirmed.level == "ok"
    assert domain in confirmed.text and officer.agency.name in confirmed.text and "02 March 2026" in confirmed.text

    AgencyDomain.objects.filter(agency=officer.agency, domain=domain).delete()
    unconfirmed = signals(officer)["domain"]
    assert unconfirmed.level == "warning"
    assert f"{domain} is not confirmed for {officer.agency.name}" in unconfirmed.text
    # Confirmed for another agency is not confirmed for this one.
    AgencyDomain.objects.create(agency=AgencyFactory(), domain=domain, confirmed_at=timezone.now())
    assert signals(officer)["domain"].level == "warning"


# --- Out-of-band confirmations ------------------------------------------------------------------------

@pytest.mark.django_db
def test_r3_risk_an_officer_confirmed_by_nobody_out_of_band_is_a_warning(clock: time_machine.Coordinates) -> None:
    vetted = signals(approved_officer())["out_of_band"]
    assert vetted.level == "ok"
    assert "Chief Inspector R. Hale" in vetted.text and "at vetting" in vetted.text

    officer = unvetted_officer()
    unconfirmed = signals(officer)["out_of_band"]
    assert unconfirmed.level == "warning"
    assert "No confirmation through a contact found independently" in unconfirmed.text

    # A confirmation of the request itself is on record for that case.
    case = request(officer)
    assert case_signals(case)["out_of_band"].level == "warning"
    confirm_out_of_band(case, actor=Actor(user=make_lead()), now=timezone.now())
    confirmed = case_signals(case)["out_of_band"]
    assert confirmed.level == "ok"
    assert "for this request, Duty officer, operations desk confirmed it" in confirmed.text
    assert signals(officer)["out_of_band"].level == "warning"  # the officer as such is still unconfirmed


# --- Account age --------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r3_risk_a_new_account_is_a_warning_for_its_first_thirty_days(clock: time_machine.Coordinates) -> None:
    officer = approved_officer()
    new = signals(officer)["account_age"]
    assert new.level == "warning" and "approved 0 day(s) ago" in new.text
    clock.move_to(T0 + 29 * DAY)
    assert "approved 29 day(s) ago" in signals(officer)["account_age"].text
    clock.move_to(T0 + 31 * DAY)
    assert "account_age" not in signals(officer)


# --- Sign-ins from a new network ----------------------------------------------------------------------

@pytest.mark.django_db
def test_r12_risk_a_sign_in_from_a_new_network_is_a_warning_for_fourteen_days(
        clock: time_machine.Coordinates) -> None:
    officer = approved_officer()
    user = officer.user
    signin_device_record(user=user, ip="203.0.113.5", user_agent="Firefox/125", now=timezone.now())
    assert "new_network" not in signals(officer)  # the first device ever is no news
    clock.move_to(T0 + 3 * DAY)
    signin_device_record(user=user, ip="203.0.113.77", user_agent="Firefox/125", now=timezone.now())  # same /24
    assert "new_network" not in signals(officer)
    clock.move_to(T0 + 5 * DAY)
    signin_device_record(user=user, ip="198.51.100.20", user_agent="Firefox/125", now=timezone.now())
    new = signals(officer)["new_network"]
    assert new.level == "warning"
    assert "198.51.100.0/24 on 07 March" in new.text and "203.0.113" not in new.text
    clock.move_to(T0 + 5 * DAY + 14 * DAY - timedelta(minutes=1))
    assert "new_network" in signals(officer)
    clock.move_to(T0 + 5 * DAY + 15 * DAY)
    assert "new_network" not in signals(officer)


# --- Request volume -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r3_risk_a_burst_of_requests_against_a_quiet_history_is_a_warning(clock: time_machine.Coordinates) -> None:
    officer = approved_officer()
    request(officer)
    clock.move_to(T0 + 2 * DAY)
    request(officer)
    assert "volume" not in signals(officer)  # two in a week
    clock.move_to(T0 + 4 * DAY)
    request(officer)
    burst = signals(officer)["volume"]
    assert burst.level == "warning"
    assert "3 requests in the last 7 days against a usual 0.0 a week" in burst.text
    clock.move_to(T0 + 8 * DAY)  # the first of the three has left the window
    assert "volume" not in signals(officer)


@pytest.mark.django_db
def test_r3_risk_requests_spread_out_or_in_line_with_the_history_are_no_burst(clock: time_machine.Coordinates) -> None:
    officer = approved_officer()
    for week in range(12):  # one a week for twelve weeks: a usual week of about one
        clock.move_to(T0 + week * 7 * DAY)
        request(officer)
        assert "volume" not in signals(officer)
    clock.move_to(T0 + 12 * 7 * DAY)
    for day in range(3):  # three in one week against about one a week: not three times more
        clock.move_to(T0 + 12 * 7 * DAY + day * DAY)
        request(officer)
    assert "volume" not in signals(officer)
    request(officer)  # a fourth: now it is
    assert "4 requests in the last 7 days" in signals(officer)["volume"].text


# --- The same subject asked by another agency ---------------------------------------------------------

@pytest.mark.django_db
def test_r3_risk_the_same_subject_requested_by_another_agency_is_a_warning(clock: time_machine.Coordinates) -> None:
    officer = approved_officer()
    colleague = approved_officer()  # same agency
    berlin = approved_officer(body_name="Polizei Berlin", country="DE", jurisdiction="Berlin",
                              official_email="m.schulz@polizei.berlin.example.de",
                              supervisor_email="chef@polizei.berlin.example.de")
    assert colleague.agency == officer.agency and berlin.agency != officer.agency
    case = request(officer)
    request(berlin, wallet=OTHER_WALLET)
    request(colleague)
    assert "other_agency" not in case_signals(case)  # only the own agency asked about this wallet

    berlin_case = request(berlin)
    found = case_signals(case)["other_agency"]
    assert found.level == "warning"
    assert f"{berlin_case.reference} (Polizei Berlin)" in found.text
    assert officer.agency.name not in found.text
    assert f"{case.reference} ({officer.agency.name})" in case_signals(berlin_case)["other_agency"].text


# --- Documents of another issuer ----------------------------------------------------------------------

@pytest.mark.django_db
def test_r3_risk_a_document_whose_issuer_is_not_the_officer_s_body_is_a_warning(
        clock: time_machine.Coordinates) -> None:
    officer = approved_officer()  # Metropolitan Police Service, Greater London, GB
    matching = request(officer, issuing_authority="Metropolitan Police Service, Greater London")
    assert "issuer" not in case_signals(matching)
    # A body sharing only a generic word ("police") with the officer's is another body.
    foreign = request(officer, issuing_authority="Nigeria Police Force")
    found = case_signals(foreign)["issuer"]
    assert found.level == "warning"
    assert "“warrant.pdf” issued by Nigeria Police Force" in found.text
    assert "Metropolitan Police Service, Greater London" in found.text
    assert warnings(case_signals(matching)) == warnings(case_signals(foreign)) - {"issuer"}


@pytest.mark.django_db
def test_r3_risk_the_signals_of_a_case_read_with_its_agency_do_not_read_the_officers_agency_again(
        clock: time_machine.Coordinates) -> None:
    """The officer's agency is the case's: read with the case, it is not read again (the staff case page)."""
    officer = approved_officer()
    case = Case.objects.select_related("agency", "officer__user").get(pk=request(officer).pk)
    with CaptureQueriesContext(connection) as read:
        found = {signal.key: signal for signal in case_risk_signals(case=case, now=timezone.now(), related=[],
                                                                    documents=[])}
    assert officer.agency.name in found["domain"].text
    assert not any('FROM "access_agency"' in query["sql"] for query in read.captured_queries)
