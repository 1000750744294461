"""What the server keeps in the API server for `serve --register-policy`: the exported policy,
stamped with its version, the probe that proves that version is in force, and the validating
webhooks narrowed (or widened again) to what the policy does not decide. Pure.

The API server decides with a policy only once its informer has seen it, a moment after the
write; the webhooks are narrowed only once a dry-run probe is refused by this very version, so
there is never a moment where neither decides a CREATE (README: In the API server).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Final

from admission.core.config import Config
from admission.core.vap import policy_objects, webhook_condition

VERSION_ANNOTATION: Final = "argo-admission.io/policy-version"
TOKEN_ANNOTATION: Final = "argo-admission.io/index-probe"
INDEX_TOKEN_KEY: Final = "argo-admission.probe"
"""The index's key the holder sets to each probe's token (no template key looks like it)."""
PARAMS_LOST: Final = "no params found"
"""How the API server says a binding's paramRef finds nothing."""
LABELS: Final = {"app.kubernetes.io/managed-by": "argo-admission"}
PROBE_PREFIX: Final = "argo-admission-probe-"
NARROWING: Final = "not-decided-in-the-api-server"
"""The name of vap.webhook_condition's matchCondition."""
INERT: Final = {
    "namespaceSelector": {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [""]}
        ]
    }
}
"""A binding's matchResources that match nothing (no namespace is named ""): how the policy is
turned off. Deleting its last binding would stop the API server's ConfigMap param informer for
good (kubernetes/kubernetes#130887), and a policy written again would read a frozen index."""
REFUSED_BY: Final = "ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: "


def wanted(config: Config) -> bool:
    """Whether the policy should be in the API server: it decides ref CREATEs whole (Strict)
    and refuses (enforce mode; warn and audit keep every decision with the webhook)."""
    return config.mode == "enforce" and webhook_condition(config, library=True) is not None


def installed_objects(
    config: Config,
    *,
    name: str,
    library: tuple[str, str],
    owner: dict[str, Any] | None,
    webhook: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """The policies and bindings to store, in the order to write them, and their version;
    scoped to where the enforcing `webhook` (as registered, un-narrowed) is called.

    Policies before bindings, any `-exempt` pair (policy_objects made one per policy once)
    before the main one: the API server's informers see each kind's writes in order, so a probe
    answered by the main pair proves the others."""
    objects = policy_objects(config, name=name, library=library)
    if webhook is not None:
        scope(objects, webhook)
    version = _digest(objects)
    for obj in objects:
        meta = obj["metadata"]
        meta["labels"] = dict(LABELS)
        meta["annotations"] = {VERSION_ANNOTATION: version}
        if owner is not None:
            meta["ownerReferences"] = [owner_reference(owner)]
        if obj["kind"] == "ValidatingAdmissionPolicy" and meta["name"] == name:
            obj["spec"]["validations"].insert(0, version_check(version))
    order = sorted(
        objects, key=lambda o: (o["kind"].endswith("Binding"), o["metadata"]["name"] == name)
    )
    return order, version


def enforcing_webhooks(configurations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The webhooks of the ValidatingWebhookConfiguration that call `/validate` (the enforcing
    ones; an advisory webhook on its own path and selector only warns, and stays wide)."""
    hooks = []
    for body in configurations:
        if body.get("kind") != "ValidatingWebhookConfiguration":
            continue
        for hook in body.get("webhooks") or []:
            config = hook.get("clientConfig") or {}
            path = (config.get("service") or {}).get("path") or config.get("url") or ""
            if path.endswith("/validate"):
                hooks.append(hook)
    return hooks


def scope(objects: list[dict[str, Any]], webhook: dict[str, Any]) -> None:
    """Limit the policies to what `webhook` is sent: its namespace and object selectors on the
    bindings, its matchConditions (`webhook-<name>`) beside the policies' own. The policy must
    not refuse what the chart keeps away from the webhook (webhook.namespaceSelector, ...)."""
    selectors = {k: webhook[k] for k in ("namespaceSelector", "objectSelector") if webhook.get(k)}
    conditions = [
        {"name": f"webhook-{c['name']}", "expression": c["expression"]}
        for c in webhook.get("matchConditions") or []
        if c.get("name") != NARROWING and c.get("name") not in EXEMPTION_CONDITIONS
    ]
    for obj in objects:
        if obj["kind"].endswith("Binding") and selectors:
            obj["spec"]["matchResources"] = copy.deepcopy(selectors)
        elif obj["kind"] == "ValidatingAdmissionPolicy":
            obj["spec"]["matchConditions"] = [*obj["spec"].get("matchConditions", []), *conditions]


# The chart's own exemption conditions (webhook.skipExempt): the policy's validation has the
# same exemptions as a branch (exempt identities' Workflows meet the library, their other
# CREATEs pass), so copying them would only add programs the API server runs per request.
EXEMPTION_CONDITIONS: Final = frozenset({"not-an-exempt-user", "not-in-an-exempt-group"})


def owner_reference(owner: dict[str, Any]) -> dict[str, str]:
    """The reference to the ClusterRole `owner` (name, uid) that owns what the server writes."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "name": owner["name"],
        "uid": owner["uid"],
    }


def _digest(objects: list[dict[str, Any]]) -> str:
    text = json.dumps(objects, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def version_check(version: str) -> dict[str, str]:
    """The first validation: a Workflow naming another version in the annotation, or an index
    token the policy's view of the index does not hold, is refused with a line of its own. So a
    probe refused by `[strict]` was decided by this version reading the index as it is now (a
    stopped param informer reads an old one: kubernetes/kubernetes#130887)."""
    annotations = "object.metadata.annotations"
    token = f"{annotations}['{TOKEN_ANNOTATION}']"
    fresh = (
        f"!('{TOKEN_ANNOTATION}' in {annotations}) || (has(params.data) && "
        f"'{INDEX_TOKEN_KEY}' in params.data && params.data['{INDEX_TOKEN_KEY}'] == {token})"
    )
    return {
        "expression": f"!has({annotations}) || !('{VERSION_ANNOTATION}' in {annotations}) || "
        f"({annotations}['{VERSION_ANNOTATION}'] == '{version}' && ({fresh}))",
        "message": f"policy probe: the annotation {VERSION_ANNOTATION} names another version of "
        f"this policy than {version}, or the library index as the API server reads it does not "
        f"hold the probe's {TOKEN_ANNOTATION} (the server's probe)",
        "reason": "Forbidden",
    }


def probe_workflow(version: str, token: str) -> dict[str, Any]:
    """A Workflow the policy of `version` must refuse (`[strict]`: no workflowTemplateRef) once
    it reads the index holding `token`."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": PROBE_PREFIX,
            "annotations": {VERSION_ANNOTATION: version, TOKEN_ANNOTATION: token},
        },
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "probe", "command": ["true"]}}],
        },
    }


def probe_problem(name: str, status: int, message: str) -> str:
    """Why the probe's answer (HTTP status, Status message) does not prove the policy `name`
    in force; "" when it does: refused by that policy, with its `[strict]` line."""
    if status < 400:
        return "the probe Workflow was admitted: the policy does not decide yet"
    refused_by = REFUSED_BY.format(name=name)
    _, found, line = message.partition(refused_by)  # after `<kind> "<name>" is forbidden: `
    if not found:
        return f"the probe was refused, not by the policy {name!r}: {message}"
    if not line.startswith("[strict]"):
        return f"the policy refused the probe for another reason: {message}"
    return ""


def narrowed(
    configuration: dict[str, Any], condition: dict[str, str], hooks: frozenset[str]
) -> dict[str, Any] | None:
    """`configuration` (a ValidatingWebhookConfiguration) with `condition` among the
    matchConditions of the webhooks named `hooks`, replacing an older one of the same name;
    None when it already says so."""
    out = copy.deepcopy(configuration)
    for hook in out.get("webhooks") or []:
        if hook.get("name") not in hooks:
            continue
        others = [c for c in hook.get("matchConditions") or [] if c["name"] != condition["name"]]
        hook["matchConditions"] = [*others, dict(condition)]
    return None if out == configuration else out


def widened(configuration: dict[str, Any], name: str) -> dict[str, Any] | None:
    """`configuration` without the matchCondition `name` in any webhook; None when none has it."""
    out = copy.deepcopy(configuration)
    for hook in out.get("webhooks") or []:
        kept = [c for c in hook.get("matchConditions") or [] if c["name"] != name]
        if kept:
            hook["matchConditions"] = kept
        else:
            hook.pop("matchConditions", None)
    return None if out == configuration else out
