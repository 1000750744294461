"""The parts of a running Workflow no process plays here, played by the tests: the kubelet and
Argo's executor.

There is no kubelet: the pods the controller creates stay Pending. To let a step finish, a test
does what the node's two agents would: the executor (in the pod's `wait` container, as the
Workflow's ServiceAccount) reports the step's outputs in a WorkflowTaskResult named after the
node, then marks it complete; the kubelet reports the pod Succeeded.

The executor writes with the token the kubelet projects into its pod: a service-account token
bound to the pod, minted here as the kubelet does, through the TokenRequest API with a
`boundObjectRef` to the pod (`PodExecutor`). The API server then names the pod in the request's
`userInfo.extra` (`authentication.kubernetes.io/pod-name`, `pod-uid`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from harness.processes import wait_for
from workflows import GROUP, VERSION, WORKFLOW_LABEL, custom, get_workflow, wait_for_pods

# Argo's labels on a WorkflowTaskResult (workflow/common/common.go).
OUTPUTS_COMPLETED = "workflows.argoproj.io/report-outputs-completed"
NODE_NAME = "workflows.argoproj.io/node-name"
NODE_ID = "workflows.argoproj.io/node-id"
# How long a projected token lives (the kubelet asks for an hour and renews it).
TOKEN_SECONDS = 3600
POD_WAIT = 30.0


class PodExecutor:
    """Argo's executor in whichever pod the controller created for a node: each write goes out
    with a token bound to that pod, minted by the TokenRequest API as the kubelet mints it."""

    def __init__(self, admin: k8s.ApiClient, token_client: Callable[[str], k8s.ApiClient]):
        self.admin = admin
        self.token_client = token_client
        self._clients: dict[str, k8s.ApiClient] = {}

    def pod_of(self, namespace: str, node_id: str) -> dict[str, Any]:
        """The pod of node `node_id` (by the node-id annotation Argo gives it), once it exists."""

        def find() -> list[dict[str, Any]]:
            answer = k8s.CoreV1Api(self.admin).list_namespaced_pod(
                namespace, _preload_content=False
            )
            return [
                p
                for p in json.loads(answer.data)["items"]
                if (p["metadata"].get("annotations") or {}).get(NODE_ID) == node_id
            ]

        found = wait_for(
            find, until=bool, what=f"the pod of node {namespace}/{node_id}", timeout=POD_WAIT
        )
        return found[0]

    def client(self, namespace: str, node_id: str) -> k8s.ApiClient:
        """An ApiClient with a token bound to the pod of node `node_id` (cached per pod UID)."""
        pod = self.pod_of(namespace, node_id)
        return self.bound_client(pod)

    def bound_client(self, pod: dict[str, Any]) -> k8s.ApiClient:
        """An ApiClient with a token of `pod`'s account, bound to `pod`."""
        meta = pod["metadata"]
        if meta["uid"] not in self._clients:
            account = pod["spec"].get("serviceAccountName") or "default"
            token = bound_token(self.admin, meta["namespace"], account, meta["name"], meta["uid"])
            self._clients[meta["uid"]] = self.token_client(token)
        return self._clients[meta["uid"]]


def bound_token(admin: k8s.ApiClient, namespace: str, account: str, pod: str, uid: str) -> str:
    """A token of `account` bound to pod `pod` (TokenRequest with a boundObjectRef)."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [],
            "expirationSeconds": TOKEN_SECONDS,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": uid},
        },
    }
    answer = k8s.CoreV1Api(admin).create_namespaced_service_account_token(
        account, namespace, request
    )
    return str(answer.status.token)


Writer = k8s.ApiClient | PodExecutor


def writer_for(executor: Writer, namespace: str, node_id: str) -> k8s.ApiClient:
    """The client a write about node `node_id` goes out with: the node's pod's token for a
    PodExecutor, else the given client (a static identity: a forger, a token Secret)."""
    if isinstance(executor, PodExecutor):
        return executor.client(namespace, node_id)
    return executor


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
    found = [
        p
        for p in pods
        if p["metadata"].get("annotations", {}).get(NODE_NAME, "").endswith(f".{step}")
    ]
    assert len(found) <= 1, f"{len(found)} pods for step {step}"
    return found[0] if found else None


def wait_for_step_pod(
    api: k8s.ApiClient, namespace: str, workflow: str, step: str
) -> dict[str, Any]:
    """Wait until the controller has created the pod of step `step`; the pod."""
    pods = wait_for_pods(
        api,
        namespace,
        workflow,
        lambda pods: step_pod(pods, step),
        what=f"to include step {step}'s pod",
    )
    pod = step_pod(pods, step)
    assert pod is not None
    return pod


def report_outputs(
    executor: Writer,
    workflow: dict[str, Any],
    node: str,
    outputs: dict[str, Any],
    *,
    retry: bool = True,
) -> str:
    """As the executor does while the step runs: create the node's WorkflowTaskResult with its
    outputs, not yet complete (workflow/executor/taskresult.go). Its name.

    Like the executor, retry what the API server calls transient (a 429: the controller records
    a step's node only after creating its pod, so the first write can come before the node),
    after the Retry-After it sends; `retry=False` makes one attempt."""
    meta = workflow["metadata"]
    name = node_id(meta["name"], node)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {WORKFLOW_LABEL: meta["name"], OUTPUTS_COMPLETED: "false"},
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Workflow",
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
            ],
        },
        "outputs": outputs,
    }
    deadline = time.monotonic() + RETRY_TIMEOUT
    while True:
        try:
            custom(writer_for(executor, meta["namespace"], name)).create_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], "workflowtaskresults", body
            )
            return name
        except ApiException as exc:
            if not retry or exc.status != 429 or time.monotonic() > deadline:
                raise
            time.sleep(float((exc.headers or {}).get("Retry-After", 1)))


def complete_outputs(executor: Writer, namespace: str, name: str) -> None:
    """As the executor does when the step has ended: label its WorkflowTaskResult complete."""
    patch_task_result(
        writer_for(executor, namespace, name),
        namespace,
        name,
        {"metadata": {"labels": {OUTPUTS_COMPLETED: "true"}}},
    )


def patch_task_result(
    api: k8s.ApiClient, namespace: str, name: str, patch: dict[str, Any]
) -> dict[str, Any]:
    """A JSON merge patch of a WorkflowTaskResult, as the client's user."""
    return dict(
        custom(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "workflowtaskresults", name, patch
        )
    )


def finish_pod(admin: k8s.ApiClient, pod: dict[str, Any]) -> None:
    """As the kubelet does when every container exited 0: the pod's status says Succeeded."""
    spec = pod["spec"]
    status = {
        "phase": "Succeeded",
        "containerStatuses": [terminated(c) for c in spec["containers"]],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [terminated(c) for c in spec["initContainers"]]
    k8s.CoreV1Api(admin).patch_namespaced_pod_status(
        pod["metadata"]["name"], pod["metadata"]["namespace"], {"status": status}
    )


def finish_step(
    executor: Writer,
    admin: k8s.ApiClient,
    namespace: str,
    workflow: str,
    group: int,
    step: str,
    outputs: dict[str, Any] | None = None,
) -> None:
    """Both agents' part for step `step` of step group `group` once its pod exists: the executor
    reports its outputs (none by default) complete, the kubelet the pod Succeeded."""
    pod = wait_for_step_pod(admin, namespace, workflow, step)
    result = report_outputs(
        executor,
        get_workflow(admin, namespace, workflow),
        step_node_name(workflow, group, step),
        outputs or {},
    )
    complete_outputs(executor, namespace, result)
    finish_pod(admin, pod)


def terminated(container: dict[str, Any]) -> dict[str, Any]:
    """The status the kubelet reports for a container that ran and exited 0 just now."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(container["image"].encode()).hexdigest()
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": f"docker.io/library/{container['image']}@sha256:{digest}",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": now,
                "finishedAt": now,
            }
        },
    }
