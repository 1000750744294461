"""AdmissionReviews over HTTPS to the real server: verdicts, messages, warnings, patches."""

from __future__ import annotations

import copy
import http.client
import json
import socket
import ssl

import jsonpatch
import pytest
import requests

from tests.integration.conftest import Server, StartServer, decode_patch, load, review_of

pytestmark = pytest.mark.integration

# Fields Argo lets a Workflow set beside workflowTemplateRef (its override allowlist).
REF_ALLOWED = {
    "activeDeadlineSeconds",
    "archiveLogs",
    "arguments",
    "artifactGC",
    "entrypoint",
    "metrics",
    "podGC",
    "priority",
    "shutdown",
    "suspend",
    "ttlStrategy",
    "volumeClaimGC",
    "workflowMetadata",
    "workflowTemplateRef",
}


def test_workflow_referencing_a_library_template_is_allowed(server: Server) -> None:
    response = server.admit(review_of(load("ref-workflow")))
    assert response["allowed"] is True
    assert "status" not in response


def test_inline_workflow_is_denied_with_the_strict_message(server: Server) -> None:
    response = server.admit(review_of(load("plain-workflow")))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert response["status"]["reason"] == "Forbidden"
    assert response["status"]["message"].startswith(
        "[strict] workflows must use workflowTemplateRef"
    )


def test_ref_with_pod_spec_patch_is_denied_naming_the_field(server: Server) -> None:
    response = server.admit(review_of(load("ref-podspecpatch")))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert "[overrides] fields [PodSpecPatch] are not permitted" in response["status"]["message"]
    assert "spec.podSpecPatch" in response["status"]["message"]


def test_secure_update_changing_a_parameter_is_denied_with_the_diff(server: Server) -> None:
    old = load("running-workflow")
    new = copy.deepcopy(old)
    new["spec"]["arguments"]["parameters"][0]["value"] = "changed"
    response = server.admit(review_of(new, operation="UPDATE", old=old))
    assert response["allowed"] is False
    assert (
        "spec.arguments.parameters[name=greeting].value: 'hi' -> 'changed'"
        in response["status"]["message"]
    )


def test_warn_mode_admits_with_the_violation_as_a_warning(start_server: StartServer) -> None:
    server = start_server("warn.yaml", workers=1)
    response = server.admit(review_of(load("plain-workflow")))
    assert response["allowed"] is True
    assert response["warnings"][0].startswith("[strict] workflows must use workflowTemplateRef")
    assert response["auditAnnotations"]["decision"] == "warn"


def test_mutate_gives_a_ref_workflow_only_allowlisted_defaults(server: Server) -> None:
    workflow = load("ref-workflow")
    response = server.admit(review_of(workflow), endpoint="mutate")
    ops = decode_patch(response)
    assert response["allowed"] is True
    assert {op["path"].split("/")[2] for op in ops} <= REF_ALLOWED
    mutated = jsonpatch.apply_patch(workflow, ops)
    assert mutated["spec"]["ttlStrategy"] == {"secondsAfterCompletion": 3600}
    assert mutated["spec"]["workflowTemplateRef"] == {"name": "hello"}


def test_mutate_gives_a_workflow_template_the_security_context_baseline(server: Server) -> None:
    template = load("new-template")
    mutated = jsonpatch.apply_patch(
        template, decode_patch(server.admit(review_of(template), endpoint="mutate"))
    )
    assert mutated["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = mutated["spec"]["templates"][0]["container"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}


@pytest.mark.parametrize("name", ["ref-workflow", "new-template", "plain-workflow"])
def test_mutating_the_mutated_object_again_yields_no_patch(server: Server, name: str) -> None:
    obj = load(name)
    first = decode_patch(server.admit(review_of(obj), endpoint="mutate"))
    assert first, "the fixture should need mutation"
    mutated = jsonpatch.apply_patch(obj, first)
    again = server.admit(review_of(mutated), endpoint="mutate")
    assert decode_patch(again) == []


def test_mutated_ref_workflow_is_then_admitted_by_validate(server: Server) -> None:
    workflow = load("ref-workflow")
    mutated = jsonpatch.apply_patch(
        workflow, decode_patch(server.admit(review_of(workflow), endpoint="mutate"))
    )
    assert server.admit(review_of(mutated))["allowed"] is True


def test_exempt_controller_identity_is_admitted_and_annotated(server: Server) -> None:
    review = review_of(load("plain-workflow"), username="system:serviceaccount:argo:argo")
    response = server.admit(review)
    assert response["allowed"] is True
    assert response["auditAnnotations"]["decision"] == "exempt"


def test_query_string_timeout_is_ignored(server: Server) -> None:
    review = review_of(load("ref-workflow"))
    resp = server.post("/validate?timeout=10s", review)
    assert resp.status_code == 200
    assert resp.json()["response"]["allowed"] is True


def test_one_connection_serves_many_reviews(server: Server) -> None:
    context = ssl.create_default_context(cafile=server.ca)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)
    try:
        sockets = set()
        for _ in range(5):
            body = json.dumps(review_of(load("ref-workflow")))
            conn.request("POST", "/validate", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["response"]["allowed"] is True
            assert resp.getheader("Connection", "").lower() != "close"
            sockets.add(id(conn.sock))
        assert len(sockets) == 1
    finally:
        conn.close()


def test_idle_tls_connections_do_not_hold_the_threads(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=1, args=["--threads", "2"])
    context = ssl.create_default_context(cafile=server.ca)
    idle = []
    try:
        for _ in range(6):  # handshaken, then silent: what Go's client keeps in its pool
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            idle.append(context.wrap_socket(raw, server_hostname="127.0.0.1"))
        with requests.Session() as session:
            response = server.admit(review_of(load("ref-workflow")), session=session)
        assert response["allowed"] is True
    finally:
        for sock in idle:
            sock.close()
