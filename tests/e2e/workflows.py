"""Argo objects for e2e tests, as plain dicts, and small helpers to drive and observe them.

Every container carries a `command`: without one the controller asks the image registry for
the entrypoint, and the suite has no network beyond loopback.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from harness.processes import wait_for

GROUP, VERSION = "argoproj.io", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
WAIT = 30.0
T = TypeVar("T")


def unique(prefix: str) -> str:
    """A fresh object name: tests share one control plane, so names never repeat."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def container(image: str, *args: str) -> dict[str, Any]:
    """A container template body with an explicit command."""
    return {"image": image, "command": ["echo"], "args": list(args) or ["hello"]}


def make_template(
    name: str,
    namespace: str,
    *,
    image: str = "alpine:3.20",
    templates: list[dict[str, Any]] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A WorkflowTemplate whose entrypoint `main` runs one container of `image`."""
    body = {
        "entrypoint": "main",
        "templates": templates or [{"name": "main", "container": container(image)}],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkflowTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**body, **(spec or {})},
    }


def make_ref_workflow(name: str, namespace: str, template: str, **spec: Any) -> dict[str, Any]:
    """A Workflow that only references WorkflowTemplate `template` (plus `spec` fields)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"workflowTemplateRef": {"name": template}, **spec},
    }


def make_inline_workflow(
    name: str, namespace: str, *, image: str = "alpine:3.20"
) -> dict[str, Any]:
    """A Workflow carrying its own templates, no reference."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": container(image)}],
        },
    }


def custom(api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    """The custom-objects API on a user's client."""
    return k8s.CustomObjectsApi(api)


def create(api: k8s.ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    """Create an Argo object (Workflow, WorkflowTemplate, ...) as the client's user."""
    plural = body["kind"].lower() + "s"
    namespace = body["metadata"]["namespace"]
    return dict(
        custom(api).create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    )


def get_workflow(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    """The Workflow as stored now."""
    return dict(
        custom(api).get_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", name)
    )


def get_cron_workflow(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    """The CronWorkflow as stored now."""
    return dict(
        custom(api).get_namespaced_custom_object(GROUP, VERSION, namespace, "cronworkflows", name)
    )


def update_workflow(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    change: Callable[[dict[str, Any]], None],
    *,
    attempts: int = 10,
) -> dict[str, Any]:
    """UPDATE (PUT) a Workflow after `change(obj)` edits a fresh copy; retries on conflict.

    The controller writes the Workflow too, so a read-modify-write can lose the race.
    """
    for _ in range(attempts - 1):
        current = get_workflow(api, namespace, name)
        change(current)
        try:
            return replace(api, current)
        except ApiException as error:
            if error.status != 409:
                raise
    current = get_workflow(api, namespace, name)
    change(current)
    return replace(api, current)


def replace(api: k8s.ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    """PUT a whole Workflow as the client's user."""
    meta = body["metadata"]
    return dict(
        custom(api).replace_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], "workflows", meta["name"], body
        )
    )


def status(workflow: dict[str, Any]) -> dict[str, Any]:
    """A Workflow's status, {} when it has none."""
    return workflow.get("status") or {}


def stored_spec(workflow: dict[str, Any]) -> dict[str, Any] | None:
    """`status.storedWorkflowTemplateSpec`: what the controller runs for a ref Workflow."""
    return status(workflow).get("storedWorkflowTemplateSpec")


def describe_workflow(workflow: dict[str, Any]) -> str:
    """The parts of a Workflow worth printing when a wait fails: phase, message, nodes."""
    st = status(workflow)
    return json.dumps(
        {
            "phase": st.get("phase"),
            "message": st.get("message"),
            "stored": stored_spec(workflow) is not None,
            "nodes": sorted(
                [n.get("displayName"), n.get("phase")] for n in (st.get("nodes") or {}).values()
            ),
        }
    )


def describe_pods(pods: list[dict[str, Any]]) -> str:
    """Pod names and main images, for a failed wait."""
    return json.dumps(
        [{"name": p["metadata"]["name"], "images": sorted(pod_images([p]))} for p in pods]
    )


class Shown(Generic[T]):
    """A value held for wait_for(), printed by `show` when the wait fails."""

    def __init__(self, value: T, show: Callable[[T], str]) -> None:
        self.value = value
        self.show = show

    def __repr__(self) -> str:
        return self.show(self.value)


def wait_for_workflow(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    until: Callable[[dict[str, Any]], Any],
    *,
    what: str,
    timeout: float = WAIT,
) -> dict[str, Any]:
    """Poll a Workflow until `until(workflow)` holds; a failure shows phase, message, nodes."""
    found = wait_for(
        lambda: Shown(get_workflow(api, namespace, name), describe_workflow),
        until=lambda seen: until(seen.value),
        what=f"Workflow {namespace}/{name} {what}",
        timeout=timeout,
    )
    return found.value


def wait_for_phase(
    api: k8s.ApiClient, namespace: str, name: str, phases: Iterable[str], *, timeout: float = WAIT
) -> dict[str, Any]:
    """Wait until the Workflow's phase is one of `phases`."""
    wanted = tuple(phases)
    return wait_for_workflow(
        api,
        namespace,
        name,
        lambda wf: status(wf).get("phase") in wanted,
        what=f"to reach phase {' or '.join(wanted)}",
        timeout=timeout,
    )


def list_pods(api: k8s.ApiClient, namespace: str, workflow: str) -> list[dict[str, Any]]:
    """The pods the controller created for a Workflow, as plain dicts."""
    response = k8s.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"{WORKFLOW_LABEL}={workflow}", _preload_content=False
    )
    return list(json.loads(response.data)["items"])


def main_args(pods: Iterable[dict[str, Any]]) -> list[list[str]]:
    """The args of each pod's main container."""
    return [c.get("args", []) for p in pods for c in p["spec"]["containers"] if c["name"] == "main"]


def pod_images(pods: Iterable[dict[str, Any]]) -> set[str]:
    """Every image the pods' main containers run (Argo's init/wait containers excluded)."""
    return {c["image"] for pod in pods for c in pod["spec"]["containers"] if c["name"] == "main"}


def wait_for_pods(
    api: k8s.ApiClient,
    namespace: str,
    workflow: str,
    until: Callable[[list[dict[str, Any]]], Any],
    *,
    what: str,
    timeout: float = WAIT,
) -> list[dict[str, Any]]:
    """Poll a Workflow's pods until `until(pods)` holds; a failure lists the pods seen."""
    found = wait_for(
        lambda: Shown(list_pods(api, namespace, workflow), describe_pods),
        until=lambda seen: until(seen.value),
        what=f"pods of Workflow {namespace}/{workflow} {what}",
        timeout=timeout,
    )
    return found.value


def evil_spec(image: str = "evil:latest") -> dict[str, Any]:
    """A complete inline WorkflowSpec running `image`: what an attacker would store."""
    return {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": container(image, "pwned")}],
    }


def with_stored(
    body: dict[str, Any], spec: dict[str, Any], *, phase: str | None = None
) -> dict[str, Any]:
    """A copy of a Workflow carrying a user-written `status.storedWorkflowTemplateSpec`."""
    body = copy.deepcopy(body)
    body["status"] = {"storedWorkflowTemplateSpec": spec, **({"phase": phase} if phase else {})}
    return body


def delete_all(api: k8s.ApiClient, namespace: str) -> None:
    """Delete every Workflow, WorkflowTemplate and pod in a namespace (there is no GC here)."""
    objects = custom(api)
    for plural in ("workflows", "workflowtemplates", "cronworkflows"):
        objects.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, plural)
    # Pods have no kubelet to finish them and no garbage collector to follow ownerReferences.
    k8s.CoreV1Api(api).delete_collection_namespaced_pod(namespace, grace_period_seconds=0)


def make_steps_template(name: str, namespace: str, *, image: str = "alpine:3.20") -> dict[str, Any]:
    """A WorkflowTemplate: `main` runs one step `a` (template `work`, echoing parameter `msg`)."""
    templates = [
        {"name": "main", "steps": [[{"name": "a", "template": "work"}]]},
        {"name": "work", "container": container(image, "{{workflow.parameters.msg}}")},
    ]
    arguments = {"parameters": [{"name": "msg", "value": "hello"}]}
    return make_template(name, namespace, templates=templates, spec={"arguments": arguments})


def set_arguments(value: str, *, suspend: bool | None = None) -> Callable[[dict[str, Any]], None]:
    """An edit setting parameter `msg` in spec.arguments (and spec.suspend, when given)."""

    def change(workflow: dict[str, Any]) -> None:
        workflow["spec"]["arguments"] = {"parameters": [{"name": "msg", "value": value}]}
        if suspend is not None:
            workflow["spec"]["suspend"] = suspend

    return change


def with_extra_step(spec: dict[str, Any], *, image: str = "evil:latest") -> dict[str, Any]:
    """A copy of a steps spec whose `main` also runs a parallel step `b` of `image`.

    A running Workflow never re-runs a node it already has; a new step is what a swapped
    stored spec needs to show what the controller now executes.
    """
    spec = copy.deepcopy(spec)
    main = next(t for t in spec["templates"] if t["name"] == "main")
    main["steps"][0].append({"name": "b", "template": "extra"})
    spec["templates"].append({"name": "extra", "container": container(image, "pwned")})
    return spec


def error_message(error: ApiException) -> str:
    """The API server's `message` from a failed request (what kubectl would print)."""
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.body or error.reason)


# -- beyond Workflows: CronWorkflows, cluster templates, warnings, existence -------------------

WARNING = re.compile(r'^\d{3} \S+ "(?P<text>(?:[^"\\]|\\.)*)"')


def make_cron_workflow(name: str, namespace: str, workflow_spec: dict[str, Any]) -> dict[str, Any]:
    """A CronWorkflow that would start `workflow_spec` once a year (never during a test)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "CronWorkflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"schedules": ["0 0 1 1 *"], "workflowSpec": workflow_spec},
    }


def make_cluster_template(name: str, *, image: str = "alpine:3.20") -> dict[str, Any]:
    """A ClusterWorkflowTemplate whose entrypoint `main` runs one container of `image`."""
    body = make_template(name, "", image=image)
    body["kind"] = "ClusterWorkflowTemplate"
    body["metadata"] = {"name": name}
    return body


def create_cluster_template(api: k8s.ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    """Create a ClusterWorkflowTemplate as the client's user."""
    return dict(
        custom(api).create_cluster_custom_object(GROUP, VERSION, "clusterworkflowtemplates", body)
    )


def delete_cluster_template(api: k8s.ApiClient, name: str) -> None:
    """Delete a ClusterWorkflowTemplate if it exists (delete_all leaves cluster objects)."""
    try:
        custom(api).delete_cluster_custom_object(GROUP, VERSION, "clusterworkflowtemplates", name)
    except ApiException as error:
        if error.status != 404:
            raise


def create_with_warnings(
    api: k8s.ApiClient, body: dict[str, Any], *, dry_run: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Create a namespaced Argo object; return what the API server answered and its warnings.

    The warnings travel as HTTP `Warning` headers, which the generated client drops; the raw
    response keeps them.
    """
    plural = body["kind"].lower() + "s"
    extra = {"dry_run": "All"} if dry_run else {}
    response = custom(api).create_namespaced_custom_object(
        GROUP, VERSION, body["metadata"]["namespace"], plural, body, _preload_content=False, **extra
    )
    return json.loads(response.data), warning_texts(response.headers.getlist("Warning"))


def warning_texts(headers: Iterable[str]) -> list[str]:
    """The texts of `Warning: 299 - "text"` headers (RFC 7234), unescaped, in order."""
    texts = []
    for header in headers:
        match = WARNING.match(header)
        if match is None:
            raise ValueError(f"not a Warning header: {header!r}")
        texts.append(re.sub(r"\\(.)", r"\1", match["text"]))
    return texts


def exists(api: k8s.ApiClient, body: dict[str, Any]) -> bool:
    """Whether the namespaced Argo object `body` names is stored."""
    meta = body["metadata"]
    try:
        custom(api).get_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], body["kind"].lower() + "s", meta["name"]
        )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def find_node(workflow: dict[str, Any], display_name: str) -> dict[str, Any] | None:
    """The Workflow's node of that display name (a step's name), or None."""
    nodes = [
        n
        for n in (status(workflow).get("nodes") or {}).values()
        if n.get("displayName") == display_name
    ]
    assert len(nodes) <= 1, f"{len(nodes)} nodes named {display_name}"
    return nodes[0] if nodes else None


def node_phase(workflow: dict[str, Any], display_name: str) -> str | None:
    """The phase of the Workflow's node of that display name, None when there is no node."""
    node = find_node(workflow, display_name)
    return node.get("phase") if node else None


def wait_for_node(
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    step: str,
    phases: Iterable[str],
    *,
    timeout: float = WAIT,
) -> dict[str, Any]:
    """Wait until the Workflow's node of step `step` is in one of `phases`; the Workflow."""
    wanted = tuple(phases)
    return wait_for_workflow(
        api,
        namespace,
        name,
        lambda wf: node_phase(wf, step) in wanted,
        what=f"to have step {step} {' or '.join(wanted)}",
        timeout=timeout,
    )
