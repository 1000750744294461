"""The Flask app in process: fail-closed answers, dry runs, readiness (no gunicorn, no TLS)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from flask.testing import FlaskClient

from admission.core.config import Config
from admission.core.policy.source import TemplateKey, TemplateSource
from admission.core.review import make_review
from admission.server.app import create_app
from admission.server.audit import Audit
from admission.server.metrics import Metrics
from admission.server.state import PolicyFile, State

REF_WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "wf", "namespace": "team-a"},
    "spec": {"workflowTemplateRef": {"name": "hello"}},
}
STRICT = Config(template_referencing="Strict")


class FakeSource:
    """A LiveSource whose lookups can fail, and which records which view answered."""

    def __init__(
        self, *, error: Exception | None = None, synced: bool = True, problem: str = ""
    ) -> None:
        self.error, self._synced, self.problem = error, synced, problem
        self.asked: list[str] = []

    def get(self, key: TemplateKey, *, view: str = "live") -> Mapping[str, Any] | None:
        self.asked.append(view)
        if self.error is not None:
            raise self.error
        return None

    def workflows_using(self, key: TemplateKey) -> Sequence[str]:
        return ()

    def synced(self) -> bool:
        return self._synced

    def sync_problem(self) -> str:
        return self.problem

    def for_dry_run(self) -> TemplateSource:
        source = self

        class DryRun:
            def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
                return source.get(key, view="dry-run")

            def workflows_using(self, key: TemplateKey) -> Sequence[str]:
                return ()

        return DryRun()

    def close(self) -> None:
        pass


def client_for(source: FakeSource, *, audit: Audit | None = None) -> FlaskClient:
    state = State(PolicyFile(None, fallback=STRICT), source)
    sink = audit or Audit(metrics=Metrics.create(), stream=io.StringIO())
    return create_app(state, audit=sink).test_client()


def post(client: FlaskClient, review: dict[str, Any], endpoint: str = "validate") -> Any:
    return client.post(f"/{endpoint}", data=json.dumps(review), content_type="application/json")


def test_an_exception_while_evaluating_refuses_with_500_and_the_uid(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = client_for(FakeSource(error=RuntimeError("boom")))
    review = make_review(REF_WORKFLOW, namespace="team-a")
    resp = post(client, review)
    assert resp.status_code == 200
    response = resp.get_json()["response"]
    assert response["uid"] == review["request"]["uid"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "boom" in caplog.text
    assert "Traceback" not in resp.get_data(as_text=True)


def test_an_exception_after_evaluating_still_refuses_with_the_uid() -> None:
    class BrokenAudit(Audit):
        def record(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("disk full")

    audit = BrokenAudit(metrics=Metrics.create(), stream=io.StringIO())
    review = make_review(REF_WORKFLOW, namespace="team-a")
    resp = post(client_for(FakeSource(), audit=audit), review, "mutate")
    assert resp.status_code == 200
    assert resp.get_json()["response"] == {
        "uid": review["request"]["uid"],
        "allowed": False,
        "status": {
            "code": 500,
            "reason": "InternalError",
            "status": "Failure",
            "message": "[internal] the admission webhook failed to evaluate this "
            "request; see its log",
        },
    }


def test_a_json_array_body_is_a_400_not_a_failure() -> None:
    resp = client_for(FakeSource()).post("/validate", data="[]", content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "bad AdmissionReview"


def test_a_dry_run_looks_templates_up_through_the_dry_run_view() -> None:
    source = FakeSource()
    client = client_for(source)
    review = make_review(REF_WORKFLOW, namespace="team-a")
    post(client, review)
    review["request"]["dryRun"] = True
    post(client, review)
    assert source.asked == ["live", "dry-run"]


def test_readyz_is_503_until_the_templates_are_synced() -> None:
    resp = client_for(FakeSource(synced=False)).get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["waiting"] == ["template cache not synced"]


def test_readyz_names_why_the_templates_are_not_synced() -> None:
    """A 403 on the template watch is an RBAC problem to fix, not a wait."""
    source = FakeSource(synced=False, problem="workflowtemplates 403 Forbidden")
    resp = client_for(source).get("/readyz")
    assert resp.status_code == 503
    waiting = resp.get_json()["waiting"]
    assert waiting == ["template cache not synced: workflowtemplates 403 Forbidden"]


def test_charset_parameter_is_accepted_with_json() -> None:
    review = make_review(REF_WORKFLOW, namespace="team-a")
    resp = client_for(FakeSource()).post(
        "/validate", data=json.dumps(review), content_type="application/json; charset=utf-8"
    )
    assert resp.status_code == 200
