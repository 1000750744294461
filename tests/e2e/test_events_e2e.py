"""Kubernetes Events on the real API server: a refusal becomes a Warning Event, reason
PolicyViolation, on the refused object in its namespace, created by the server as its own
identity; the same refusal repeated makes no second Event (one per object and rule in 5 minutes),
and an admitted request makes none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client as k8s

from admission.core.review import make_review
from controlplane import ControlPlane
from harness.processes import wait_for
from identities import ADMIN, WEBHOOK
from webhook import serve
from workflows import unique

pytestmark = pytest.mark.e2e

GRANT = "argo-admission-e2e-events"


@pytest.fixture
def may_create_events(control_plane: ControlPlane) -> Iterator[None]:
    """What the chart's ClusterRole grants with events.enabled: create Events anywhere."""
    rbac = k8s.RbacAuthorizationV1Api(control_plane.client(ADMIN))
    rbac.create_cluster_role(
        {
            "metadata": {"name": GRANT},
            "rules": [
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
                # what the background audit needs besides (the chart's Role and ClusterRole)
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["create", "get", "update"],
                },
                {"apiGroups": ["argoproj.io"], "resources": ["cronworkflows"], "verbs": ["list"]},
            ],
        }
    )
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": GRANT},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": GRANT,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": WEBHOOK}
            ],
        }
    )
    try:
        yield
    finally:
        rbac.delete_cluster_role_binding(GRANT)
        rbac.delete_cluster_role(GRANT)


@pytest.fixture
def server(
    control_plane: ControlPlane, tmp_path: Path, may_create_events: None, request: Any
) -> Iterator[tuple[str, Path]]:
    """`serve --events-per-minute 60` as the webhook's identity, until ready; URL and CA.
    Parametrized indirectly with extra flags."""
    extra = list(getattr(request, "param", ()))
    with serve(control_plane, tmp_path, "--events-per-minute", "60", *extra) as hook:
        yield hook.url, Path(hook.ca)


def allowed(server: tuple[str, Path], obj: dict[str, Any]) -> bool:
    """alice's CREATE of `obj`, as the API server would send it; whether it is admitted."""
    url, ca = server
    review = make_review(obj, namespace="team-a", username="alice")
    answer = requests.post(f"{url}/validate", json=review, verify=ca, timeout=30).json()
    return bool(answer["response"]["allowed"])


def inline(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "alpine", "command": ["true"]}}],
        },
    }


def template(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "templates": [
                {
                    "name": "main",
                    "container": {
                        "image": "alpine",
                        "command": ["true"],
                        "securityContext": {"runAsUser": 65534},
                    },
                }
            ]
        },
    }


def events_about(admin: k8s.ApiClient, name: str) -> list[Any]:
    found = k8s.CoreV1Api(admin).list_namespaced_event(
        "team-a", field_selector=f"involvedObject.name={name},reason=PolicyViolation"
    )  # Argo's controller, when one runs in the session, writes Events of its own
    return list(found.items)


def test_a_refusal_is_a_policy_violation_event_once_per_object_and_rule(
    control_plane: ControlPlane, server: tuple[str, Path]
) -> None:
    admin = control_plane.client(ADMIN)
    name, admitted, later = unique("refused"), unique("admitted"), unique("later")
    for _ in range(3):
        assert not allowed(server, inline(name))
    assert allowed(server, template(admitted))
    assert not allowed(server, inline(later))
    # one thread sends them in order: once the last refusal's Event exists, the others would
    wait_for(lambda: events_about(admin, later), what="the last refusal's Event", timeout=30)
    (event,) = events_about(admin, name)  # the two repeats made none
    assert (event.type, event.reason) == ("Warning", "PolicyViolation")
    assert (event.involved_object.kind, event.involved_object.namespace) == ("Workflow", "team-a")
    assert event.message.startswith("CREATE by alice refused: [strict] ")
    assert event.reporting_component == "argo-admission"
    assert events_about(admin, admitted) == []


AUDITING = ("--background-audit", "2s", "--audit-lease", f"argo/{unique('events-audit')}")


@pytest.mark.parametrize("server", [AUDITING], indirect=True)
def test_a_background_audit_finding_is_a_policy_violation_event(
    control_plane: ControlPlane, server: tuple[str, Path]
) -> None:
    """A Workflow created before the door (straight through the API) breaks Strict: the audit
    finds it and says so on the Workflow itself."""
    admin = control_plane.client(ADMIN)
    name = unique("before-the-door")
    k8s.CustomObjectsApi(admin).create_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "team-a", "workflows", inline(name)
    )
    (event,) = wait_for(lambda: events_about(admin, name), what="the audit's Event", timeout=60)
    assert (event.type, event.reason) == ("Warning", "PolicyViolation")
    assert event.message.startswith("audit: [strict] ")
    assert event.involved_object.uid  # the object exists: the Event names it exactly
