"""Property: the HTTP answer of the case page and of a document download agrees with the
permission model, for random users and cases, before and right after a permission change.

The model, written from DESIGN.md (not from the code): a case is visible to the officer who made it,
to colleagues it was shared with, to the supervisors of its agency, to the reviewer it is assigned
to, and to every legal lead and auditor; to no one else. The object permissions stored by guardian
must say the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import get_perms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.models import Case
from cases.selectors import case_list_for
from cases.services import correspondence, review
from leors.access import services as access_services
from leors.access.models import Officer, User
from leors.core.audit import Actor
from leors.core.permissions import objects_for, user_holds_object_perm
from tests.conftest import signed_in_client
from tests.factories import approved_officer, make_auditor, make_lead, make_reviewer, submit_case
from tests.security.world import outsider_overrides

USERS = ("a_owner", "a_colleague", "a_supervisor", "b_owner", "b_supervisor", "reviewer_1", "reviewer_2", "lead",
         "auditor")
CASES = ("a_shared_assigned", "a_private", "a_colleague_case", "b_assigned")
CHANGES = ("none", "share", "assign", "make_supervisor", "end_supervisor")


@dataclass
class CaseFacts:
    case: Case
    owner: str
    agency: str
    shared_with: set[str] = field(default_factory=set)
    assigned_to: str | None = None


@dataclass
class Model:
    users: dict[str, User]
    officers: dict[str, Officer]
    agency_of: dict[str, str]
    supervisors: set[str]
    cases: dict[str, CaseFacts]
    clients: dict[str, Client]
    lead: User

    def may_see(self, user: str, facts: CaseFacts, supervisors: set[str]) -> bool:
        if user in ("lead", "auditor"):
            return True
        if user.startswith("reviewer"):
            return facts.assigned_to == user
        return (user == facts.owner or user in facts.shared_with
                or (user in supervisors and self.agency_of[user] == facts.agency))


@pytest.fixture
def model() -> Model:
    lead = make_lead()
    officers = {
        "a_owner": approved_officer(lead=lead), "a_colleague": approved_officer(lead=lead),
        "a_supervisor": approved_officer(lead=lead), "b_owner": approved_officer(lead=lead, **outsider_overrides()),
    }
    officers["b_supervisor"] = approved_officer(lead=lead, **outsider_overrides())
    assert officers["b_supervisor"].agency_id == officers["b_owner"].agency_id != officers["a_owner"].agency_id
    now = timezone.now()
    for name in ("a_supervisor", "b_supervisor"):
        access_services.officer_supervisor_set(officer=officers[name], is_supervisor=True, actor=Actor(user=lead),
                                               now=now)
    users: dict[str, User] = {name: officer.user for name, officer in officers.items()}
    users.update(reviewer_1=make_reviewer(), reviewer_2=make_reviewer(), lead=lead, auditor=make_auditor())

    def case_of(owner: str, *, share: str | None = None, assign: str | None = None) -> CaseFacts:
        case = submit_case(officers[owner])
        facts = CaseFacts(case=case, owner=owner, agency=owner[0])
        if share:
            correspondence.case_share(case=case, colleague_email=users[share].email,
                                      actor=Actor(user=users[owner]), now=now)
            facts.shared_with.add(share)
        if assign:
            review.case_assign(case=case, reviewer=users[assign], actor=Actor(user=lead), now=now)
            facts.assigned_to = assign
        return facts

    cases = {
        "a_shared_assigned": case_of("a_owner", share="a_colleague", assign="reviewer_1"),
        "a_private": case_of("a_owner"),
        "a_colleague_case": case_of("a_colleague", assign="reviewer_2"),
        "b_assigned": case_of("b_owner", assign="reviewer_1"),
    }
    return Model(users=users, officers=officers, agency_of={name: name[0] for name in officers},
                 supervisors={"a_supervisor", "b_supervisor"}, cases=cases,
                 clients={name: signed_in_client(User.objects.get(pk=user.pk)) for name, user in users.items()},
                 lead=lead)


def apply_change(model: Model, change: str, user: str, facts: CaseFacts) -> tuple[CaseFacts, set[str]]:
    """Make one permission change through its service (when it applies); return the facts after it."""
    now = timezone.now()
    after = CaseFacts(case=facts.case, owner=facts.owner, agency=facts.agency, shared_with=set(facts.shared_with),
                      assigned_to=facts.assigned_to)
    supervisors = set(model.supervisors)
    is_officer = user in model.officers
    if change == "share" and is_officer and user != facts.owner and model.agency_of[user] == facts.agency:
        correspondence.case_share(case=facts.case, colleague_email=model.users[user].email,
                                  actor=Actor(user=model.users[facts.owner]), now=now)
        after.shared_with.add(user)
    elif change == "assign" and user.startswith("reviewer") and facts.assigned_to != user:
        review.case_assign(case=Case.objects.get(pk=facts.case.pk), reviewer=model.users[user],
                           actor=Actor(user=model.lead), now=now)
        after.assigned_to = user  # the previous assignee loses the case
    elif change in ("make_supervisor", "end_supervisor") and is_officer:
        wanted = change == "make_supervisor"
        if (user in supervisors) != wanted:
            access_services.officer_supervisor_set(officer=model.officers[user], is_supervisor=wanted,
                                                   actor=Actor(user=model.lead), now=now)
            supervisors = supervisors | {user} if wanted else supervisors - {user}
    return after, supervisors


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.sampled_from(USERS), case_name=st.sampled_from(CASES), change=st.sampled_from(CHANGES),
       bystander=st.sampled_from(USERS))
def test_r10_case_page_and_download_agree_with_the_permission_model(
        model: Model, user: str, case_name: str, change: str, bystander: str) -> None:
    """`change` is made (to `bystander` or to `user`) just before the requests; it is rolled back after."""
    facts = model.cases[case_name]
    with transaction.atomic():
        after, supervisors = apply_change(model, change, bystander, facts)
        expected = model.may_see(user, after, supervisors)
        fresh_user = User.objects.get(pk=model.users[user].pk)  # guardian caches permissions per instance
        if user in ("lead", "auditor"):
            assert fresh_user.has_perm("cases.view_all_cases"), "a role-wide permission is missing"
        else:
            # Officers and reviewers: the object permission alone decides (STYLE.md rule 5); the
            # reviewers' model-wide "view case" (which the staff workspace needs) opens no case.
            holds = objects_for(fresh_user, "cases.view_case", Case.objects.filter(pk=facts.case.pk)).exists()
            assert holds == expected, "guardian disagrees with the model"
            # The lists read the permission tables directly (objects_for_direct): the same answer.
            listed = case_list_for(user=fresh_user).filter(pk=facts.case.pk).exists()
            assert listed == expected, "the case list disagrees with the model"
            # One case's permissions are read straight from its tables too (the case page's check,
            # user_holds_object_perm): the same permissions as guardian reads, the same answer.
            held = set(get_perms(fresh_user, facts.case))
            for codename in ("view_case", "respond_case", "share_case"):
                assert user_holds_object_perm(fresh_user, f"cases.{codename}", facts.case) == (codename in held)
            assert ("view_case" in held) == expected, "the case page's permission read disagrees with the model"
        client = model.clients[user]
        is_staff = fresh_user.is_staff
        page = client.get(reverse("cases:detail", args=[facts.case.reference]))
        document = facts.case.documents.first()
        assert document is not None
        download = client.get(reverse("cases:document", args=[document.pk]))
        if getattr(download, "streaming", False):
            b"".join(download.streaming_content)  # type: ignore[attr-defined]
        staff_page = client.get(reverse("admin:cases_case_change", args=[facts.case.pk])) if is_staff else None
        transaction.set_rollback(True)

    visible_page = 302 if is_staff else 200
    assert page.status_code == (visible_page if expected else 404), (user, case_name, change, bystander)
    assert download.status_code == (200 if expected else 404), (user, case_name, change, bystander)
    if staff_page is not None:
        assert staff_page.status_code == (200 if expected else 404), (user, case_name, change, bystander)
