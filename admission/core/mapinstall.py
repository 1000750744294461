"""What the server keeps in the API server for `serve --register-mutating-policy`: the exported
MutatingAdmissionPolicy (mutatingpolicy.py) stamped with its version, the probe that proves that
version mutates, and the mutating webhook narrowed to what the policy does not change. Pure.

The API server mutates with a policy only once its informer has seen it, a moment after the
write; the webhook is narrowed only once a dry-run probe template comes back carrying this
version's mark (a mutation the stamped policy adds for the probe alone, after the baseline), so
no template CREATE is ever left without its baseline (README: In the API server).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Final

from admission.core.config import Config
from admission.core.mutatingpolicy import policy_objects, webhook_condition
from admission.core.vapinstall import EXEMPTION_CONDITIONS, LABELS, owner_reference

VERSION_ANNOTATION: Final = "argo-admission.io/mutating-policy-version"
PROBE_ANNOTATION: Final = "argo-admission.io/mutating-policy-probe"
"""Set on the probe template only: the policy's mark mutation looks for it."""
PROBE_PREFIX: Final = "argo-admission-probe-"
MUTATING_POLICY_LEASE: Final = "argo-admission-mutating-policy"
"""The Lease electing the one server that keeps the policy (in the server's namespace)."""
NARROWING: Final = "not-mutated-in-the-api-server"
"""The name of mutatingpolicy.webhook_condition's matchCondition."""


def wanted(config: Config) -> bool:
    """Whether the policy should be in the API server: it has a baseline to fill in (enforce
    mode, securityContext mode mutate with pod or container fields)."""
    return webhook_condition(config) is not None


def installed_objects(
    config: Config,
    *,
    name: str,
    owner: dict[str, Any] | None,
    webhook: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """The policy and its binding, in the order to write them, and their version; scoped to
    where the mutating `webhook` (as registered, un-narrowed) is called."""
    objects = policy_objects(config, name=name)
    if webhook is not None:
        scope(objects, webhook)
    version = _digest(objects)
    for obj in objects:
        meta = obj["metadata"]
        meta["labels"] = dict(LABELS)
        meta["annotations"] = {VERSION_ANNOTATION: version}
        if owner is not None:
            meta["ownerReferences"] = [owner_reference(owner)]
        if obj["kind"] == "MutatingAdmissionPolicy":
            obj["spec"]["mutations"].append(probe_mark(version))
    return objects, version


def scope(objects: list[dict[str, Any]], webhook: dict[str, Any]) -> None:
    """Limit the policy to what `webhook` is sent: its namespace and object selectors on the
    binding, its own matchConditions (`webhook-<name>`) beside the policy's. The policy must not
    mutate what the chart keeps away from the webhook (webhook.namespaceSelector, ...)."""
    selectors = {k: webhook[k] for k in ("namespaceSelector", "objectSelector") if webhook.get(k)}
    conditions = [
        {"name": f"webhook-{c['name']}", "expression": c["expression"]}
        for c in webhook.get("matchConditions") or []
        if c.get("name") != NARROWING and c.get("name") not in EXEMPTION_CONDITIONS
    ]
    for obj in objects:
        if obj["kind"] == "MutatingAdmissionPolicyBinding" and selectors:
            obj["spec"]["matchResources"] = copy.deepcopy(selectors)
        elif obj["kind"] == "MutatingAdmissionPolicy":
            obj["spec"]["matchConditions"] = [*obj["spec"].get("matchConditions", []), *conditions]


def probe_mark(version: str) -> dict[str, Any]:
    """The last mutation: the probe template (and nothing else) gets `version` as an
    annotation, so a probe coming back with it was mutated by this very version."""
    annotations = "object.metadata.annotations"
    path = "/metadata/annotations/" + VERSION_ANNOTATION.replace("/", "~1")
    return {
        "patchType": "JSONPatch",
        "jsonPatch": {
            "expression": f"has({annotations}) && '{PROBE_ANNOTATION}' in {annotations} ? "
            f"[JSONPatch{{op: 'add', path: '{path}', value: '{version}'}}] : []"
        },
    }


def probe_template() -> dict[str, Any]:
    """A WorkflowTemplate the policy fills the baseline into and marks (dry-run CREATE)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"generateName": PROBE_PREFIX, "annotations": {PROBE_ANNOTATION: "true"}},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "probe", "command": ["true"]}}],
        },
    }


def probe_problem(version: str, status: int, body: dict[str, Any]) -> str:
    """Why the probe's answer (HTTP status, the object or Status returned) does not prove the
    policy of `version` in force; "" when it does: the template came back with its mark."""
    if status >= 400:
        return f"the probe template was refused ({status}): {body.get('message', '')}"
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    seen = annotations.get(VERSION_ANNOTATION)
    if seen is None:
        return "the probe template came back unmarked: the policy does not mutate yet"
    if seen != version:
        return f"the probe template was marked by version {seen}, not {version}"
    return ""


def mutating_webhooks(configurations: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The name of the MutatingWebhookConfiguration among `configurations` ("" when none) and
    its webhooks that call `/mutate`."""
    for body in configurations:
        if body.get("kind") != "MutatingWebhookConfiguration":
            continue
        hooks = []
        for hook in body.get("webhooks") or []:
            config = hook.get("clientConfig") or {}
            path = (config.get("service") or {}).get("path") or config.get("url") or ""
            if path.endswith("/mutate"):
                hooks.append(hook)
        return str((body.get("metadata") or {}).get("name") or ""), hooks
    return "", []


def _digest(objects: list[dict[str, Any]]) -> str:
    text = json.dumps(objects, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
