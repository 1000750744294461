"""AdmissionReview v1 parsing and responses."""

from __future__ import annotations

import base64
import json

import pytest

from admission.core.decision import Decision, Outcome, Violation
from admission.core.review import POD_NAME, POD_UID, ReviewError, complete, parse_review, respond


def body(**request: object) -> bytes:
    base = {
        "uid": "u1",
        "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Workflow"},
        "resource": {"group": "argoproj.io", "version": "v1alpha1", "resource": "workflows"},
        "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["team"]},
        "object": {"spec": {}},
    }
    base.update(request)
    return json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": base}
    ).encode()


def test_a_request_is_parsed_with_user_groups_and_objects() -> None:
    req = parse_review(body(namespace="team-a", dryRun=True))
    assert (req.uid, req.kind, req.operation, req.namespace, req.username) == (
        "u1",
        "Workflow",
        "CREATE",
        "team-a",
        "alice",
    )
    assert req.groups == ("team",) and req.dry_run and req.object == {"spec": {}}


def test_a_bound_tokens_pod_claims_are_read_from_user_info_extra() -> None:
    extra = {POD_NAME: ["wf-scan-1"], POD_UID: ["9f"], "authentication.kubernetes.io/x": ["a", "b"]}
    req = parse_review(
        body(userInfo={"username": "system:serviceaccount:a:default", "extra": extra})
    )
    assert (req.claim(POD_NAME), req.claim(POD_UID)) == ("wf-scan-1", "9f")
    assert req.claim("authentication.kubernetes.io/x") == ""  # two values: no one claim
    assert parse_review(body()).claim(POD_NAME) == ""


def test_a_delete_is_parsed_with_the_old_object_and_no_object() -> None:
    req = parse_review(body(operation="DELETE", object=None, oldObject={"metadata": {"name": "x"}}))
    assert (req.operation, req.object, req.old_object) == (
        "DELETE",
        None,
        {"metadata": {"name": "x"}},
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uid": ""}, "request.uid"),
        ({"kind": "Workflow"}, "request.kind must be an object"),
        ({"operation": "GET"}, "request.operation"),
        ({"dryRun": "yes"}, "request.dryRun must be a boolean"),
        ({"userInfo": {"username": "a", "groups": "admins"}}, "groups must be a list"),
        ({"object": "x"}, "request.object must be an object or null"),
        ({"resource": {"resource": ""}}, "request.resource.resource must be a non-empty string"),
        ({"userInfo": {"username": "a", "extra": {"k": "v"}}}, "userInfo.extra must map strings"),
    ],
)
def test_a_broken_envelope_is_a_review_error(change: dict, message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        parse_review(body(**change))


def test_deeply_nested_json_is_a_review_error_not_a_crash() -> None:
    with pytest.raises(ReviewError):
        parse_review(b"[" * 100000 + b"]" * 100000)


def test_a_denial_carries_code_reason_message_and_the_uid() -> None:
    decision = Decision(
        False,
        Outcome.FAIL,
        403,
        (Violation("strict", "no ref", "add one"),),
        diff=("spec.x: 1 -> 2",),
        annotations={"rule": "strict"},
    )
    review = complete(respond(decision), "u1")
    response = review["response"]
    assert response["uid"] == "u1" and response["allowed"] is False
    assert response["status"] == {
        "code": 403,
        "message": "[strict] no ref: add one\n  spec.x: 1 -> 2",
        "reason": "Forbidden",
        "status": "Failure",
    }
    assert response["auditAnnotations"] == {"rule": "strict"}


def test_not_yet_is_a_429_that_asks_to_retry_after_a_second_and_nothing_else_does() -> None:
    """The API server sends details.retryAfterSeconds on as a Retry-After header."""
    later = Decision(False, Outcome.ERROR, 429, (Violation("task-result", "no node x (yet)"),))
    status = respond(later)["status"]
    assert (status["code"], status["reason"], status["details"]) == (
        429,
        "TooManyRequests",
        {"retryAfterSeconds": 1},
    )
    for code in (400, 403, 500):
        refused = Decision(False, Outcome.ERROR, code, (Violation("r", "no"),))
        assert "details" not in respond(refused)["status"]


def test_a_patch_is_base64_json_and_warnings_are_single_lines() -> None:
    decision = Decision(
        True,
        Outcome.PASS,
        patch=({"op": "add", "path": "/a", "value": 1},),
        warnings=("line one\nline two",),
    )
    response = respond(decision)
    assert json.loads(base64.b64decode(response["patch"])) == [
        {"op": "add", "path": "/a", "value": 1}
    ]
    assert response["patchType"] == "JSONPatch" and response["warnings"] == ["line one line two"]


def test_a_long_warning_continues_on_more_lines_none_over_the_api_servers_limit() -> None:
    text = "[strict] " + " ".join(f"word{i}" for i in range(120)) + " last-hint"
    warnings = respond(Decision(True, Outcome.WARN, warnings=(text,)))["warnings"]
    assert len(warnings) > 1 and all(len(w) <= 250 for w in warnings)
    assert warnings[1].startswith("... ")
    assert " ".join(w.removeprefix("... ") for w in warnings) == text
