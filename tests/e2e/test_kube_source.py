"""`argo-admission serve --kubeconfig` against the real API server: its template cache.

The webhook runs as its own identity (RBAC: read templates and Workflows), lists and watches
the cluster, turns ready once synced, and answers from the cache: a template created after
the start is seen through the watch, a deleted one is gone. Argo's ConfigMap is read where it
lives, and an edit changes the decision within seconds, as it changes the decisions of Argo's
controller reading the same ConfigMap.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from admission.server import certs
from argocontroller import CONFIGMAP as CONTROLLER_CONFIGMAP
from argocontroller import WorkflowController, render_config
from controlplane import ControlPlane
from expect import NS, SPEC_CHANGED
from harness.processes import free_port, wait_for
from identities import ARGO_NAMESPACE, WEBHOOK
from kubelet import PodExecutor, finish_step
from library import start_running
from webhook import Webhook, serve
from workflows import (
    create,
    get_workflow,
    make_steps_template,
    set_arguments,
    status,
    unique,
    update_workflow,
    wait_for_phase,
)

pytestmark = pytest.mark.e2e

GROUP, VERSION = "argoproj.io", "v1alpha1"


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


@pytest.fixture
def webhook(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Webhook]:
    with serve(control_plane, tmp_path) as hook:
        yield hook


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


# --- Argo's ConfigMap, read where it lives ----------------------------------------------------

CONFIGMAP = "argo-admission-e2e-controller-configmap"


def inline_workflow() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workflow",
        "metadata": {"generateName": "wf-", "namespace": "team-a"},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "alpine", "command": ["true"]}}],
        },
    }


def write_configmap(admin: k8s.ApiClient, referencing: str) -> None:
    """Argo's controller ConfigMap in namespace argo, as an admin edits it."""
    core = k8s.CoreV1Api(admin)
    body = {
        "metadata": {"name": CONFIGMAP, "namespace": "argo"},
        "data": {"workflowRestrictions": f"templateReferencing: {referencing}\n"},
    }
    try:
        core.replace_namespaced_config_map(CONFIGMAP, "argo", body)
    except k8s.ApiException as error:
        if error.status != 404:
            raise
        core.create_namespaced_config_map("argo", body)


@contextlib.contextmanager
def may_read_configmap(admin: k8s.ApiClient, name: str) -> Iterator[None]:
    """A Role and its binding that let the webhook read ConfigMap argo/`name` (that one object,
    as the chart's role-argo.yaml grants), deleted afterwards."""
    rbac = k8s.RbacAuthorizationV1Api(admin)
    meta = {"name": f"argo-admission-e2e-read-{name}", "namespace": "argo"}
    rbac.create_namespaced_role(
        "argo",
        {
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [name],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        "argo",
        {
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": meta["name"],
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": WEBHOOK}
            ],
        },
    )
    try:
        yield
    finally:
        rbac.delete_namespaced_role_binding(meta["name"], "argo")
        rbac.delete_namespaced_role(meta["name"], "argo")


@pytest.fixture
def argo_configmap(admin: k8s.ApiClient) -> Iterator[None]:
    """Argo's ConfigMap (Strict), which the webhook may read."""
    with may_read_configmap(admin, CONFIGMAP):
        write_configmap(admin, "Strict")
        try:
            yield
        finally:
            k8s.CoreV1Api(admin).delete_namespaced_config_map(CONFIGMAP, "argo")


def test_an_edit_of_argos_configmap_changes_the_decision_within_seconds(
    control_plane: ControlPlane,
    admin: k8s.ApiClient,
    argo_configmap: None,
    tmp_path: Path,
    record_property: Any,
) -> None:
    with serve(control_plane, tmp_path, "--argo-configmap", f"argo/{CONFIGMAP}") as hook:
        assert not hook.allowed(inline_workflow())  # Strict, from the ConfigMap
        for referencing, allowed in (("", True), ("Secure", False)):
            began = time.monotonic()
            write_configmap(admin, referencing)
            wait_for(
                lambda allowed=allowed: hook.allowed(inline_workflow()) is allowed,
                what=f"templateReferencing {referencing!r} to reach the decision",
                timeout=30,
            )
            record_property(
                f"configmap-edit-{referencing or 'off'}-seconds", round(time.monotonic() - began, 2)
            )


# --- one ConfigMap for Argo's controller and the webhook --------------------------------------


def answer_to_update(
    hook: Webhook, admin: k8s.ApiClient, name: str, change: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """The webhook's response to alice's UPDATE of Workflow team-a/`name` by `change`, made on
    the Workflow as stored now; nothing is written."""
    old = get_workflow(admin, NS, name)
    new = copy.deepcopy(old)
    change(new)
    return hook.answer(new, old=old)


def seconds_until(
    checks: dict[str, Callable[[], bool]], *, since: float, what: str
) -> dict[str, float]:
    """Poll every check until each has held once; the seconds from `since` until each first did."""
    seen: dict[str, float] = {}

    def observe() -> dict[str, float]:
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = round(time.monotonic() - since, 2)
        return seen

    return wait_for(observe, until=lambda found: len(found) == len(checks), what=what, timeout=30)


@pytest.mark.argo
def test_argos_configmap_edited_to_secure_the_webhook_refuses_the_update_the_controller_errors(
    control_plane: ControlPlane,
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    tmp_path: Path,
    record_property: Any,
) -> None:
    """One ConfigMap, Argo's own, read by its controller and by the webhook (--argo-configmap);
    the admin edits it from Strict to Secure while both run.

    The change is alice's UPDATE of a running ref Workflow's arguments. On every reconcile under
    Secure, Argo joins the Workflow's spec over its template and workflowDefaults and errors the
    Workflow when the join differs from status.storedWorkflowTemplateSpec; under Strict it makes
    no such compare and runs the stored spec on (setStoredWfSpec, workflow/controller/
    operator.go). The webhook's `secure` rule makes that join and compare on the UPDATE itself,
    and refuses in Argo's words what the controller would fail. The webhook is asked directly,
    not registered with the API server, so the same UPDATE then reaches the controller as it
    would with Argo alone: under Strict both let it through, under Secure both turn it down.
    """
    template = create(admin, make_steps_template(unique("library"), NS))["metadata"]["name"]
    change = set_arguments("changed")
    source = ("--argo-configmap", f"{ARGO_NAMESPACE}/{CONTROLLER_CONFIGMAP}")
    with (
        may_read_configmap(admin, CONTROLLER_CONFIGMAP),
        serve(control_plane, tmp_path, *source) as hook,
    ):
        # Strict: admitted, and the controller runs the changed Workflow to its end (still
        # running at the edit, it would be errored at its next reconcile under Secure)
        strict = start_running(alice, admin, template)
        assert answer_to_update(hook, admin, strict, change)["allowed"]
        update_workflow(alice, NS, strict, change)
        finish_step(executor, admin, NS, strict, 0, "a")
        ended = status(wait_for_phase(admin, NS, strict, ["Succeeded", "Failed", "Error"]))
        assert (ended["phase"], ended.get("message")) == ("Succeeded", None)

        # the admin's edit: both readers follow it, each timed from the write
        name = start_running(alice, admin, template)
        assert answer_to_update(hook, admin, name, change)["allowed"]
        loads = argo_strict.config_loads()
        began = time.monotonic()
        argo_strict.write_configmap(render_config("Secure"))
        seconds = seconds_until(
            {
                "webhook": lambda: not answer_to_update(hook, admin, name, change)["allowed"],
                "controller": lambda: argo_strict.config_loads() > loads,
            },
            since=began,
            what="the webhook and the controller to apply templateReferencing: Secure",
        )
        for reader, took in seconds.items():
            record_property(f"configmap-edit-secure-{reader}-seconds", took)
        message = answer_to_update(hook, admin, name, change)["status"]["message"]
        assert message.startswith(f"[secure] {SPEC_CHANGED}: ")
        assert message.splitlines()[1:] == [
            "  spec.arguments.parameters[name=msg].value: 'hello' -> 'changed'"
        ]

        # the controller agrees: the same UPDATE, with nobody at the door, errors the Workflow
        update_workflow(alice, NS, name, change)
        ended = status(wait_for_phase(admin, NS, name, ["Error", "Failed", "Succeeded"]))
        assert (ended["phase"], ended.get("message")) == ("Error", SPEC_CHANGED)


# --- registration once Ready --------------------------------------------------------------------

OWNER = "argo-admission-e2e-owner"


@pytest.fixture
def may_register(admin: k8s.ApiClient) -> Iterator[str]:
    """What the chart grants the server to register its own configurations; the owner's uid."""
    rbac = k8s.RbacAuthorizationV1Api(admin)
    hooks = ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]
    owner = rbac.create_cluster_role(
        {
            "metadata": {"name": OWNER},
            "rules": [
                {
                    "apiGroups": ["admissionregistration.k8s.io"],
                    "resources": hooks,
                    "verbs": ["create"],
                },
                {
                    "apiGroups": ["admissionregistration.k8s.io"],
                    "resources": hooks,
                    "resourceNames": [OWNER],
                    "verbs": ["get", "update"],
                },
                {
                    "apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["clusterroles"],
                    "resourceNames": [OWNER],
                    "verbs": ["get"],
                },
            ],
        }
    )
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": OWNER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": OWNER,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": WEBHOOK},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"},
            ],
        }
    )
    try:
        yield str(owner.metadata.uid)
    finally:
        k8s.AdmissionregistrationV1Api(admin).delete_validating_webhook_configuration(OWNER)
        rbac.delete_cluster_role_binding(OWNER)
        rbac.delete_cluster_role(OWNER)


def configuration(port: int, ca: Path) -> dict[str, Any]:
    """A validating configuration calling the server on `port`, as the chart would hand it over."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": OWNER},
        "webhooks": [
            {
                "name": "validate.argo-admission.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{port}/validate",
                    "caBundle": base64.b64encode(ca.read_bytes()).decode(),
                },
                "rules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": ["*"],
                        "operations": ["CREATE"],
                        "resources": ["workflows"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": ["team-b"],
                        }
                    ]
                },
            }
        ],
    }


def registered(admin: k8s.ApiClient) -> dict[str, Any] | None:
    try:
        found = k8s.AdmissionregistrationV1Api(admin).read_validating_webhook_configuration(OWNER)
    except k8s.ApiException as error:
        if error.status == 404:
            return None
        raise
    return admin.sanitize_for_serialization(found)  # type: ignore[no-any-return]


def test_the_server_registers_its_configurations_only_once_ready(
    control_plane: ControlPlane, admin: k8s.ApiClient, may_register: str, tmp_path: Path
) -> None:
    port = free_port()
    cert_dir = tmp_path / "certs"
    certs.write_bundle(cert_dir, certs.make_bundle(certs.default_hosts()))
    file = tmp_path / "webhooks.yaml"
    file.write_text(yaml.safe_dump(configuration(port, cert_dir / "ca.crt")))
    args = ("--register-webhooks", str(file), "--webhook-owner", OWNER)
    # bob may register but not list templates: the server never becomes ready, registers nothing
    with serve(control_plane, tmp_path, *args, port=port, user="bob", ready=False) as hook:
        time.sleep(8)
        assert not hook.ready()
        assert registered(admin) is None
    with serve(control_plane, tmp_path, *args, port=port) as hook:
        found = wait_for(
            lambda: registered(admin), what="the configuration to be registered", timeout=30
        )
        assert found["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "name": OWNER,
                "uid": may_register,
            }
        ]
        # and it is in force: the API server now asks this server about team-b's Workflows
        body = inline_workflow()
        body["metadata"]["namespace"] = "team-b"
        wait_for(
            lambda: _refused(admin, body),
            what="the API server to call the registered webhook",
            timeout=30,
        )


def _refused(api: k8s.ApiClient, body: dict[str, Any]) -> bool:
    try:
        k8s.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, "team-b", "workflows", body, dry_run="All"
        )
    except k8s.ApiException as error:
        return error.status == 403 and "[strict]" in str(error.body)
    return False
