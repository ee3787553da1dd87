"""The whole API fuzzed from its own OpenAPI document (issue 18, tests): schemathesis makes
requests from every operation's schemas, valid and not, with a write token and (fewer) with a read token; no answer is a
5xx, and every answer matches what the document says (status, content type, body schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from newsletter.extensions import db
from tests.support import factories
from tests.support.api import bearer, create_token

#: Examples per operation: the whole run stays within about a minute.
EXAMPLES = 25


@pytest.mark.parametrize(("scope", "examples"), [("write", EXAMPLES), ("read", EXAMPLES // 5)])
def test_every_operation_answers_as_its_openapi_document_says(app, scope, examples):
    token = create_token(app, "fuzz", scope)
    with app.app_context():
        factories.add_subscriber("known@example.org")
        factories.add_article("Known")
        db.session.commit()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    codes: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case) -> None:
            response = case.call_and_validate(
                headers=bearer(token),
                checks=[
                    checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.content_type_conformance,
                    checks.response_schema_conformance,
                ],
            )

            codes.append(response.status_code)

        answers_as_documented()
    if scope == "read":
        assert 403 in codes
        return
    assert len(codes) > 10 * len(operations) and {200, 201, 404, 409, 422} <= set(codes), sorted(set(codes))
