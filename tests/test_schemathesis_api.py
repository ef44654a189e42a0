"""The OpenAPI document, fuzzed by schemathesis in-process: no 5xx, and every answer matches the document.

Two passes: every operation with schema-valid and schema-breaking requests
(random run ids, so mostly `run_not_found`), then the run operations with
valid requests on real runs, freshly started for each case. Sized to finish
in well under a minute on two cores.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import DEMO, NOW, PROJECT

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is part of the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.config import PositiveDataAcceptanceConfig  # noqa: E402
from test_api import ALICE, SECRET, bearer  # noqa: E402

from clientflow.web import WebSettings, create_app  # noqa: E402

OUTBOX = Path(tempfile.mkdtemp(prefix="clientflow-fuzz-"))  # no fuzzed commit completes, but emails would land here
APP = create_app(WebSettings(project=PROJECT, data=DEMO, secret=SECRET, now=NOW, outbox=OUTBOX))
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

live_config = schemathesis.Config()
live_config.projects.default.generation.update(modes=[GenerationMode.POSITIVE])
# Answers are checked against the flow (options, typed confirmations), which a JSON Schema cannot say:
# a schema-valid body may still be answered 422 invalid_answers, as documented.
live_config.projects.default.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(expected_statuses=["2xx", 401, 403, 404, 409, 422])
live = schemathesis.openapi.from_asgi("/openapi.json", APP, config=live_config).include(path_regex=r"\{run\}")

FLOWS = ("disconnect-client", "deactivate-client", "delete-client")


@schema.parametrize()
@FUZZ
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=bearer(ALICE))


@live.parametrize()
@FUZZ
def test_run_operations_on_live_runs_answer_as_documented(case: schemathesis.Case) -> None:
    from fastapi.testclient import TestClient

    flow = FLOWS[len(str(case.path_parameters)) % len(FLOWS)]
    subject = "Empty Shell Co" if flow == "delete-client" else "Acme Ltd"
    with TestClient(APP) as api:
        started = api.post(f"/flows/{flow}/runs", json={"client": subject}, headers=bearer(ALICE))
    assert started.status_code == 201, started.text
    case.path_parameters = {**(case.path_parameters or {}), "run": started.json()["run"]}
    case.call_and_validate(headers=bearer(ALICE))


def test_the_fuzzed_document_covers_every_endpoint() -> None:
    operations = {op.ok().label for op in schema.get_all_operations()}
    assert operations == {
        "GET /flows",
        "GET /availability",
        "POST /flows/{flow}/runs",
        "GET /runs/{run}",
        "POST /runs/{run}/answers",
        "POST /runs/{run}/back",
        "POST /runs/{run}/cancel",
        "GET /runs/{run}/plan",
        "POST /runs/{run}/commit",
        "GET /approvals",
        "GET /runs/{run}/approval",
        "POST /runs/{run}/approve",
        "POST /runs/{run}/reject",
    }
