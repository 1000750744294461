"""The exported ValidatingAdmissionPolicy on the e2e API server: install it, and send objects
through it as any user (impersonated by the admin, groups included), dry-run or for real.

No pytest in here; test_vap_e2e.py and bench/apiserver.py use it.
"""

from __future__ import annotations

import copy
import http.client
import json
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from admission.core.config import Config
from admission.core.vap import policy_objects
from controlplane import ControlPlane
from identities import ADMIN

NAME = "argo-admission"
# What a traced policy warns (Warn action) when its short path (`variables.plain`) admits, and
# when that short path admits what its full chain of checks refuses.
PLAIN = "took the plain path"
PLAIN_WRONG = "the plain path admits what the checks refuse: "
LIBRARY = ("argo-admission", "argo-admission-library")
PLURALS = {"Workflow": "workflows", "CronWorkflow": "cronworkflows"}


@dataclass(frozen=True)
class Answer:
    """The API server's answer to one create: status, body, warnings."""

    status: int
    body: dict[str, Any]
    warnings: tuple[str, ...]

    @property
    def message(self) -> str:
        """The Status message of a refusal ("" when admitted)."""
        return str(self.body.get("message", "")) if self.status >= 400 else ""


def create(
    plane: ControlPlane,
    obj: dict[str, Any],
    *,
    namespace: str,
    user: str,
    groups: list[str] | tuple[str, ...],
    dry_run: bool = True,
) -> Answer:
    """POST `obj` into `namespace` as `user` in `groups` (impersonated by the admin)."""
    conn = http.client.HTTPSConnection(
        "127.0.0.1", plane.port, context=ssl.create_default_context(cafile=str(plane.ca_path))
    )
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/{PLURALS[obj['kind']]}"
    conn.putrequest("POST", path + ("?dryRun=All" if dry_run else ""))
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
    warnings = tuple(_warning_text(w) for w in response.headers.get_all("Warning") or [])
    conn.close()
    return Answer(response.status, data, warnings)


def _warning_text(header: str) -> str:
    """The text of an RFC 7234 Warning header as the API server writes it (299 - "text")."""
    text = header.split(" ", 2)[-1].strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def install(
    plane: ControlPlane,
    config: Config,
    *,
    actions: list[str] | None = None,
    library: dict[str, str] | None = None,
    param: bool = False,
    trace: bool = False,
) -> list[dict[str, Any]]:
    """Put the policy, its binding and (given `library`) the index ConfigMap in place, updated
    where they exist, and wait until the API server decides with this version. With `param`
    the policy reads the index someone else keeps (the server). With `trace` a second policy
    (`<name>-trace`, bound with Warn) reads the same variables for every CREATE, the plain ones
    the policy's matchCondition lets through included: it warns PLAIN when the plain path
    would admit, and PLAIN_WRONG when that contradicts the chain of checks.

    Updated, not deleted and created again: the API server's informer for a paramKind is not
    always started again for a policy created anew under the same name (seen on v1.36.3), and
    every CREATE then fails with "no params found".
    """
    reads = library is not None or param
    objects = policy_objects(config, library=LIBRARY if reads else None)
    token = uuid.uuid4().hex[:8]
    for obj in objects:
        if actions and obj["kind"] == "ValidatingAdmissionPolicyBinding":
            obj["spec"]["validationActions"] = actions
        if obj["kind"] == "ValidatingAdmissionPolicy" and obj["metadata"]["name"] == NAME:
            obj["spec"]["validations"].insert(0, _probe_check(token))
    if trace:
        objects += _tracer(objects, token)
    core = k8s.CoreV1Api(plane.client(ADMIN))
    if library is not None:
        _ensure_namespace(core, LIBRARY[0])
        _put(
            lambda: core.read_namespaced_config_map(LIBRARY[1], LIBRARY[0]),
            lambda body: core.create_namespaced_config_map(LIBRARY[0], body),
            lambda body: core.replace_namespaced_config_map(LIBRARY[1], LIBRARY[0], body),
            {"metadata": {"name": LIBRARY[1]}, "data": library},
        )
    for obj in objects:
        _put_policy(plane, obj)
    for name in installed(plane) - {o["metadata"]["name"] for o in objects}:
        _delete_policy(plane, name)
    _wait(plane, token, policies=2 if trace else 1)
    return objects


def _tracer(objects: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    """The trace policy and its binding: the policy's variables, no matchCondition, the probe
    and TRACE as its validations, bound with Warn."""
    policy, binding = (copy.deepcopy(o) for o in objects[:2])
    name = f"{NAME}-trace"
    policy["metadata"]["name"] = binding["metadata"]["name"] = name
    policy["spec"].pop("matchConditions", None)
    policy["spec"]["validations"] = [_probe_check(token), *TRACE]
    binding["spec"]["policyName"] = name
    binding["spec"]["validationActions"] = ["Warn"]
    return [policy, binding]


TRACE = [
    {"expression": "!variables.plain", "message": PLAIN},
    {
        "expression": "!variables.plain || variables.problem == ''",
        "messageExpression": f"'{PLAIN_WRONG}' + variables.problem",
    },
]


def _probe_check(token: str) -> dict[str, str]:
    """A check that refuses only the probe sent with `token`: proof this version decides."""
    return {
        "expression": "!has(object.metadata.generateName) || "
        f"object.metadata.generateName != 'probe-{token}-'",
        "message": f"probe {token}",
        "reason": "Forbidden",
    }


def _put_policy(plane: ControlPlane, obj: dict[str, Any]) -> None:
    api = k8s.AdmissionregistrationV1Api(plane.client(ADMIN))
    kind = "validating_admission_policy"
    if obj["kind"].endswith("Binding"):
        kind += "_binding"
    name = obj["metadata"]["name"]
    _put(
        lambda: getattr(api, f"read_{kind}")(name),
        getattr(api, f"create_{kind}"),
        lambda body: getattr(api, f"replace_{kind}")(name, body),
        obj,
    )


def installed(plane: ControlPlane) -> set[str]:
    """Names of the policies of ours in place."""
    api = k8s.AdmissionregistrationV1Api(plane.client(ADMIN))
    return {
        p.metadata.name
        for p in api.list_validating_admission_policy().items
        if p.metadata.name.startswith(NAME)
    }


def _delete_policy(plane: ControlPlane, name: str) -> None:
    api = k8s.AdmissionregistrationV1Api(plane.client(ADMIN))
    for delete in (
        api.delete_validating_admission_policy_binding,
        api.delete_validating_admission_policy,
    ):
        try:
            delete(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def _put(
    read: Callable[[], Any],
    create: Callable[[Any], Any],
    replace: Callable[[Any], Any],
    body: dict[str, Any],
) -> None:
    try:
        current = read()
    except ApiException as exc:
        if exc.status != 404:
            raise
        create(body)
        return
    body = {
        **body,
        "metadata": {**body["metadata"], "resourceVersion": current.metadata.resource_version},
    }
    replace(body)


def remove(plane: ControlPlane) -> None:
    """Delete the policies, their bindings and the index, where present."""
    for name in installed(plane):
        _delete_policy(plane, name)
    try:
        k8s.CoreV1Api(plane.client(ADMIN)).delete_namespaced_config_map(LIBRARY[1], LIBRARY[0])
    except ApiException as exc:
        if exc.status != 404:
            raise


CREATOR = "argo-admission-vap-creator"


def allow_creates(plane: ControlPlane, users: set[str]) -> None:
    """RBAC for the impersonated users to create Workflows and CronWorkflows anywhere (the
    policy is only asked once RBAC allows); revoke_creates() takes it back."""
    rbac = k8s.RbacAuthorizationV1Api(plane.client(ADMIN))
    revoke_creates(plane)
    rule = {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflows", "cronworkflows"],
        "verbs": ["create"],
    }
    rbac.create_cluster_role({"metadata": {"name": CREATOR}, "rules": [rule]})
    subjects = [
        {"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in sorted(users)
    ]
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": CREATOR},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": CREATOR,
            },
            "subjects": subjects,
        }
    )


def revoke_creates(plane: ControlPlane) -> None:
    """Delete what allow_creates() made, where present."""
    rbac = k8s.RbacAuthorizationV1Api(plane.client(ADMIN))
    for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
        try:
            delete(CREATOR)
        except ApiException as exc:
            if exc.status != 404:
                raise


def ensure_namespace(plane: ControlPlane, name: str) -> None:
    """Create namespace `name` unless it exists."""
    _ensure_namespace(k8s.CoreV1Api(plane.client(ADMIN)), name)


def _ensure_namespace(core: k8s.CoreV1Api, name: str) -> None:
    try:
        core.create_namespace({"metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise


def probe(plane: ControlPlane, token: str = "") -> Answer:
    """A Workflow with a key the spelling rule refuses, by a user no policy exempts (dry-run);
    with `token`, one the policy installed with that token refuses by name."""
    obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"probe-{token}-" if token else "probe-"},
        "spec": {"PODSPECPATCH": "x", "workflowTemplateRef": {"name": "probe"}},
    }
    return create(plane, obj, namespace="team-a", user="probe", groups=["probe"])


def _wait(plane: ControlPlane, token: str, *, policies: int = 1, timeout: float = 30.0) -> None:
    """Until the API server decides with the `policies` installed with `token`: it watches
    policies, bindings and params, so a change shows a moment after the write."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe(plane, token)
        said = answer.message + "".join(answer.warnings)
        if said.count(f"probe {token}") >= policies and "no params found" not in said:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the policy change did not take effect in {timeout}s: {answer}")
        time.sleep(0.1)
