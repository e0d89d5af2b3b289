"""The machine API fuzzed against its own OpenAPI description (schemathesis, in-process WSGI):
no server error, and every answer conforms to the schema (status codes, content types, bodies)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cases.openapi import SCHEMA
from leors.core.audit import Actor
from leors.core.tokens import api_token_create

schema = schemathesis.openapi.from_dict(SCHEMA)
schema.app = get_wsgi_application()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    # Calling the WSGI app directly sends request_finished, which closes the database connection
    # the test's transaction lives on; Django's own test client disconnects this handler too.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(db: Any) -> dict[str, str]:
    token = api_token_create(name="fuzz", actor=Actor.system("test"), now=timezone.now())
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_restriction_feed_never_errs_and_keeps_to_its_schema(case: Any, bearer: dict[str, str]) -> None:
    # A valid token, unless this case tests a missing or broken Authorization header on purpose.
    from schemathesis.core.parameters import ParameterLocation

    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.HEADER):
        case.headers = {**(case.headers or {}), **bearer}
    if {"after", "page"} <= set(case.query or {}):
        # Each is valid alone; together they are refused, which OpenAPI 3.0 cannot say of two parameters.
        response = case.call(app=schema.app)  # type: ignore[attr-defined]
        assert response.status_code in (400, 401, 405), response.text  # 405: another method than GET
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        return
    case.call_and_validate(app=schema.app)  # type: ignore[attr-defined]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_restriction_feed_without_a_token_answers_401_by_its_schema(case: Any, db: Any) -> None:
    response = case.call(app=schema.app)  # type: ignore[attr-defined]
    assert response.status_code in (401, 405)  # 405 for the methods the operation does not have
    assert response.status_code != 403  # no CSRF check in the way of a token API
    case.validate_response(response)
