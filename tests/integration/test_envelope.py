"""Bodies that are not AdmissionReviews get HTTP 4xx JSON errors; probes and metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import Server, load, review_of

pytestmark = pytest.mark.integration

MAX_BODY = 3 * 1024 * 1024


def test_json_that_is_not_an_admission_review_is_a_400_json_error(server: Server) -> None:
    resp = server.post("/validate", {"kind": "Pod", "apiVersion": "v1"})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {
        "error": "bad AdmissionReview",
        "message": "kind must be AdmissionReview, got 'Pod'",
    }


def test_review_without_uid_is_a_400(server: Server) -> None:
    review = review_of(load("ref-workflow"))
    del review["request"]["uid"]
    resp = server.post("/mutate", review)
    assert resp.status_code == 400
    assert "request.uid" in resp.json()["message"]


def test_body_that_is_not_json_is_a_400(server: Server) -> None:
    resp = server.post("/validate", b"this is not json")
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("body is not valid JSON")


def test_wrong_content_type_is_a_415_json_error(server: Server) -> None:
    resp = server.post("/validate", review_of(load("ref-workflow")), content_type="text/plain")
    assert resp.status_code == 415
    assert resp.json()["code"] == 415


def test_body_over_3_mib_is_refused_with_413(server: Server) -> None:
    resp = server.post("/validate", b"{" + b" " * MAX_BODY + b"}")
    assert resp.status_code == 413
    assert resp.json()["code"] == 413


def test_chunked_body_over_3_mib_is_refused_with_413(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"{"
        for _ in range(4):
            yield b" " * (1024 * 1024)
        yield b"}"

    resp = server.post("/validate", chunks())  # type: ignore[arg-type]
    assert resp.status_code == 413
    assert resp.json()["code"] == 413


def test_the_connection_still_works_after_a_refusal(server: Server) -> None:
    assert server.post("/validate", b"{" + b" " * MAX_BODY + b"}").status_code == 413
    assert server.admit(review_of(load("ref-workflow")))["allowed"] is True


def test_get_on_validate_is_a_405_json_error(server: Server) -> None:
    resp = server.get("/validate")
    assert resp.status_code == 405
    assert resp.json()["error"] == "Method Not Allowed"


def test_unknown_path_is_a_404_json_error(server: Server) -> None:
    resp = server.get("/nope")
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/json"


def test_healthz_and_readyz_answer_ok(server: Server) -> None:
    assert server.get("/healthz").json() == {"status": "ok"}
    ready = server.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_metrics_count_what_happened(server: Server) -> None:
    denied = ("argo_admission_requests_total", (("decision", "deny"), ("endpoint", "validate")))
    invalid = ("argo_admission_requests_total", (("decision", "invalid"), ("endpoint", "mutate")))
    strict = (
        "argo_admission_rule_violations_total",
        (("decision", "deny"), ("endpoint", "validate"), ("rule", "strict")),
    )
    workflows = (
        "argo_admission_reviewed_objects_total",
        (("endpoint", "validate"), ("kind", "Workflow"), ("operation", "CREATE")),
    )
    latency = ("argo_admission_request_duration_seconds_count", (("endpoint", "validate"),))
    hits = ("argo_admission_template_lookups_total", (("result", "hit"),))
    before = server.metrics()
    for _ in range(6):
        server.admit(review_of(load("plain-workflow")))
    for _ in range(3):
        server.admit(review_of(load("ref-workflow")))
    server.post("/mutate", b"[]")
    after = server.metrics()
    assert after[denied] - before[denied] == 6
    assert after[strict] - before[strict] == 6
    assert after[workflows] - before[workflows] == 9
    assert after[invalid] - before[invalid] == 1
    assert after[latency] - before[latency] == 9
    assert after[hits] - before[hits] >= 3
