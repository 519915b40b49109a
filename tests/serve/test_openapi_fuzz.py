"""Property-based requests generated from the OpenAPI document (schemathesis strategies), valid and invalid: never a 5xx.

Driven through Hypothesis directly: schemathesis' pytest plugin does not run under pytest 9.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from serve_catalog import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_generated_request_gets_a_server_error(app, mode):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.path for operation in operations} >= {"/search", "/similar/{track_id}", "/tracks/{track_id}/audio"}

    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not operation.definition.raw.get("parameters"):
            continue  # nothing to break in a request without parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
        def check(case):
            response = case.call(headers=AUTH)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}"
            assert "Traceback" not in response.text
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}

        check()
