"""Which pod wrote a task result or a task set's status, from the writer's bound token.

Many Workflows share one service account (a namespace's `default`), so the account alone lets
the pod of any of them write the result of any node. A bound service-account token (every
projected token since Kubernetes 1.21, and so the one Argo's executor writes with) names its pod
in `userInfo.extra` (`authentication.kubernetes.io/pod-name`, `pod-uid`); the API server checks
on every request that the pod still exists with that UID. A node's result is written by the pod
the controller created for that node, named as Argo names it (admission/core/podnames.py).

Writes without a pod claim come from a token Secret (Argo mounts one for an
`executor.serviceAccountName`, and the agent always runs with one) or from an impersonation of
the account. Policy `taskResultWriters: Pod` (the default) refuses them for task results;
`ServiceAccount` accepts the account alone (weaker). A task set's status is accepted from the
agent's account without a claim: Argo's agent writes with its account's token Secret
(agent.go createAgentPod, serviceaccount.go getServiceAccountTokenVolume), so no claim is ever
there to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from admission.core.objects import metadata_of, spec_of, status_of
from admission.core.podnames import V1, agent_pod_name, node_pod_name, pod_name_version
from admission.core.policy.context import Context
from admission.core.policy.rules import Rule
from admission.core.review import POD_NAME

TASK_SET: Final = "WorkflowTaskSet"
WEAKER: Final = "ServiceAccount"


def check(ctx: Context, workflow: Mapping[str, Any], node: Mapping[str, Any], rule: Rule) -> None:
    """The writer is the pod of `node` (a task result) or the Workflow's agent (a task set)."""
    name = str(metadata_of(workflow).get("name") or "")
    if ctx.kind == TASK_SET:
        expected, what = agent_pod_name(name), "its agent pod"
    else:
        expected, what = node_pod_name(workflow, node), f"the pod of node {node.get('name')}"
    _compare(ctx, name, {expected}, what, rule)


def check_offloaded(ctx: Context, workflow: Mapping[str, Any], node_id: str, rule: Rule) -> None:
    """Nodes offloaded: the pod's name still carries the node ID's hash and a template name."""
    name = str(metadata_of(workflow).get("name") or "")
    if ctx.kind == TASK_SET:
        expected = {agent_pod_name(name)}
    elif pod_name_version(workflow) == V1:
        expected = {node_id}
    else:
        digest = node_id.rsplit("-", 1)[-1]
        expected = {f"{name}-{t}-{digest}" for t in _template_names(workflow)}
        expected.add(f"{name}-{digest}" if node_id != name else name)
    _compare(ctx, name, expected, f"the pod of node {node_id}", rule)


def _compare(ctx: Context, workflow: str, expected: set[str], what: str, rule: Rule) -> None:
    seen = ctx.request.claim(POD_NAME)
    user = ctx.request.username
    if seen in expected:
        return
    shown = sorted(expected)[0] if len(expected) == 1 else f"one of {len(expected)} pod names"
    if seen:
        ctx.deny(
            rule,
            f"{ctx.kind} {metadata_of(ctx.obj).get('name')} of Workflow {ctx.namespace}/{workflow} "
            f"is written by {what} ({shown}), not by pod {seen} ({user})",
            "the controller copies its status into the Workflow's HTTP and plugin nodes; only "
            "the agent pod reports them"
            if ctx.kind == TASK_SET
            else "the controller copies it into that node; a pod of the same service account "
            "writes only its own node's",
            "metadata.name",
        )
        return
    if ctx.kind == TASK_SET or ctx.config.task_result_writers == WEAKER:
        return
    ctx.deny(
        rule,
        f"{ctx.kind} {metadata_of(ctx.obj).get('name')} of Workflow {ctx.namespace}/{workflow} "
        f"is written by {what} ({shown}); {user} shows no pod",
        "the request's token is not bound to a pod (a token Secret, or an impersonation of "
        "the account), so the door cannot tell which Workflow's pod wrote it; Argo's executor "
        "writes with its pod's projected token (an executor.serviceAccountName's token Secret "
        "is not one), or set taskResultWriters: ServiceAccount to trust the account alone "
        "(weaker: any pod of that account may then write any node's result)",
        "metadata.name",
    )


def _template_names(workflow: Mapping[str, Any]) -> set[str]:
    """Every template name a node of this Workflow may carry: its own and stored ones."""
    names: set[str] = set()
    stored_spec = status_of(workflow).get("storedWorkflowTemplateSpec")
    for spec in (spec_of(workflow), stored_spec if isinstance(stored_spec, dict) else {}):
        templates = spec.get("templates")
        for template in templates if isinstance(templates, list) else []:
            if isinstance(template, dict) and isinstance(template.get("name"), str):
                names.add(template["name"])
    stored = status_of(workflow).get("storedTemplates")
    for key in stored if isinstance(stored, dict) else {}:
        names.add(str(key).rsplit("/", 1)[-1])
    return names
