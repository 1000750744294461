"""The e2e control plane itself: ready, authenticating users by token, enforcing RBAC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from controlplane import ControlPlane, read_json
from harness.processes import MissingBinaryError, find_binary, wait_for
from identities import ALICE, CONTROLLER
from workflows import (
    create,
    error_message,
    make_inline_workflow,
    make_template,
    unique,
    with_stored,
)

pytestmark = pytest.mark.e2e


def who_am_i(api: k8s.ApiClient) -> dict[str, Any]:
    """The user the API server sees behind a client (a SelfSubjectReview)."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    response = k8s.AuthenticationV1Api(api).create_self_subject_review(
        review, _preload_content=False
    )
    return dict(read_json(response)["status"]["userInfo"])


def test_missing_binary_error_names_the_setup_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ARGO_ADMISSION_BIN", str(tmp_path))
    with pytest.raises(
        MissingBinaryError, match=r"ARGO_VERSION=v0\.0\.0 tests/e2e/setup\.sh workflow-controller"
    ):
        find_binary("workflow-controller-v0.0.0")


def test_apiserver_is_ready(control_plane: ControlPlane) -> None:
    assert control_plane.http_get(f"{control_plane.api_url}/readyz", user="admin").strip() == "ok"


def test_workflow_crd_has_no_status_subresource(admin: k8s.ApiClient) -> None:
    crd = read_json(
        k8s.ApiextensionsV1Api(admin).read_custom_resource_definition(
            "workflows.argoproj.io", _preload_content=False
        )
    )
    assert [v.get("subresources") for v in crd["spec"]["versions"]] == [{}]


def test_tokens_authenticate_each_user_with_its_groups(control_plane: ControlPlane) -> None:
    assert who_am_i(control_plane.client(ALICE))["groups"] == ["team", "system:authenticated"]
    controller = who_am_i(control_plane.client(CONTROLLER))
    assert controller["username"] == CONTROLLER
    assert "system:serviceaccounts:argo" in controller["groups"]


def test_kubeconfig_acts_as_its_user(control_plane: ControlPlane) -> None:
    api = k8s_config.new_client_from_config(str(control_plane.kubeconfig(ALICE)))
    try:
        assert who_am_i(api)["username"] == ALICE
    finally:
        api.close()


def test_alice_can_create_a_workflow_in_team_a(
    alice: k8s.ApiClient, clean_namespaces: None
) -> None:
    created = create(alice, make_inline_workflow(unique("hello"), "team-a"))
    assert created["metadata"]["uid"]


def test_alice_is_forbidden_in_team_b(alice: k8s.ApiClient) -> None:
    with pytest.raises(ApiException) as denied:
        create(alice, make_inline_workflow(unique("hello"), "team-b"))
    assert denied.value.status == 403
    assert error_message(denied.value) == (
        'workflows.argoproj.io is forbidden: User "alice" cannot create resource "workflows" '
        'in API group "argoproj.io" in the namespace "team-b"'
    )


def test_bob_is_forbidden_in_team_a(bob: k8s.ApiClient) -> None:
    with pytest.raises(ApiException) as denied:
        create(bob, make_inline_workflow(unique("hello"), "team-a"))
    assert denied.value.status == 403


def test_alice_may_read_but_not_write_workflow_templates(
    alice: k8s.ApiClient, admin: k8s.ApiClient, clean_namespaces: None
) -> None:
    name = unique("library")
    create(admin, make_template(name, "team-a"))
    found = k8s.CustomObjectsApi(alice).get_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "team-a", "workflowtemplates", name
    )
    assert found["metadata"]["name"] == name
    with pytest.raises(ApiException) as denied:
        create(alice, make_template(unique("mine"), "team-a"))
    assert denied.value.status == 403


def test_alice_may_write_workflow_status_without_a_subresource(
    alice: k8s.ApiClient, clean_namespaces: None
) -> None:
    """No status subresource: whoever may create a Workflow also writes its status."""
    body = with_stored(
        make_inline_workflow(unique("status"), "team-a"), {"entrypoint": "x"}, phase="Running"
    )
    created = create(alice, body)
    assert created["status"] == {
        "storedWorkflowTemplateSpec": {"entrypoint": "x"},
        "phase": "Running",
    }


def test_registered_webhooks_are_called_at_the_given_url(
    control_plane: ControlPlane, alice: k8s.ApiClient, clean_namespaces: None
) -> None:
    """A chart-style `service` clientConfig becomes our URL; nothing listens there, so fail."""
    name = unique("unreachable")
    body = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "validate.argo-admission.test",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 2,
                "clientConfig": {
                    "service": {"name": "argo-admission", "namespace": "argo", "path": "/validate"}
                },
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}},
                "rules": [
                    {
                        "apiGroups": ["argoproj.io"],
                        "apiVersions": ["v1alpha1"],
                        "operations": ["CREATE"],
                        "resources": ["workflows"],
                    }
                ],
            }
        ],
    }
    url = "https://127.0.0.1:9"  # discard port: refused on loopback
    registered = control_plane.register_webhooks(
        body, url=url, ca_bundle=control_plane.ca_path.read_bytes()
    )
    assert registered["webhooks"][0]["clientConfig"]["url"] == f"{url}/validate"
    try:
        refused = wait_for(
            lambda: refusal(alice),
            until=bool,
            timeout=15,
            what="the API server to call the unreachable webhook",
        )
        assert 'failed calling webhook "validate.argo-admission.test"' in refused
        assert f"{url}/validate" in refused
    finally:
        control_plane.delete_webhooks(body)
    wait_for(
        lambda: refusal(alice),
        until=lambda message: message == "",
        timeout=15,
        what="creates to pass again once the webhook configuration is deleted",
    )


def refusal(alice: k8s.ApiClient) -> str:
    """Create a Workflow in team-a as alice: "" when admitted, else the API server's message."""
    try:
        create(alice, make_inline_workflow(unique("door"), "team-a"))
    except ApiException as error:
        if error.status == 500:  # the API server's "failed calling webhook"
            return error_message(error)
        raise
    return ""
