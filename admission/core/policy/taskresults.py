"""WorkflowTaskResults and WorkflowTaskSets: what the controller copies in as a step's outputs.

On every pass the controller copies the outputs of each WorkflowTaskResult labelled with a
Workflow into that Workflow's node, without asking who wrote it or whether the node had finished
(workflow/controller/taskresult.go taskResultReconciliation), and reads a WorkflowTaskSet's
status back as the result of its HTTP and plugin nodes (taskset.go). Argo's own
`argo-aggregate-to-edit` role lets every namespace editor write both. Their real writers are:

- a task result: the executor in the step's pod, as the executor service account of the
  template or the Workflow, else the pod's (a podSpecPatch's, else template, Workflow, else
  `default`) (workflowpod.go setupServiceAccount, then processPodSpecPatch); it stops
  writing once it labels the result `report-outputs-completed: "true"`;
- a task set: the controller (spec; exempt), the agent pod (status) as the Workflow's service
  account (agent.go), the set named after the Workflow.

So a non-exempt requester must be one of the Workflow's service accounts and, as its bound
token says, the node's own pod or the agent pod (podclaims.py), writes no completed result,
never a task set's spec, only for nodes of a running Workflow (a task result is named
after its node; a task set reports HTTP and plugin nodes), and never moves a result to another
Workflow. A node the Workflow does not have yet gets "retry later" (429), not a refusal: the
controller writes a new node into the Workflow only after it has created the node's pod, and the
executor's first write (InitializeOutput, as the wait container starts) can come first. A
user deletes neither while the Workflow runs (check_delete).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from admission.core.decision import NOT_YET
from admission.core.diff import equivalent
from admission.core.objects import (
    is_finished,
    labels_of,
    metadata_of,
    nodes_of,
    pod_spec_patch,
    spec_of,
    status_of,
)
from admission.core.policy import podclaims, rules
from admission.core.policy.context import Context
from admission.core.policy.rules import Rule

TASK_RESULT: Final = "WorkflowTaskResult"
TASK_SET: Final = "WorkflowTaskSet"
WORKFLOW_LABEL: Final = "workflows.argoproj.io/workflow"
COMPLETED_LABEL: Final = "workflows.argoproj.io/report-outputs-completed"
SERVICE_ACCOUNT: Final = "system:serviceaccount:"
DEFAULT_ACCOUNT: Final = "default"
AGENT_NODES: Final = frozenset({"HTTP", "Plugin"})


def check(ctx: Context) -> None:
    """A task result or task set written by anyone but its Workflow's executor or agent."""
    what = "task results" if ctx.kind == TASK_RESULT else "task sets"
    if ctx.request.operation == "DELETE":
        check_delete(ctx)
        return
    if ctx.kind == TASK_RESULT and labels_of(ctx.old).get(COMPLETED_LABEL) == "true":
        ctx.deny(
            "task-result",
            f'this WorkflowTaskResult is reported complete ({COMPLETED_LABEL}: "true")',
            "the executor writes nothing after that; the controller would copy the change "
            "into the Workflow's outputs",
            "metadata.labels",
        )
        return
    if ctx.kind == TASK_SET and not _only_status(ctx):
        ctx.deny(
            "task-set",
            "a WorkflowTaskSet's spec is written by Argo's workflow-controller only",
            "the agent writes its status; nothing else may",
            "spec",
        )
        return
    workflow = _workflow_name(ctx)
    if (
        ctx.old is not None
        and ctx.kind == TASK_RESULT
        and labels_of(ctx.old).get(WORKFLOW_LABEL) != labels_of(ctx.obj).get(WORKFLOW_LABEL)
    ):
        ctx.deny(
            "task-result",
            f"the {WORKFLOW_LABEL} label of a WorkflowTaskResult does not change",
            "it says which Workflow the controller copies the outputs into",
            f"metadata.labels.{WORKFLOW_LABEL}",
        )
        return
    if not workflow:
        ctx.deny(
            "task-result" if ctx.kind == TASK_RESULT else "task-set",
            f"{what} belong to a Workflow",
            f"set metadata.labels.{WORKFLOW_LABEL}" if ctx.kind == TASK_RESULT else "",
            "metadata",
        )
        return
    _check_writer(ctx, workflow, what)


def _only_status(ctx: Context) -> bool:
    if not ctx.is_update:
        return False
    return ctx.request.sub_resource == "status" or equivalent(
        spec_of(ctx.old), spec_of(ctx.obj), None
    )


def _workflow_name(ctx: Context) -> str:
    if ctx.kind == TASK_RESULT:
        name = labels_of(ctx.obj).get(WORKFLOW_LABEL)
    else:
        name = metadata_of(ctx.obj).get("name")  # taskset.go: named after its Workflow
    return name if isinstance(name, str) else ""


def _check_writer(ctx: Context, workflow: str, what: str) -> None:
    rule: Rule = rules.TASK_RESULT if ctx.kind == TASK_RESULT else rules.TASK_SET
    prefix = f"{SERVICE_ACCOUNT}{ctx.namespace}:"
    user = ctx.request.username
    ok, found = ctx.lookup_workflow(ctx.namespace, workflow)
    if ok and found is not None and not _plainly_admitted(ctx, found, prefix):
        # The copy may be a cache's, behind the controller's last write (the node it records
        # after creating the step's pod, the storedWorkflowTemplateSpec naming the accounts):
        # anything but an admission is decided on the API server's own copy.
        ok, found = ctx.lookup_workflow(ctx.namespace, workflow, fresh=True)
    if not ok:
        return
    if found is None:
        ctx.deny(rule, f"Workflow {ctx.namespace}/{workflow} does not exist", "", "metadata")
        return
    accounts = _accounts(ctx, found)
    if user.startswith(prefix) and user[len(prefix) :] in accounts:
        _check_nodes(ctx, found, rule)
        return
    ctx.deny(
        rule,
        f"{what} of Workflow {ctx.namespace}/{workflow} are written by its "
        f"{'executor' if ctx.kind == TASK_RESULT else 'agent'}, not by {user}",
        "the controller copies them into the Workflow as step outputs; allowed writers: "
        + ", ".join(prefix + a for a in sorted(accounts)),
        "metadata",
    )


def _accounts(ctx: Context, workflow: Mapping[str, Any]) -> set[str]:
    return writers(workflow) if ctx.kind == TASK_RESULT else {_agent_account(workflow)}


def _plainly_admitted(ctx: Context, workflow: Mapping[str, Any], prefix: str) -> bool:
    """Whether this copy names the requester a writer and has every node written, running."""
    user = ctx.request.username
    if not user.startswith(prefix) or user[len(prefix) :] not in _accounts(ctx, workflow):
        return False
    if is_finished(workflow):
        return False
    nodes = nodes_of(workflow)
    return nodes is None or all(isinstance(nodes.get(n), dict) for n in _wanted(ctx))


def _wanted(ctx: Context) -> set[str]:
    """The IDs of the nodes written: a task result's name, a task set's status.nodes keys."""
    if ctx.kind == TASK_RESULT:
        return {str(metadata_of(ctx.obj).get("name"))}
    written = status_of(ctx.obj).get("nodes")
    return set(written) if isinstance(written, dict) else set()


def _check_nodes(ctx: Context, workflow: Mapping[str, Any], rule: Rule) -> None:
    """The nodes written are running nodes of the Workflow that this kind reports on."""
    name = metadata_of(workflow).get("name")
    if is_finished(workflow):
        ctx.deny(rule, f"Workflow {ctx.namespace}/{name} has finished", "its results are in", "")
        return
    nodes = nodes_of(workflow)
    if nodes is None:
        # Offloaded: the controller's own copy is the only one; the pod is named by the ID.
        podclaims.check_offloaded(ctx, workflow, str(metadata_of(ctx.obj).get("name")), rule)
        return
    wanted = _wanted(ctx)
    kinds = None if ctx.kind == TASK_RESULT else AGENT_NODES
    for node_id in sorted(wanted):
        node = nodes.get(node_id)
        if not isinstance(node, dict):
            # The controller creates a step's pod, then records its node when it writes the
            # Workflow at the end of the pass: the executor may write first. Refuse with "retry
            # later", which Argo's executor (and client-go, for Retry-After) retries until the
            # node is there; a node that never comes is never written.
            ctx.error(
                NOT_YET,
                rule,
                f"Workflow {ctx.namespace}/{name} has no node {node_id} (yet)",
                "the controller copies results into the node of that ID, and records a step's "
                "node just after it creates the step's pod; retry",
            )
        elif kinds is not None and node.get("type") not in kinds:
            ctx.deny(
                rule,
                f"{node_id} is not an HTTP or plugin node of Workflow {ctx.namespace}/{name}",
                "the controller copies results into the node of that ID",
                f"status.nodes.{node_id}",
            )
        else:
            podclaims.check(ctx, workflow, node, rule)


def _specs(workflow: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The Workflow's spec and the spec Argo stored for it (the one it runs)."""
    stored = status_of(workflow).get("storedWorkflowTemplateSpec")
    return [s for s in (spec_of(workflow), stored) if isinstance(s, dict)]


def _agent_account(workflow: Mapping[str, Any]) -> str:
    for spec in reversed(_specs(workflow)):
        name = spec.get("serviceAccountName")
        if isinstance(name, str) and name:
            return name
    return DEFAULT_ACCOUNT


def writers(workflow: Mapping[str, Any]) -> set[str]:
    """Service accounts a step's executor of this Workflow may run as (its pods' or executor's)."""
    out: set[str] = set()
    stored = status_of(workflow).get("storedTemplates")
    extra = list(stored.values()) if isinstance(stored, dict) else []
    for spec in _specs(workflow):
        for template in [*_templates(spec), *(t for t in extra if isinstance(t, dict))]:
            out.add(_executor_account(template, spec))
        defaults = spec.get("templateDefaults")
        if isinstance(defaults, dict):
            out.add(_executor_account(defaults, spec))
        out.add(_executor_account({}, spec))
    return out


def _templates(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    templates = spec.get("templates")
    if isinstance(templates, list):
        yield from (t for t in templates if isinstance(t, dict))


def _executor_account(template: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    for holder in (template, spec):
        executor = holder.get("executor")
        name = executor.get("serviceAccountName") if isinstance(executor, dict) else None
        if isinstance(name, str) and name:
            return name
    # No executor account: the executor runs as the pod, whose account a podSpecPatch may
    # replace; Argo applies the Workflow's patch, then the template's (workflowpod.go).
    for holder in (template, spec):
        name = _patched_account(holder)
        if name:
            return name
    for holder in (template, spec):
        name = holder.get("serviceAccountName")
        if isinstance(name, str) and name:
            return name
    return DEFAULT_ACCOUNT


def _patched_account(holder: Mapping[str, Any]) -> str:
    """The serviceAccountName a podSpecPatch sets; "" when it sets none, or one only known at
    run time (a {{parameter}})."""
    patch = pod_spec_patch(holder) or {}
    name = patch.get("serviceAccountName")
    return name if isinstance(name, str) and "{{" not in name else ""


def check_delete(ctx: Context) -> None:
    """A user deletes a task result or task set only once its Workflow has finished or gone.

    The controller deletes a Workflow's task results itself once the Workflow is complete
    (operator.go deleteTaskResults, a deletecollection by label), and Kubernetes' garbage
    collector deletes both kinds with their Workflow (ownerReferences); both are exempt or come
    after the Workflow. A running Workflow's result deleted by a user makes room for a forged
    one written again from scratch (and a deleted task set stops its HTTP and plugin nodes).
    """
    rule: Rule = rules.TASK_RESULT if ctx.kind == TASK_RESULT else rules.TASK_SET
    workflow = _workflow_name(ctx)
    if not workflow:
        return  # nothing the controller would copy from
    ok, found = ctx.lookup_workflow(ctx.namespace, workflow)
    if not ok or found is None or is_finished(found):
        return
    name = metadata_of(ctx.obj).get("name")
    ctx.deny(
        rule,
        f"{ctx.kind} {ctx.namespace}/{name} belongs to Workflow {ctx.namespace}/{workflow}, "
        f"which is still running; {ctx.request.username} may not delete it",
        "it goes once the Workflow has finished (the controller deletes its task results) or "
        "with the Workflow (Kubernetes' garbage collector); stop or delete the Workflow instead",
        "metadata.name",
    )
