"""Every form of the portal and the staff workspace, fed generated input: never a server error.

Hypothesis generates the values of each form's own fields (and some it does not have): long,
empty, control characters, NUL bytes, right-to-left marks, numbers where text is expected. The
answer may be a refusal (400), a redirect or a page — never a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.services import review
from leors.core.audit import Actor
from tests.conftest import signed_in_client
from tests.factories import approved_officer, make_lead, submit_case, verified_application

NASTY = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.sampled_from(["", " ", "\x00", "\u202e\u2066evil", "0", "-1", "99999999999999999999", "1e309", "NaN",
                     "2026-02-30", "9999-12-31T23:59", "../../etc/passwd", "<script>alert(1)</script>",
                     "' OR 1=1 --", "a" * 5000, "LEORS-2026-000001", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"]),
)

PUBLIC_FORMS = {
    "portal:apply": ["applying_as", "body_name", "country", "jurisdiction", "applicant_name", "rank_title",
                     "official_email", "phone", "supervisor_name", "supervisor_email", "undertaking_version",
                     "accept_undertaking"],
    "verify": ["check", "reference", "code", "name"],
    "account_login": ["login", "password"],
    "account_reset_password": ["email"],
}
CASE_FIELDS = ["submission_key", "request_type", "title", "case_reference", "request_text", "data_requested",
               "period_from", "period_to", "has_non_disclosure_instruction", "non_disclosure_until",
               "extends_case_reference", "freeze_duration_days", "assets_description",
               "subjects-TOTAL_FORMS", "subjects-INITIAL_FORMS", "subjects-0-kind", "subjects-0-value",
               "subjects-0-chain", "documents-TOTAL_FORMS", "documents-INITIAL_FORMS", "documents-0-document_type",
               "documents-0-translation_of", "documents-0-issued_on"]
STAFF_PAGES = {
    "checklist": ["check_issuing_authority", "check_scope", "checklist_notes"],
    "ask": ["question"],
    "decide": ["decision", "reasons"],
    "notification": ["decision", "notified_at", "waiver_reason"],
    "confirm": ["confirmed_with", "method", "contact_source", "confirmed_at"],
    "message": ["audience", "body"],
    "language": ["document", "language_status", "reason"],
    "verify": ["document"],
    "assign": ["reviewer"],
    "approvals": ["approval", "decision"],
}

FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _payload(fields: list[str]) -> Any:
    return st.fixed_dictionaries({}, optional=dict.fromkeys([*fields, "status", "unexpected"], NASTY))


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    officer, lead = approved_officer(), make_lead()
    case = submit_case(officer)
    review.case_assign(case=case, reviewer=lead, actor=Actor(user=lead), now=timezone.now())
    application = verified_application()
    return {"officer": officer, "lead": lead, "case": case, "application": application}


def _no_server_error(response: Any, where: str) -> None:
    assert response.status_code < 500, f"{where} answered {response.status_code}"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PUBLIC_FORMS))
def test_public_forms_never_answer_500(name: str) -> None:
    client = Client(raise_request_exception=False)

    @FUZZ
    @given(_payload(PUBLIC_FORMS[name]))
    def fuzz(data: dict[str, str]) -> None:
        _no_server_error(client.post(reverse(name), data), name)

    fuzz()


@pytest.mark.django_db
def test_officer_forms_never_answer_500(world: dict[str, Any]) -> None:
    client = signed_in_client(world["officer"].user)
    client.raise_request_exception = False
    case = world["case"]

    @FUZZ
    @given(st.sampled_from(["user_information", "freeze", "preservation", "preservation_extension", "asset_recovery",
                            "bogus"]), _payload(CASE_FIELDS))
    def new_request(kind: str, data: dict[str, str]) -> None:
        _no_server_error(client.post(f"{reverse('cases:new')}?type={kind}", data), "cases:new")

    @FUZZ
    @given(_payload(["body", "colleague_email"]))
    def on_the_case(data: dict[str, str]) -> None:
        for name in ("cases:message", "cases:share"):
            _no_server_error(client.post(reverse(name, args=[case.reference]), data), name)
        _no_server_error(client.get(reverse("cases:list"), data), "cases:list")

    new_request()
    on_the_case()


@pytest.mark.django_db
def test_staff_workflow_forms_never_answer_500(world: dict[str, Any]) -> None:
    client = signed_in_client(world["lead"])
    client.raise_request_exception = False
    case, application = world["case"], world["application"]

    @FUZZ
    @given(st.sampled_from(sorted(STAFF_PAGES)), st.data())
    def case_pages(page: str, data: Any) -> None:
        payload = data.draw(_payload(STAFF_PAGES[page]))
        _no_server_error(client.post(f"/admin/cases/case/{case.pk}/{page}/", payload), page)

    @FUZZ
    @given(st.sampled_from(["checklist", "ask", "reject", "assign"]), st.data())
    def application_pages(page: str, data: Any) -> None:
        payload = data.draw(_payload(["question", "reason", "reviewer", "supervisor_confirmed_at",
                                      "supervisor_confirmation_method", "check_body_exists"]))
        _no_server_error(client.post(f"/admin/access/accessapplication/{application.pk}/{page}/", payload), page)

    case_pages()
    application_pages()


@pytest.mark.django_db
def test_r1_the_application_form_under_its_rate_limit_says_so_and_does_not_fail() -> None:
    client = Client(raise_request_exception=False)
    answers = [client.post(reverse("portal:apply"), {}).status_code for _ in range(12)]
    assert answers[:10] == [400] * 10 and answers[10:] == [429, 429]
    assert "Too many applications" in client.post(reverse("portal:apply"), {}).content.decode()
