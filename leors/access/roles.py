"""Staff roles as groups with model-level permissions, kept in step after every migrate.

Model-level ("global") permissions say what a role may do anywhere; a reviewer's rights on one
application come from object permissions granted at assignment (leors.access.services).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

from leors.access.services import GROUP_AUDITOR, GROUP_LEGAL_LEAD, GROUP_LEGAL_REVIEWER

_READ_EVERYTHING = [
    "access.view_all_accessapplications",
    "access.view_accessapplication",
    "access.view_agency",
    "access.view_agencydomain",
    "access.view_officer",
    "access.view_applicationdocument",
    "access.view_applicationmessage",
    "access.view_impersonationreferral",
    "core.view_auditevent",
    "core.view_outboxmessage",
    "cases.view_all_cases",
    "cases.view_case",
    "cases.view_casedocument",
    "cases.view_casemessage",
    "cases.view_production",
    "cases.view_subjectidentifier",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    GROUP_LEGAL_LEAD: [
        *_READ_EVERYTHING,
        "access.vet_accessapplication",
        "access.decide_accessapplication",
        "access.assign_accessapplication",
        "access.suspend_officer",
        "access.renew_officer",
        "cases.review_case",
        "cases.assign_case",
        "core.requeue_outboxmessage",
    ],
    # Sees the application list only as far as object permissions reach (assigned ones).
    GROUP_LEGAL_REVIEWER: [
        "access.view_accessapplication",
        "access.view_agency",
        "access.view_agencydomain",
        "access.view_officer",
        "access.suspend_officer",
        "cases.view_case",
    ],
    # Reads every account too (read-only, never a password hash or a second factor): the audit trail
    # names its actors, officers and staff alike.
    GROUP_AUDITOR: [*_READ_EVERYTHING, "access.view_user"],
}


def roles_sync(**_: Any) -> None:
    """Create the role groups and set exactly their permissions. Idempotent."""
    for name, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is not None:
                wanted.append(permission)
        group.permissions.set(wanted)
