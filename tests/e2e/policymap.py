"""The exported MutatingAdmissionPolicy on the e2e API server: install it, and send Argo's
objects through it as any user (impersonated by the admin, groups included), dry-run.

No pytest in here; test_map_e2e.py uses it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import uuid
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from admission.core.config import Config
from admission.core.mutatingpolicy import policy_objects
from controlplane import ControlPlane
from identities import ADMIN
from policyvap import Answer

GROUP, VERSION = "admissionregistration.k8s.io", "v1"
PLURALS = {
    "Workflow": "workflows",
    "CronWorkflow": "cronworkflows",
    "WorkflowTemplate": "workflowtemplates",
    "ClusterWorkflowTemplate": "clusterworkflowtemplates",
}
POLICIES = ("mutatingadmissionpolicies", "mutatingadmissionpolicybindings")
WRITER = "argo-admission-map-writer"


def path_of(obj: dict[str, Any], namespace: str) -> str:
    """The collection URL of `obj`'s kind (cluster-scoped for ClusterWorkflowTemplates)."""
    plural = PLURALS[obj["kind"]]
    if obj["kind"] == "ClusterWorkflowTemplate":
        return f"/apis/argoproj.io/v1alpha1/{plural}"
    return f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/{plural}"


def send(
    plane: ControlPlane,
    method: str,
    path: str,
    obj: dict[str, Any],
    *,
    user: str,
    groups: list[str] | tuple[str, ...],
    dry_run: bool = True,
) -> Answer:
    """`method` `obj` to `path` as `user` in `groups` (impersonated by the admin)."""
    conn = http.client.HTTPSConnection(
        "127.0.0.1", plane.port, context=ssl.create_default_context(cafile=str(plane.ca_path))
    )
    conn.putrequest(method, path + ("?dryRun=All" if dry_run else ""))
    conn.putheader("Authorization", f"Bearer {plane.user(ADMIN).token}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Impersonate-User", user)
    for group in groups:
        conn.putheader("Impersonate-Group", group)
    body = json.dumps(obj).encode()
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = json.loads(response.read() or b"{}")
    conn.close()
    return Answer(response.status, data, ())


def install(plane: ControlPlane, config: Config) -> str:
    """Put the policy and its binding in place (updated where they exist) and wait until the
    API server mutates with this version: a probe template gets the probe's mark, the token
    returned."""
    objects = policy_objects(config)
    token = uuid.uuid4().hex[:8]
    policy = objects[0]
    policy["spec"]["mutations"].append(_probe_mutation(token))
    api = k8s.CustomObjectsApi(plane.client(ADMIN))
    for obj, plural in zip(objects, POLICIES, strict=True):
        name = obj["metadata"]["name"]
        try:
            current = api.get_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            api.create_cluster_custom_object(GROUP, VERSION, plural, obj)
            continue
        obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        api.replace_cluster_custom_object(GROUP, VERSION, plural, name, obj)
    _wait(plane, token, marked=True)
    return token


def _probe_mutation(token: str) -> dict[str, Any]:
    """A mutation that marks only the probe template sent with `token`."""
    return {
        "patchType": "JSONPatch",
        "jsonPatch": {
            "expression": "has(object.metadata.generateName) && "
            f"object.metadata.generateName == 'probe-{token}-' ? "
            f"[JSONPatch{{op: 'add', path: '/spec/probe', value: '{token}'}}] : []"
        },
    }


def probe(plane: ControlPlane, token: str) -> Answer:
    """A WorkflowTemplate by a user no policy exempts (dry-run)."""
    obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"generateName": f"probe-{token}-"},
        "spec": {"templates": []},
    }
    return send(plane, "POST", path_of(obj, "team-a"), obj, user="probe", groups=["probe"])


def _wait(plane: ControlPlane, token: str, *, marked: bool, timeout: float = 30.0) -> None:
    """Until the probe with `token` is marked (or, not `marked`, no longer is)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe(plane, token)
        if (answer.body.get("spec", {}).get("probe") == token) is marked:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the policy change did not take effect in {timeout}s: {answer}")
        time.sleep(0.1)


def remove(plane: ControlPlane, token: str = "") -> None:
    """Delete the bindings and the policies, where present; with the `token` of the last
    install, wait until the API server no longer mutates with it."""
    api = k8s.CustomObjectsApi(plane.client(ADMIN))
    for plural in reversed(POLICIES):
        for item in api.list_cluster_custom_object(GROUP, VERSION, plural)["items"]:
            api.delete_cluster_custom_object(GROUP, VERSION, plural, item["metadata"]["name"])
    if token:
        _wait(plane, token, marked=False)


def allow_writes(plane: ControlPlane, users: set[str]) -> None:
    """RBAC for the impersonated users to create and update Argo's objects anywhere;
    revoke_writes() takes it back."""
    rbac = k8s.RbacAuthorizationV1Api(plane.client(ADMIN))
    revoke_writes(plane)
    rule = {
        "apiGroups": ["argoproj.io"],
        "resources": sorted(PLURALS.values()),
        "verbs": ["create", "update", "get"],
    }
    rbac.create_cluster_role({"metadata": {"name": WRITER}, "rules": [rule]})
    subjects = [
        {"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in sorted(users)
    ]
    role = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": WRITER}
    rbac.create_cluster_role_binding(
        {"metadata": {"name": WRITER}, "roleRef": role, "subjects": subjects}
    )


def revoke_writes(plane: ControlPlane) -> None:
    """Delete what allow_writes() made, where present."""
    rbac = k8s.RbacAuthorizationV1Api(plane.client(ADMIN))
    for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
        try:
            delete(WRITER)
        except ApiException as exc:
            if exc.status != 404:
                raise
