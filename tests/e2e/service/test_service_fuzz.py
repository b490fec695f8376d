"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): whatever is sent,
no 5xx, and every answer conforms to the schema."""

from __future__ import annotations

import pytest
import schemathesis
from _service_data import SIZE, fit_detector_bundle, textured
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle import load
from defectlab.serve.app import create_app
from defectlab.serve.limits import ServiceSettings


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory):
    config = FeatureConfig(weights="random", image_size=SIZE)
    folder = tmp_path_factory.mktemp("fuzz") / "detector"
    bundle = fit_detector_bundle(folder, config, [textured(s) for s in range(4)], [textured(s) for s in range(4, 8)], {})
    return create_app(load(bundle), ServiceSettings(api_key="fuzz-key", allow_threshold_edit=True), warm=False)


def fuzz(app, **call_kwargs) -> list[str]:
    """Run every operation's generated cases; returns the operations fuzzed."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            case.call_and_validate(**call_kwargs)

        run()
        fuzzed.append(operation.label)
    return fuzzed


def test_fuzzing_without_the_key_gives_no_server_error(fuzz_app) -> None:
    fuzzed = fuzz(fuzz_app, checks=[not_a_server_error])
    assert "POST /v1/predict" in fuzzed and "POST /v1/predict/batch" in fuzzed


def test_fuzzing_with_the_key_gives_no_server_error_and_conforms(fuzz_app) -> None:
    # every default check (status codes, content types, response schemas, ...) but one: the schema
    # can say "binary file", not "a decodable image", so arbitrary bytes rightly get a 400
    fuzzed = fuzz(fuzz_app, headers={"X-API-Key": "fuzz-key"}, excluded_checks=[positive_data_acceptance])
    assert len(fuzzed) == 5
