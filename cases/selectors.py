"""Reads for cases. Access is one call: a case a user may not see is the same 404 as no case.

The `*_get_for` selectors raise the same 404 for both; a refusal of something that exists is also
written to the audit trail ("access.denied", through `leors.core.permissions.access_denied`), once,
on the object asked for (the document or production, not the case behind it). List selectors
filter silently: not being shown a thing in a list is not a refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.text import smart_split, unescape_string_literal

from cases.identifiers import identifier_normalize
from cases.models import (
    Case,
    CaseDocument,
    CaseGroupObjectPermission,
    CaseMessage,
    CaseUserObjectPermission,
    Production,
    RequestType,
    SubjectIdentifier,
)
from leors.core.audit import audit_history_for
from leors.core.models import AuditEvent
from leors.core.permissions import access_denied, objects_for_direct, user_holds_object_perm, user_may

PERM_VIEW_CASE = "cases.view_case"
# Asked for an internal note's attachment or an unreleased production: staff-only even on a visible case.
PERM_VIEW_STAFF_ONLY_DOCUMENT = "cases.view_casedocument"
PERM_VIEW_UNRELEASED_PRODUCTION = "cases.view_production"

# What the officer's timeline shows of the audit trail, in words; everything else is staff-only.
OFFICER_TIMELINE = {
    "case.submitted": "Request submitted",
    "case.assigned": "Review started",
    "case.information_requested": "The legal team asked for more information",
    "case.answered": "Answer received",
    "case.message_posted": "Message",
    "case.decided": "Decision recorded",
    "case.production_released": "Production released",
    "production.downloaded": "Production downloaded",
    "case.fulfilled": "Fulfilled",
    "case.closed": "Closed",
    "case.withdrawn": "Withdrawn",
    "case.shared": "Shared with a colleague",
    "hold.started": "Preservation started",
    "hold.extended": "Preservation extended",
    "hold.lapsed": "Preservation ended",
    "hold.ended": "Preservation ended",
    "freeze.activated": "Freeze activated",
    "freeze.extended": "Freeze extended by a further order",
    "freeze.lifted": "Freeze lifted",
    "freeze.order_served": "Further order carried out: it kept the freeze in force for its whole period",
    "recovery.instructions_issued": "Instructions for the return issued",
    "recovery.instructions_acknowledged": "Instructions acknowledged",
    "recovery.return_recorded": "Return of assets recorded",
}


def case_list_for(*, user: Any) -> QuerySet[Case]:
    """Every case for legal leads and auditors; otherwise the cases the user holds view permission on
    (their own, shared with them, their agency's as a supervisor, assigned to them as a reviewer) — for
    officers, none on hold (R3: frozen from view)."""
    if _may_see_every_case(user):
        return _case_base()
    cases = objects_for_direct(user, PERM_VIEW_CASE, _case_base(), user_permissions=CaseUserObjectPermission,
                               group_permissions=CaseGroupObjectPermission)
    return cases if user.is_staff else cases.filter(on_hold_at__isnull=True)


def _frozen_from_view(user: Any, case: Case) -> bool:
    """R3: a case put on hold when its officer was suspended on suspicion of impersonation is frozen from
    the officers' view — colleagues it was shared with and the agency's supervisors included — until a
    legal lead lifts the hold; staff go on seeing it."""
    return case.on_hold_at is not None and not user.is_staff


def _case_base() -> QuerySet[Case]:
    return Case.objects.select_related("agency", "officer__user", "assigned_to")


def _may_see_every_case(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff
                and user.has_perm("cases.view_all_cases"))


def case_get_for(*, user: Any, reference: str | None = None, pk: int | None = None, perm: str | None = None) -> Case:
    """The case, if the user may see it (and, when `perm` is given, may do that to it); else 404.

    A case that exists but is refused is audited (once) before the 404; a missing one is not.
    One case is read by its key, then checked: the same answer as `case_list_for`, whose visibility
    it shares (`_may_see_every_case`, view permission held on the case), without listing every case
    the user may see; the case's permissions read for it answer the later checks of the request.
    """
    lookup: dict[str, Any] = {"reference": reference} if reference is not None else {"pk": pk}
    case = _case_base().filter(**lookup).first()
    if case is None:
        raise Http404("No such case.")
    visible = _may_see_every_case(user) or (
        user_holds_object_perm(user, PERM_VIEW_CASE, case) and not _frozen_from_view(user, case))
    if visible and (perm is None or user_may(user, perm, case)):
        return case
    access_denied(user=user, obj=case, perm=perm or PERM_VIEW_CASE)
    raise Http404("No such case.")


def _case_is_visible(*, user: Any, case_id: int) -> bool:
    # For the document and production selectors: the refusal is recorded on what was asked for.
    return case_list_for(user=user).filter(pk=case_id).exists()


@dataclass(frozen=True, slots=True)
class CaseListRow:
    """A row of the officers' list of cases (jinja_templates/cases/_case_results.html): the seven fields it
    shows, read alone — a case row is wide (request text, checklist, decision) — and as values, not as a
    case, its officer and their user (three model objects a row, a third of the list's read; benchmarks, P1)."""

    reference: str
    title: str
    request_type: str
    status: str
    submitted_at: datetime
    case_reference: str
    officer_user_id: int
    officer_email: str

    # As the model's get_…_display: a stored value that is no longer a choice is shown as it is.
    @property
    def request_type_label(self) -> str:
        return str(_REQUEST_TYPE_LABELS.get(self.request_type, self.request_type))

    @property
    def status_label(self) -> str:
        return str(_STATUS_LABELS.get(self.status, self.status))


_REQUEST_TYPE_LABELS, _STATUS_LABELS = dict(RequestType.choices), dict(Case.Status.choices)


CASE_LIST_COLUMNS = ("reference", "title", "request_type", "status", "submitted_at", "case_reference",
                     "officer__user_id", "officer__user__email")
CASE_LIST_ORDER = ("-submitted_at", "-pk")  # newest first


def case_search_for(*, user: Any, query: str = "", status: str = "", request_type: str = "") -> QuerySet[Case]:
    """The officers' list: the cases the user may see (`case_list_for`), filtered, newest first.
    The view pages its keys; `case_list_rows` reads a page's rows as the list shows them."""
    cases = case_list_for(user=user).select_related(None)
    if status:
        cases = cases.filter(status=status)
    if request_type:
        cases = cases.filter(request_type=request_type)
    query = query.strip()
    if query:
        # A subject typed in another form (spaces in a phone number, an address in capitals) is
        # normalized the way intake normalized it.
        normalized = {query} | {value for _kind, value in subject_forms(term=query)}
        cases = cases.filter(_in_case_or_its_subjects(
            query, subject=Q(normalized__in=normalized) | Q(value__icontains=query)))
    return cases.order_by(*CASE_LIST_ORDER)


def subject_forms(*, term: str) -> list[tuple[str, str]]:
    """The subjects `term` may be, as (kind, normalized) pairs: normalized as intake normalizes each
    kind of identifier, for each kind that accepts it (a phone number with dashes or brackets, as on a
    letterhead, is the stored "+442079460018")."""
    forms = []
    for kind in SubjectIdentifier.Kind.values:
        try:
            forms.append((kind, identifier_normalize(kind=kind, value=term).normalized))
        except ValidationError:
            continue
    return forms


def case_keys_matching(*, term: str) -> QuerySet[Any] | None:
    """The keys of the cases the staff's search for `term` finds; None when there is no term.

    A case is found when each word of the term is in its reference, its title, the agency's own
    reference or one of its subjects (as normalized; the words may be in different subjects), words
    split as Django's admin splits them; or when the whole term, normalized (`subject_forms`), is one
    of its subjects.

    Every read starts from an index. The longest word finds the candidates: the trigram indexes of
    cases.0009 on the case's columns, UNION those on the subjects. The other words are checked on the
    candidates alone: a word of one or two letters ("+44 20 7946 0018") has no trigram, and would
    match most cases if it were looked up. The normalized subject is found by the subjects' lookup
    index. Django's own admin search ORs the fields across a join of every case to its subjects,
    which PostgreSQL can only scan and de-duplicate: 1.5 s for a wallet at 100,000 cases (benchmarks, P1).
    """
    term = term.strip()
    if not term:
        return None
    longest, *others = sorted(_search_words(term), key=len, reverse=True)
    # UNION ALL: the keys are compared with IN, which repeats no case.
    candidates = Case.objects.filter(_in_case_columns(longest)).order_by().values("pk").union(
        SubjectIdentifier.objects.filter(normalized__icontains=longest).values("case_id"), all=True)
    matching = Case.objects.order_by().filter(pk__in=candidates)
    for word in others:
        matching = matching.filter(_in_case_or_its_subjects(word, subject=Q(normalized__icontains=word)))
    keys = matching.values("pk")
    forms = subject_forms(term=term)
    if not forms:
        return keys
    subject = Q.create([Q(kind=kind, normalized=normalized) for kind, normalized in forms], connector=Q.OR)
    return keys.union(SubjectIdentifier.objects.filter(subject).values("case_id"), all=True)


def _search_words(term: str) -> list[str]:
    # As Django's admin splits a search: by spaces, a quoted phrase kept whole.
    return [unescape_string_literal(bit) if bit[0] in "\"'" and bit[0] == bit[-1] and len(bit) > 1 else bit
            for bit in smart_split(term)]


def _in_case_columns(fragment: str) -> Q:
    return Q(reference__icontains=fragment) | Q(title__icontains=fragment) | Q(case_reference__icontains=fragment)


def _in_case_or_its_subjects(fragment: str, *, subject: Q) -> Q:
    """`fragment` in the case's columns, or a subject of the case's own matching `subject`. The subjects
    are looked for among each case's (an index on the case): no join, so no case repeats, and neither
    the list nor its count de-duplicates."""
    return _in_case_columns(fragment) | Q(Exists(SubjectIdentifier.objects.filter(subject, case=OuterRef("pk"))))


def case_list_rows(keys: QuerySet[Any]) -> list[CaseListRow]:
    """The officers' list as shown, for a page of `case_search_for`'s keys (a subquery of them, which
    carries its permission filter): the list's columns, its officers, in its order."""
    return [CaseListRow(*values) for values in
            Case.objects.filter(pk__in=keys).order_by(*CASE_LIST_ORDER).values_list(*CASE_LIST_COLUMNS)]


def case_messages_for(*, user: Any, case: Case) -> QuerySet[CaseMessage]:
    """Internal notes are for the legal team only."""
    messages = case.messages.select_related("author").prefetch_related("attachments")
    return messages if user.is_staff else messages.filter(is_internal=False)


def case_timeline_for_officer(*, case: Case, released: list[Production] | None = None) -> list[tuple[AuditEvent, str]]:
    """What the officer's side sees of the trail; `released`: the case's released productions, when
    the caller has read them already."""
    return [(event, OFFICER_TIMELINE[event.action]) for event in _case_events(case, released)
            if event.action in OFFICER_TIMELINE]


def _case_events(case: Case, released: list[Production] | None = None) -> list[AuditEvent]:
    events = audit_history_for(case)
    # Downloads of released productions by the officers' side only: staff opening a file before
    # release is nothing the officer should see.
    if released is None:
        released = list(case.productions.filter(released_at__isnull=False))
    production_ids = [str(production.pk) for production in released if production.released_at is not None]
    if production_ids:
        events += list(AuditEvent.objects.filter(object_type="cases.production", object_id__in=production_ids)
                       .exclude(actor__is_staff=True))
    return sorted(events, key=lambda event: event.pk)


def related_cases_for(*, case: Case, subjects: Iterable[tuple[str, str]] | None = None) -> QuerySet[Case]:
    """Other cases, from any agency, about the same subject (staff only: never shown to officers); `subjects`, the
    case's (kind, normalized) pairs, when the caller read them already."""
    subjects = list(case.subjects.values_list("kind", "normalized") if subjects is None else subjects)
    if not subjects:
        return Case.objects.none()
    match = Q()
    for kind, normalized in subjects:
        match |= Q(kind=kind, normalized=normalized)
    case_ids = SubjectIdentifier.objects.filter(match).exclude(case=case).values("case_id")
    return Case.objects.filter(pk__in=case_ids).select_related("agency").order_by("-submitted_at")


def case_document_get_for(*, user: Any, document_id: int) -> CaseDocument:
    """The document, if the user may see its case (an internal note's attachment: staff only); else 404."""
    document = CaseDocument.objects.select_related("case", "message").filter(pk=document_id).first()
    if document is None:
        raise Http404("No such document.")
    if not _case_is_visible(user=user, case_id=document.case_id):
        access_denied(user=user, obj=document, perm=PERM_VIEW_CASE)
        raise Http404("No such document.")
    if document.message is not None and document.message.is_internal and not user.is_staff:
        access_denied(user=user, obj=document, perm=PERM_VIEW_STAFF_ONLY_DOCUMENT)
        raise Http404("No such document.")
    return document


def production_get_for(*, user: Any, production_id: int) -> Production:
    """Officers see only released productions of cases they may see; staff see all of a visible case."""
    production = Production.objects.select_related("case").filter(pk=production_id).first()
    if production is None:
        raise Http404("No such production.")
    if not _case_is_visible(user=user, case_id=production.case_id):
        access_denied(user=user, obj=production, perm=PERM_VIEW_CASE)
        raise Http404("No such production.")
    if not user.is_staff and production.released_at is None:
        access_denied(user=user, obj=production, perm=PERM_VIEW_UNRELEASED_PRODUCTION)
        raise Http404("No such production.")
    return production


def productions_for(*, user: Any, case: Case) -> QuerySet[Production]:
    productions = case.productions.all()
    return productions if user.is_staff else productions.filter(released_at__isnull=False)


def exchange_subjects(case_id: int) -> list[dict[str, str]]:
    """The subjects of a restriction's case as the exchange receives them (webhooks and the feed)."""
    return exchange_subjects_of([case_id])[case_id]


def exchange_subjects_of(case_ids: Iterable[int]) -> dict[int, list[dict[str, str]]]:
    """`exchange_subjects` of many cases in one query (a sweep's batch, a page of the feed), by case id.

    Read as values: a prefetch builds a manager and a queryset for each case, a seventh of the time a
    sweep takes to lift a batch of freezes (benchmarks, P2)."""
    subjects: dict[int, list[dict[str, str]]] = {case_id: [] for case_id in case_ids}
    rows = (SubjectIdentifier.objects.filter(case_id__in=list(subjects)).order_by("case_id", "pk")
            .values_list("case_id", "kind", "normalized", "chain"))
    for case_id, kind, normalized, chain in rows:
        subjects[case_id].append({"kind": kind, "value": normalized, "chain": chain})
    return subjects
