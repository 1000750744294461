"""The exported MutatingAdmissionPolicy mutates as the webhook does, on the real API server.

Every policy-suite case sent to /mutate (a CREATE or UPDATE of an Argo object) is sent, dry-run
and as the case's user and groups, through the policy exported from the suite's own Config;
the API server answers with the object it would store. The webhook's patch comes from the core
(`webhook.handle`) on the object sent. Both directions: where every operation of the webhook's
patch is one the policy claims (mutatingpolicy.CHANGES says "cel"), the stored object is the
webhook's patched object; otherwise the policy changes nothing and leaves it all to the webhook.
The stored object sent again comes back unchanged (the API server may reinvoke the policy).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, Final

import jsonpatch
import pytest
from kubernetes import client as k8s

from admission.core.config import Config
from admission.core.mutatingpolicy import change_of, claimed, webhook_condition, why_not
from admission.core.webhook import handle
from admission.files.policy import load_config
from admission.files.templates import FileTemplateSource
from controlplane import ControlPlane
from identities import ADMIN
from policymap import PLURALS, allow_writes, install, path_of, remove, revoke_writes
from policyvap import ensure_namespace, send
from suitecases import ROOT, SUITES, USERNAMES, USERS, case_object, suite_config
from support import FIXTURES, load_yaml, make_review


def mutations(suite: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's CREATEs and UPDATEs of Argo's objects sent to the mutating webhook."""
    return [
        case
        for case in suite["cases"]
        if "raw" not in case
        and case.get("endpoint") == "mutate"
        and case.get("operation", "CREATE") in ("CREATE", "UPDATE")
        and isinstance(case_object(case), dict)
        and case_object(case).get("kind") in PLURALS
    ]


CONTROLLER_USER = USERNAMES["controller"]
INSTALLED: dict[str, str] = {}  # the probe token of the policy in place
SUITE_PARAMS = [pytest.param(p, id=p.stem) for p in SUITES if mutations(load_yaml(p))]


@pytest.fixture(scope="module")
def plane(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The policy stays installed for the module (updated per suite), and is removed after."""
    try:
        yield control_plane
    finally:
        remove(control_plane)


def test_the_api_server_serves_mutating_admission_policy_v1_by_default(
    plane: ControlPlane,
) -> None:
    """kube-apiserver v1.36.3 started with no feature gate and no runtime-config serves
    MutatingAdmissionPolicy and its binding in admissionregistration.k8s.io/v1."""
    group = json.loads(
        plane.http_get(f"{plane.api_url}/apis/admissionregistration.k8s.io/v1", user=ADMIN)
    )
    names = {r["name"] for r in group["resources"]}
    assert {"mutatingadmissionpolicies", "mutatingadmissionpolicybindings"} <= names, names


def test_an_apply_configuration_cannot_mutate_argos_atomic_spec(plane: ControlPlane) -> None:
    """Why the policy is a JSONPatch: Argo's CRDs declare spec an atomic map, and the API
    server refuses an apply configuration that sets a field in one."""
    api = k8s.CustomObjectsApi(plane.client(ADMIN))
    group, version = "admissionregistration.k8s.io", "v1"
    name = "argo-admission-apply-e2e"
    expression = "Object{spec: Object.spec{securityContext: {'runAsNonRoot': true}}}"
    policy = {
        "apiVersion": f"{group}/{version}",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["argoproj.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE"],
                        "resources": ["workflowtemplates"],
                    }
                ]
            },
            "matchConditions": [
                {"name": "only-this-test", "expression": f"object.metadata.name == '{name}'"}
            ],
            "mutations": [
                {
                    "patchType": "ApplyConfiguration",
                    "applyConfiguration": {"expression": expression},
                }
            ],
        },
    }
    binding = {
        "apiVersion": f"{group}/{version}",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name},
    }
    api.create_cluster_custom_object(group, version, "mutatingadmissionpolicies", policy)
    api.create_cluster_custom_object(group, version, "mutatingadmissionpolicybindings", binding)
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name},
        "spec": {"templates": []},
    }
    try:
        message = ""
        # until the API server has the policy, and the CRD's type for apply configurations
        # (at first: "Resource kind ... not found. There can be a delay ...")
        for _ in range(100):
            answer = send(
                plane,
                "POST",
                path_of(template, "team-a"),
                template,
                user=ADMIN,
                groups=["system:masters"],
            )
            message = str(answer.body.get("message", ""))
            if answer.status >= 400 and "There can be a delay" not in message:
                break
            time.sleep(0.1)
        assert "may not mutate atomic arrays, maps or structs: .spec" in message, message
    finally:
        api.delete_cluster_custom_object(group, version, "mutatingadmissionpolicybindings", name)
        api.delete_cluster_custom_object(group, version, "mutatingadmissionpolicies", name)


@pytest.mark.parametrize("path", SUITE_PARAMS)
def test_the_policy_mutates_every_suite_case_as_the_webhook_does(
    plane: ControlPlane, path: Any
) -> None:
    """Case by case; a mismatch names the case and both objects."""
    suite = load_yaml(path)
    config = suite_config(suite)
    cases = mutations(suite)
    source = FileTemplateSource.from_paths(FIXTURES / p for p in suite.get("templates", []))
    users = {USERNAMES.get(c.get("user", "alice"), c.get("user", "alice")) for c in cases}
    allow_writes(plane, users | {"probe", CONTROLLER_USER})
    if why_not(config):
        remove(plane, INSTALLED.pop("token", ""))
    else:
        INSTALLED["token"] = install(plane, config)
    mismatches, seen = [], Counter[str]()
    try:
        for case in cases:
            sent, answer, webhook = run(plane, config, source, case)
            assert answer.status < 400, (case["name"], answer)
            ops = list(webhook.patch)
            kinds = {change_of(sent["kind"], op["path"], ref=has_ref(sent)) for op in ops}
            ours = bool(claimed(config)) and not kinds - claimed(config)
            expected = jsonpatch.apply_patch(sent, ops) if ours else sent
            seen[label(ops, ours)] += 1
            for part in ("spec", "metadata"):
                got, want = answer.body.get(part) or {}, expected.get(part) or {}
                if part == "metadata":
                    got = {k: got.get(k) for k in ("labels", "annotations")}
                    want = {k: want.get(k) for k in ("labels", "annotations")}
                if got != want:
                    mismatches.append(
                        f"{case['name']}: {part}:\n  stored:  {json.dumps(got, sort_keys=True)}"
                        f"\n  expected: {json.dumps(want, sort_keys=True)}"
                    )
            if again(plane, case, sent, answer.body) != answer.body.get("spec"):
                mismatches.append(f"{case['name']}: a second pass through the policy changed it")
    finally:
        revoke_writes(plane)
    print(f"{path.stem}: {dict(seen)}")
    assert not mismatches, "\n".join(mismatches)


def again(
    plane: ControlPlane, case: dict[str, Any], sent: dict[str, Any], stored: dict[str, Any]
) -> Any:
    """The spec stored when the stored object is sent again (a CREATE, dry-run): idempotence."""
    if case.get("operation", "CREATE") != "CREATE":
        return stored.get("spec")
    user = case.get("user", "alice")
    obj = {**sent, "spec": stored.get("spec")}
    answer = send(
        plane,
        "POST",
        path_of(obj, case.get("namespace", "team-a")),
        obj,
        user=USERNAMES.get(user, user),
        groups=case.get("groups", USERS.get(user, ["system:authenticated"])),
    )
    return answer.body.get("spec")


def label(ops: list[dict[str, Any]], ours: bool) -> str:
    """How a case counts: whose patch, and whether there was one."""
    if not ops:
        return "nothing to mutate"
    return "mutated by the policy" if ours else "left to the webhook"


def has_ref(obj: dict[str, Any]) -> bool:
    """Whether a Workflow (a CronWorkflow's workflowSpec) has a workflowTemplateRef."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    return isinstance(spec, dict) and spec.get("workflowTemplateRef") is not None


def run(
    plane: ControlPlane, config: Config, source: FileTemplateSource, case: dict[str, Any]
) -> tuple[dict[str, Any], Any, Any]:
    """(the object sent, the API server's answer, the webhook's Decision) of one case."""
    user = case.get("user", "alice")
    username = USERNAMES.get(user, user)
    groups = case.get("groups", USERS.get(user, ["system:authenticated"]))
    namespace = case.get("namespace", "team-a")
    ensure_namespace(plane, namespace)
    obj = placed(case_object(case), namespace)
    old = None
    method, url = "POST", path_of(obj, namespace)
    if case.get("operation", "CREATE") == "UPDATE":
        unique(obj)
        old = stored_old(plane, case, namespace, obj["metadata"]["name"])
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        method, url = "PUT", f"{url}/{obj['metadata']['name']}"
    answer = send(plane, method, url, obj, user=username, groups=groups)
    review = make_review(
        copy.deepcopy(obj),
        namespace=namespace,
        operation=case.get("operation", "CREATE"),
        old=old,
        username=username,
        groups=groups,
    )
    decision = handle(review, endpoint="mutate", config=config, templates=source).decision
    return obj, answer, decision


def placed(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The case's object in `namespace`, with a name or generateName, no resourceVersion."""
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta.pop("resourceVersion", None)
    if obj["kind"] != "ClusterWorkflowTemplate":
        meta["namespace"] = namespace
    if not meta.get("name") and not meta.get("generateName"):
        meta["generateName"] = "case-"
    return obj


def stored_old(
    plane: ControlPlane, case: dict[str, Any], namespace: str, name: str
) -> dict[str, Any]:
    """The case's old object, stored for real as the policy exempts it (the controller's
    identity is exempt in every suite), under a name of its own."""
    old = placed(case["old"], namespace)
    old["metadata"]["name"] = name
    # no running controller takes it (one without --instanceid takes only the unlabelled), so
    # nothing changes it between this write and the case's UPDATE (a 409 otherwise)
    old["metadata"]["labels"] = {**(old["metadata"].get("labels") or {}), **UNTOUCHED}
    answer = send(
        plane,
        "POST",
        path_of(old, namespace),
        old,
        user=CONTROLLER_USER,
        groups=USERS["controller"],
        dry_run=False,
    )
    assert answer.status == 201, answer
    return answer.body


# The controller instance no e2e controller runs: Argo's controllers leave such objects alone.
UNTOUCHED: Final = {"workflows.argoproj.io/controller-instanceid": "argo-admission-e2e-untouched"}


def unique(obj: dict[str, Any]) -> None:
    """Give an object with a name a name of its own (a stored old object must not clash)."""
    meta = obj["metadata"]
    if meta.get("name"):
        meta["name"] = f"{meta['name']}-{uuid.uuid4().hex[:6]}"


# The mutating webhook as the chart registers it, at an address where nothing answers: any
# request the API server sends it fails (failurePolicy Fail), so a request that passes was
# never sent to it.
UNREACHABLE: dict[str, Any] = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "argo-admission-map-e2e"},
    "webhooks": [
        {
            "name": "mutate.argo-admission.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "reinvocationPolicy": "IfNeeded",
            "timeoutSeconds": 2,
            "clientConfig": {"url": "https://127.0.0.1:1/mutate"},
            "rules": [
                {
                    "apiGroups": ["argoproj.io"],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": sorted(PLURALS.values()),
                }
            ],
        }
    ],
}


def test_the_narrowed_webhook_is_not_called_for_what_the_policy_mutates_whole(
    plane: ControlPlane,
) -> None:
    """webhook_condition as the webhook's matchCondition: a template and a Workflow without a
    ref are mutated by the policy with no webhook answering; a ref Workflow still goes to it."""
    config = load_config(ROOT / "policies" / "restricted.yaml")
    condition = webhook_condition(config)
    assert condition is not None
    allow_writes(plane, {"probe", "alice"})
    INSTALLED["token"] = install(plane, config)
    body = copy.deepcopy(UNREACHABLE)
    body["webhooks"][0]["matchConditions"] = [condition]
    plane.register_webhooks(body, url="https://127.0.0.1:1", ca_bundle=plane.ca_path.read_bytes())
    container = {"name": "main", "container": {"image": "a", "command": ["a"]}}
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"generateName": "narrow-"},
        "spec": {"templates": [container]},
    }
    plain = {**template, "kind": "Workflow", "spec": {"entrypoint": "main", **template["spec"]}}
    ref = {**template, "kind": "Workflow", "spec": {"workflowTemplateRef": {"name": "hello"}}}

    def create(obj: dict[str, Any]) -> Any:
        return send(plane, "POST", path_of(obj, "team-a"), obj, user="alice", groups=["team"])

    try:
        for _ in range(100):  # until the API server calls the webhook
            refused = create(ref)
            if refused.status >= 400:
                break
        assert "failed calling webhook" in str(refused.body.get("message")), refused
        for obj in (template, plain):
            answer = create(obj)
            assert answer.status == 201, answer
            assert answer.body["spec"]["securityContext"]["runAsNonRoot"] is True
    finally:
        revoke_writes(plane)
        plane.delete_webhooks(body)
