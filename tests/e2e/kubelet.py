"""The parts of a running Workflow no process plays here, played by the tests: the kubelet and
Argo's executor.

There is no kubelet: the pods the controller creates stay Pending. To let a step finish, a test
does what the node's two agents would: the executor (in the pod's `wait` container, as the
Workflow's ServiceAccount) reports the step's outputs in a WorkflowTaskResult named after the
node, then marks it complete; the kubelet reports the pod Succeeded.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from workflows import GROUP, VERSION, WORKFLOW_LABEL, custom, get_workflow, wait_for_pods

# Argo's labels on a WorkflowTaskResult (workflow/common/common.go).
OUTPUTS_COMPLETED = "workflows.argoproj.io/report-outputs-completed"
NODE_NAME = "workflows.argoproj.io/node-name"
# How long report_outputs retries "not yet" (the executor retries for ever).
RETRY_TIMEOUT = 30.0


def node_id(workflow: str, node_name: str) -> str:
    """The ID Argo gives a node: the Workflow's name and the FNV-1a hash of the node's name
    (Workflow.NodeID in pkg/apis/workflow/v1alpha1/workflow_types.go)."""
    if node_name == workflow:
        return workflow
    digest = 0x811C9DC5
    for byte in node_name.encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{workflow}-{digest}"


def step_node_name(workflow: str, group: int, step: str) -> str:
    """The name of the node of step `step` in step group `group` of a steps entrypoint."""
    return f"{workflow}[{group}].{step}"


def step_pod(pods: list[dict[str, Any]], step: str) -> dict[str, Any] | None:
    """The pod of a step, by the node name Argo annotates it with; None if there is none."""
    found = [p for p in pods if p["metadata"].get("annotations", {}).get(NODE_NAME, "")
             .endswith(f".{step}")]
    assert len(found) <= 1, f"{len(found)} pods for step {step}"
    return found[0] if found else None


def wait_for_step_pod(api: k8s.ApiClient, namespace: str, workflow: str,
                      step: str) -> dict[str, Any]:
    """Wait until the controller has created the pod of step `step`; the pod."""
    pods = wait_for_pods(api, namespace, workflow, lambda pods: step_pod(pods, step),
                         what=f"to include step {step}'s pod")
    pod = step_pod(pods, step)
    assert pod is not None
    return pod


def report_outputs(executor: k8s.ApiClient, workflow: dict[str, Any], node: str,
                   outputs: dict[str, Any], *, retry: bool = True) -> str:
    """As the executor does while the step runs: create the node's WorkflowTaskResult with its
    outputs, not yet complete (workflow/executor/taskresult.go). Its name.

    Like the executor, retry what the API server calls transient (a 429: the controller records
    a step's node only after creating its pod, so the first write can come before the node),
    after the Retry-After it sends; `retry=False` makes one attempt."""
    meta = workflow["metadata"]
    name = node_id(meta["name"], node)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkflowTaskResult",
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": {WORKFLOW_LABEL: meta["name"], OUTPUTS_COMPLETED: "false"},
                         "ownerReferences": [{"apiVersion": f"{GROUP}/{VERSION}",
                                              "kind": "Workflow", "name": meta["name"],
                                              "uid": meta["uid"]}]},
            "outputs": outputs}
    deadline = time.monotonic() + RETRY_TIMEOUT
    while True:
        try:
            custom(executor).create_namespaced_custom_object(GROUP, VERSION, meta["namespace"],
                                                             "workflowtaskresults", body)
            return name
        except ApiException as exc:
            if not retry or exc.status != 429 or time.monotonic() > deadline:
                raise
            time.sleep(float((exc.headers or {}).get("Retry-After", 1)))


def complete_outputs(executor: k8s.ApiClient, namespace: str, name: str) -> None:
    """As the executor does when the step has ended: label its WorkflowTaskResult complete."""
    patch_task_result(executor, namespace, name,
                      {"metadata": {"labels": {OUTPUTS_COMPLETED: "true"}}})


def patch_task_result(api: k8s.ApiClient, namespace: str, name: str,
                      patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of a WorkflowTaskResult, as the client's user."""
    return dict(custom(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "workflowtaskresults", name, patch))


def finish_pod(admin: k8s.ApiClient, pod: dict[str, Any]) -> None:
    """As the kubelet does when every container exited 0: the pod's status says Succeeded."""
    spec = pod["spec"]
    status = {"phase": "Succeeded",
              "containerStatuses": [terminated(c) for c in spec["containers"]]}
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [terminated(c) for c in spec["initContainers"]]
    k8s.CoreV1Api(admin).patch_namespaced_pod_status(pod["metadata"]["name"],
                                                     pod["metadata"]["namespace"],
                                                     {"status": status})


def finish_step(executor: k8s.ApiClient, admin: k8s.ApiClient, namespace: str, workflow: str,
                group: int, step: str, outputs: dict[str, Any] | None = None) -> None:
    """Both agents' part for step `step` of step group `group` once its pod exists: the executor
    reports its outputs (none by default) complete, the kubelet the pod Succeeded."""
    pod = wait_for_step_pod(admin, namespace, workflow, step)
    result = report_outputs(executor, get_workflow(admin, namespace, workflow),
                            step_node_name(workflow, group, step), outputs or {})
    complete_outputs(executor, namespace, result)
    finish_pod(admin, pod)


def terminated(container: dict[str, Any]) -> dict[str, Any]:
    """The status the kubelet reports for a container that ran and exited 0 just now."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(container["image"].encode()).hexdigest()
    return {"name": container["name"], "image": container["image"],
            "imageID": f"docker.io/library/{container['image']}@sha256:{digest}",
            "ready": False, "restartCount": 0, "started": False,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                     "startedAt": now, "finishedAt": now}}}
