"""The risk panel: signals LEORS already holds that a request may be forged, each in words.

No score: every signal says what was seen and why it matters, so the reviewer weighs them. Each
signal is derived when asked, from stored facts (the agency's confirmed domains, out-of-band
confirmations, the officer's sign-ins and requests, other agencies' cases, the documents).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

from cases.models import Case, CaseDocument
from cases.selectors import related_cases_for
from leors.access.models import AccessApplication, AgencyDomain, KnownDevice, Officer

NEW_ACCOUNT_DAYS = 30
RECENT_DEVICE_DAYS = 14
VOLUME_WINDOW_DAYS = 7
VOLUME_HISTORY_DAYS = 90
VOLUME_FACTOR = 3
VOLUME_MINIMUM = 3


@dataclass(frozen=True)
class RiskSignal:
    key: str
    level: str  # "warning": look closer; "ok": a reassuring fact on record
    text: str


def _domain_signal(officer: Officer) -> RiskSignal:
    domain = officer.user.email.rsplit("@", 1)[-1].lower()
    confirmed = AgencyDomain.objects.filter(agency=officer.agency, domain=domain).select_related("confirmed_by").first()
    if confirmed is None:
        return RiskSignal("domain", "warning", f"The officer's e-mail domain {domain} is not confirmed for "
                                               f"{officer.agency.name}: their mailbox may not belong to the body.")
    by = f" by {confirmed.confirmed_by}" if confirmed.confirmed_by else ""
    return RiskSignal("domain", "ok", f"The domain {domain} was confirmed for {officer.agency.name} on "
                                      f"{confirmed.confirmed_at:%d %B %Y}{by}.")


def _out_of_band_signal(officer: Officer, case: Case | None) -> RiskSignal:
    application = (AccessApplication.objects.filter(pk=officer.application_id).first()
                   if officer.application_id else None)
    parts = []
    if application is not None and application.supervisor_confirmed_at:
        parts.append(f"at vetting, {application.supervisor_confirmed_with} confirmed the officer by "
                     f"{application.get_supervisor_confirmation_method_display().lower()} on "
                     f"{application.supervisor_confirmed_at:%d %B %Y}")
    if case is not None:
        for confirmation in case.out_of_band_confirmations.all():
            parts.append(f"for this request, {confirmation.confirmed_with} confirmed it by "
                         f"{confirmation.get_method_display().lower()} on {confirmation.confirmed_at:%d %B %Y}")
    if not parts:
        return RiskSignal("out_of_band", "warning", "No confirmation through a contact found independently is on "
                                                    "record for this officer or request.")
    return RiskSignal("out_of_band", "ok", "Out-of-band confirmation on record: " + "; ".join(parts) + ".")


def _account_age_signal(officer: Officer, now: datetime) -> RiskSignal | None:
    age = (now - officer.approved_at).days
    if age < NEW_ACCOUNT_DAYS:
        return RiskSignal("account_age", "warning", f"The officer's access was approved {age} day(s) ago: a new "
                                                    "account has no history to compare with.")
    return None


def _new_network_signal(officer: Officer, now: datetime) -> RiskSignal | None:
    devices = list(KnownDevice.objects.filter(user=officer.user).order_by("first_seen_at"))
    recent = [d for d in devices[1:] if d.first_seen_at >= now - timedelta(days=RECENT_DEVICE_DAYS)]
    if not recent:
        return None
    described = ", ".join(f"{d.network} on {d.first_seen_at:%d %B}" for d in recent)
    return RiskSignal("new_network", "warning", f"Signed in from a browser or network not seen before: {described}. "
                                                "A taken-over mailbox or account often shows this way.")


def _volume_signal(officer: Officer, now: datetime) -> RiskSignal | None:
    window_start = now - timedelta(days=VOLUME_WINDOW_DAYS)
    counts = Case.objects.filter(submitted_by=officer.user, submitted_at__gte=now - timedelta(days=VOLUME_HISTORY_DAYS)
                                 ).aggregate(recent=Count("pk", filter=Q(submitted_at__gte=window_start)),
                                             history=Count("pk", filter=Q(submitted_at__lt=window_start)))
    recent, history = counts["recent"], counts["history"]
    usual = history / ((VOLUME_HISTORY_DAYS - VOLUME_WINDOW_DAYS) / VOLUME_WINDOW_DAYS)
    # At least VOLUME_MINIMUM, and at least VOLUME_FACTOR times the usual week (">" made the minimum of
    # three unreachable: with a quiet history three requests were never a burst, only four were).
    if recent >= VOLUME_MINIMUM and recent >= VOLUME_FACTOR * max(usual, 1):
        return RiskSignal("volume", "warning", f"{recent} requests in the last {VOLUME_WINDOW_DAYS} days against a "
                                               f"usual {usual:.1f} a week: a sudden burst is a pattern of misuse.")
    return None


def _other_agency_signal(case: Case, related: Iterable[Case]) -> RiskSignal | None:
    others = [c for c in related if c.agency_id != case.agency_id]
    if not others:
        return None
    described = ", ".join(f"{c.reference} ({c.agency.name})" for c in others[:5])
    return RiskSignal("other_agency", "warning", f"The same subject is in requests of other agencies: {described}. "
                                                 "Check that the requests are consistent.")


# Words any body or court may bear: sharing one of these says nothing about who issued a document
# (a Met Police officer's document "issued by the Nigeria Police Force" shares "police" and nothing else).
GENERIC_WORDS = frozenset({
    "police", "force", "service", "court", "courts", "tribunal", "judicial", "judiciaire", "justice", "national",
    "federal", "state", "regional", "district", "county", "city", "central", "general", "department", "office",
    "ministry", "bureau", "agency", "public", "prosecutor", "prosecution", "criminal", "investigation", "high",
    "supreme", "superior", "first", "instance", "polizei", "policía", "policia", "gendarmerie", "nationale",
})


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-zà-ÿ]{4,}", text.lower())) - GENERIC_WORDS


def _issuer_signal(case: Case, documents: Iterable[CaseDocument]) -> RiskSignal | None:
    agency = case.agency
    known = _words(agency.name) | _words(agency.jurisdiction) | _words(str(agency.country.name))  # type: ignore[attr-defined]
    mismatched = [d for d in documents if d.role == CaseDocument.Role.LEGAL_PROCESS
                  and d.issuing_authority and not (_words(d.issuing_authority) & known)]
    if not mismatched:
        return None
    described = "; ".join(f"“{d.original_name}” issued by {d.issuing_authority}" for d in mismatched)
    return RiskSignal("issuer", "warning", f"Documents whose issuing authority is not the officer's body "
                                           f"({agency.name}, {agency.jurisdiction}): {described}. Check how the "
                                           "body relates to the issuer.")


def officer_risk_signals(*, officer: Officer, now: datetime) -> list[RiskSignal]:
    signals = [_domain_signal(officer), _out_of_band_signal(officer, None), _account_age_signal(officer, now),
               _new_network_signal(officer, now), _volume_signal(officer, now)]
    return [signal for signal in signals if signal is not None]


def case_risk_signals(*, case: Case, now: datetime, related: Iterable[Case] | None = None,
                      documents: Iterable[CaseDocument] | None = None) -> list[RiskSignal]:
    """The signals of a request; `related` (`related_cases_for`) and `documents` (the case's), when the page
    read them already."""
    officer = case.officer
    if officer.agency_id == case.agency_id and Case.agency.is_cached(case):
        officer.agency = case.agency  # the same agency, read with the case: not read again
    signals = [_domain_signal(officer), _out_of_band_signal(officer, case), _account_age_signal(officer, now),
               _new_network_signal(officer, now), _volume_signal(officer, now),
               _other_agency_signal(case, related_cases_for(case=case) if related is None else related),
               _issuer_signal(case, case.documents.all() if documents is None else documents)]
    return [signal for signal in signals if signal is not None]
