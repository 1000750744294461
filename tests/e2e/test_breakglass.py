"""Break-glass on the real API server: the way back when no server answers.

The servers register their webhook configurations themselves, so the configurations outlive
them: with no server up, every Argo write fails (`failed calling webhook
"validate.argo-admission.io"`) and neither helm upgrade nor rollback touches them.
`argo-admission webhooks remove` deletes both; the writes work again. And /readyz says why a
server is not ready: a server whose identity may not list the templates says `403 Forbidden`.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from admission.server import certs
from controlplane import ControlPlane
from harness.processes import free_port, wait_for
from harness.serve import CLI as BIN
from identities import ADMIN, BOB
from webhook import serve
from workflows import create, unique

pytestmark = pytest.mark.e2e


def configuration(kind: str, name: str, hook: str, url: str, ca: bytes) -> dict[str, Any]:
    """A configuration as the servers register it, calling `url`, where nothing answers."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": hook,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 2,
                "clientConfig": {"url": url, "caBundle": base64.b64encode(ca).decode()},
                "rules": [
                    {
                        "apiGroups": ["argoproj.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["workflows"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-b"}},
            }
        ],
    }


@pytest.fixture
def dead_webhooks(control_plane: ControlPlane) -> Iterator[str]:
    """Both configurations, registered for team-b, naming a server that is not there."""
    name = unique("argo-admission")
    url = f"https://127.0.0.1:{free_port()}"
    ca = certs.make_bundle(certs.default_hosts()).ca_cert
    bodies = [
        configuration(
            "ValidatingWebhookConfiguration",
            name,
            "validate.argo-admission.io",
            f"{url}/validate",
            ca,
        ),
        configuration(
            "MutatingWebhookConfiguration", name, "mutate.argo-admission.io", f"{url}/mutate", ca
        ),
    ]
    api = k8s.AdmissionregistrationV1Api(control_plane.client(ADMIN))
    api.create_validating_webhook_configuration(bodies[0])
    api.create_mutating_webhook_configuration(bodies[1])
    try:
        yield name
    finally:
        for body in bodies:
            control_plane.delete_webhooks(body)


def workflow() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": unique("breakglass"), "namespace": "team-b"},
        "spec": {"workflowTemplateRef": {"name": "any"}},
    }


def write_error(api: k8s.ApiClient) -> str:
    """The API server's refusal of a Workflow CREATE ("" when it is admitted)."""
    try:
        create(api, workflow())
    except ApiException as exc:
        return str(json.loads(exc.body).get("message", exc.body))
    return ""


def argo_admission(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_webhooks_remove_lets_writes_through_when_no_server_answers(
    control_plane: ControlPlane, dead_webhooks: str
) -> None:
    admin = control_plane.client(ADMIN)
    wait_for(
        lambda: "failed calling webhook" in write_error(admin),
        what="the API server to call the registered webhooks",
        timeout=30,
    )
    # the API server calls the mutating webhooks first
    assert 'failed calling webhook "mutate.argo-admission.io"' in write_error(admin)
    kubeconfig = str(control_plane.kubeconfig(ADMIN))
    result = argo_admission(
        "webhooks", "remove", "--kubeconfig", kubeconfig, "--name", dead_webhooks
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"deleted ValidatingWebhookConfiguration {dead_webhooks}",
        f"deleted MutatingWebhookConfiguration {dead_webhooks}",
    ]
    wait_for(lambda: write_error(admin) == "", what="the writes to pass again", timeout=30)
    again = argo_admission(
        "webhooks", "remove", "--kubeconfig", kubeconfig, "--name", dead_webhooks
    )
    assert again.returncode == 0
    assert f"ValidatingWebhookConfiguration {dead_webhooks} not found" in again.stdout


def test_webhooks_remove_by_someone_rbac_refuses_is_one_line_and_exit_2(
    control_plane: ControlPlane, dead_webhooks: str
) -> None:
    result = argo_admission(
        "webhooks",
        "remove",
        "--kubeconfig",
        str(control_plane.kubeconfig(BOB)),
        "--name",
        dead_webhooks,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: cannot delete ValidatingWebhookConfiguration {dead_webhooks}: 403 Forbidden\n"
    )


def test_readyz_names_the_403_that_keeps_the_template_cache_from_syncing(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """bob may not list templates cluster-wide: the server stays unready and says why."""
    with serve(control_plane, tmp_path, user=BOB, ready=False) as hook:

        def waiting() -> list[str]:
            try:
                resp = requests.get(f"{hook.url}/readyz", verify=hook.ca, timeout=5)
            except requests.RequestException:
                return []
            return list(resp.json().get("waiting", [])) if resp.status_code == 503 else []

        # bob may list ClusterWorkflowTemplates (Argo's aggregated roles), not WorkflowTemplates
        expected = ["template cache not synced: workflowtemplates 403 Forbidden"]
        wait_for(
            waiting,
            until=lambda seen: seen == expected,
            what=f"/readyz to name the 403 ({tmp_path / 'serve.log'})",
            timeout=60,
        )
