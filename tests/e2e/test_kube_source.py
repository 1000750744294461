"""`argo-admission serve --kubeconfig` against the real API server: its template cache.

The webhook runs as its own identity (RBAC: read templates and Workflows), lists and watches
the cluster, turns ready once synced, and answers from the cache: a template created after
the start is seen through the watch, a deleted one is gone.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client as k8s

from admission import certs
from admission.cli import make_review
from controlplane import ControlPlane
from identities import WEBHOOK
from processes import free_port, wait_for

pytestmark = pytest.mark.e2e

GROUP, VERSION = "argoproj.io", "v1alpha1"
BIN = Path(sys.executable).parent / "argo-admission"


def template(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "alpine", "command": ["true"]}}],
        },
    }


def ref_workflow(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workflow",
        "metadata": {"generateName": "wf-", "namespace": "team-a"},
        "spec": {"workflowTemplateRef": {"name": name}},
    }


class Webhook:
    """The server process and a client for it."""

    def __init__(self, port: int, cert_dir: Path, process: subprocess.Popen[bytes]) -> None:
        self.url, self.ca, self.process = f"https://127.0.0.1:{port}", cert_dir / "ca.crt", process

    def allowed(self, obj: dict[str, Any]) -> bool:
        review = make_review(obj, namespace="team-a", username="alice")
        resp = requests.post(f"{self.url}/validate", json=review, verify=self.ca, timeout=30)
        return bool(resp.json()["response"]["allowed"])

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/readyz", verify=self.ca, timeout=5).ok
        except requests.RequestException:
            return False


@pytest.fixture
def webhook(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Webhook]:
    cert_dir = tmp_path / "certs"
    certs.write_bundle(cert_dir, certs.make_bundle(certs.default_hosts()))
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(BIN),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--cert-dir",
                str(cert_dir),
                "--kubeconfig",
                str(control_plane.kubeconfig(WEBHOOK)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    hook = Webhook(port, cert_dir, process)
    try:
        wait_for(
            hook.ready, what=f"the webhook to sync its cache ({tmp_path / 'serve.log'})", timeout=60
        )
        yield hook
    finally:
        process.terminate()
        process.wait(15)


def test_templates_created_and_deleted_after_the_start_reach_the_cache(
    webhook: Webhook, admin: k8s.ApiClient, clean_namespaces: None
) -> None:
    api = k8s.CustomObjectsApi(admin)
    assert not webhook.allowed(ref_workflow("later"))
    api.create_namespaced_custom_object(
        GROUP, VERSION, "team-a", "workflowtemplates", template("later")
    )
    wait_for(
        lambda: webhook.allowed(ref_workflow("later")),
        what="the watch to add the template",
        timeout=30,
    )
    api.delete_namespaced_custom_object(GROUP, VERSION, "team-a", "workflowtemplates", "later")
    wait_for(
        lambda: not webhook.allowed(ref_workflow("later")),
        what="the watch to drop the template",
        timeout=30,
    )
