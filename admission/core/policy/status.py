"""Status belongs to the controller: users write only what Argo's own operations write.

The Workflow CRD has no status subresource, so whoever may update a Workflow may write its
status, and the controller acts on much of what it reads back there (docs/status-trust.md has
the table): the stored spec and stored templates are what it runs (operator.go setStoredWfSpec,
templateresolution), nodes are steps that ran and their outputs, `artifactRepositoryRef` says
where the next pods ship logs and outputs with which Secret, `persistentVolumeClaims` are deleted
when the Workflow ends, `synchronization` holds locks. A user's write passes only in a shape one
of Argo's own clients produces:

- at CREATE: `storedTemplates` from the client's validation (stored_templates.py), and a
  memoized resubmit's nodes and Completed condition (resubmit.py); nothing else;
- on UPDATE: `argo retry` of a finished Workflow (phase Running again, message and finishedAt
  cleared, the Completed condition False, PVC list emptied, nodes deleted or reset, `shutdown`
  cleared and new parameters mirrored into the stored spec: workflow/util/util.go
  createNewRetryWorkflow, FormulateRetryWorkflow, overrideParameters), changes to suspended
  nodes (resume, stop, node set; nodes.py) with their global output parameters
  (AddParamToGlobalScope); every other field stays as the controller left it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from admission.core import goreading
from admission.core.diff import diff_lines, equivalent, normalise, strip_empty
from admission.core.objects import STORED_SPEC, STORED_TEMPLATES, nodes_of, status_of
from admission.core.policy import nodes, resubmit, stored_templates
from admission.core.policy.context import Context

RETRYABLE_PHASES: Final = ("Failed", "Error", "Succeeded")  # Succeeded: --restart-successful
FROM_RESUBMIT: Final = frozenset({"nodes", "conditions"})
# Read back and acted on, never written by a user's operation (docs/status-trust.md).
CONTROLLERS: Final = (
    "artifactRepositoryRef",
    "artifactGCStatus",
    "synchronization",
    "taskResultsCompletionStatus",
    "offloadNodeStatusVersion",
)
COMPLETED: Final = "Completed"
# Argo's Go types of the two statuses (admission/core/gofields.py), for goreading.
WORKFLOW_STATUS: Final = "WorkflowStatus"
CRON_STATUS: Final = "CronWorkflowStatus"


def check_create(ctx: Context) -> None:
    """A new Workflow's status: only what Argo's clients write, and only as Argo would."""
    status = ctx.obj.get("status")
    # Go's zero WorkflowStatus, as Argo's clients send it (`startedAt: null, finishedAt: null`),
    # read field by field as Argo's types read it: no status.
    written = (
        strip_empty(goreading.read_set(WORKFLOW_STATUS, status))
        if isinstance(status, dict)
        else status
    )
    if not written:
        return
    if not isinstance(status, dict) or not isinstance(written, dict):
        ctx.deny("status", "status must be an object", "", "status")
        return
    others = sorted(set(written) - FROM_RESUBMIT - {STORED_TEMPLATES})
    if others:
        ctx.deny(
            "status",
            "status is written by Argo's workflow-controller, not by users",
            f"remove {', '.join('status.' + f for f in others)} from the new Workflow",
            "status",
        )
    if FROM_RESUBMIT & set(written):
        resubmit.check_create(ctx, status)
    if STORED_TEMPLATES in written:
        stored_templates.check_create(ctx, status.get(STORED_TEMPLATES))


def check_cron(ctx: Context) -> None:
    """A CronWorkflow's status is the cron controller's (it has no status subresource).

    With `concurrencyPolicy: Replace` the cron controller terminates, by name, every Workflow
    listed in `status.active` (workflow/cron/operator.go terminateOutstandingWorkflows), and
    `Forbid` skips a run while the list is non-empty; no user operation of Argo writes it.
    Argo's Go clients write its fields without `omitempty` as zero values: `argo cron create`
    sends `{active: null, failed: 0, phase: "", ...}`, and `argo cron update FILE` sends the
    file's object, whose status is all zero (cron/update.go copies only the resourceVersion);
    the cron controller then writes its status again. Both are read as "no status".
    """
    before = status_of(ctx.old) if ctx.is_update else {}
    after = status_of(ctx.obj)
    if goreading.same(CRON_STATUS, before, after) or not goreading.read_set(CRON_STATUS, after):
        return
    fields = goreading.changed_fields(CRON_STATUS, before, after)
    ctx.deny(
        "status",
        "a CronWorkflow's status is written by Argo's cron controller, not by users",
        f"leave {', '.join('status.' + f for f in fields)} as the controller wrote it "
        "(it terminates the Workflows listed in status.active)",
        "status",
    )


def is_retry(ctx: Context) -> bool:
    """`argo retry`: a finished Workflow started again (createNewRetryWorkflow).

    v3.7.18 sets the phase Running, v4.0.5 clears it for the controller to set.
    """
    return status_of(ctx.old).get("phase") in RETRYABLE_PHASES and status_of(ctx.obj).get(
        "phase"
    ) in (None, "", "Running")


def check_update(ctx: Context) -> None:
    """Every status field as the controller left it, but for what Argo's day-2 operations write."""
    old, new = status_of(ctx.old), status_of(ctx.obj)
    retrying = is_retry(ctx)
    _check_stored_spec(ctx, old, new)
    if not equivalent(old.get(STORED_TEMPLATES), new.get(STORED_TEMPLATES), None):
        _deny_field(
            ctx,
            STORED_TEMPLATES,
            "Argo executes stored templates instead of fetching "
            "the templateRef; leave them as they are",
        )
    nodes.check_update(ctx, retrying=retrying)
    for field in CONTROLLERS:
        if not equivalent(old.get(field), new.get(field), None):
            _deny_field(
                ctx,
                field,
                "no user operation of Argo writes it; the controller acts on what it finds there",
            )
    _check_run_fields(ctx, old, new, retrying=retrying)
    _check_outputs(ctx, old, new)
    known = {
        STORED_SPEC,
        STORED_TEMPLATES,
        "nodes",
        "compressedNodes",
        *CONTROLLERS,
        *RUN_FIELDS,
        "outputs",
        *FREE,
    }
    for field in sorted((set(old) | set(new)) - known):
        if not equivalent(old.get(field), new.get(field), None):
            _deny_field(ctx, field, "no user operation of Argo writes it")


# What `argo retry` resets (createNewRetryWorkflow); nothing else writes them but the controller.
RUN_FIELDS: Final = (
    "phase",
    "message",
    "startedAt",
    "finishedAt",
    "conditions",
    "persistentVolumeClaims",
)
# Recomputed by the controller from the nodes on every pass, never trusted.
FREE: Final = frozenset({"progress", "estimatedDuration", "resourcesDuration"})


def _check_run_fields(
    ctx: Context, old: Mapping[str, Any], new: Mapping[str, Any], *, retrying: bool
) -> None:
    for field in RUN_FIELDS:
        before, after = old.get(field), new.get(field)
        if equivalent(before, after, None):
            continue
        if retrying and _retry_writes(field, before, after):
            continue
        _deny_field(
            ctx, field, "only `argo retry` of a finished Workflow changes it (to start it again)"
        )


def _retry_writes(field: str, before: Any, after: Any) -> bool:
    if field in ("message", "finishedAt", "persistentVolumeClaims"):
        return not strip_empty(after)
    if field == "conditions":
        kept = [c for c in before or [] if isinstance(c, dict) and c.get("type") != COMPLETED]
        want = [*kept, {"status": "False", "type": COMPLETED}]
        got = after if isinstance(after, list) else []
        return _as_set(got) == _as_set(want)
    return field in ("phase", "startedAt")


def _as_set(items: list[Any]) -> set[str]:
    return {json.dumps(strip_empty(item), sort_keys=True) for item in items}


def _check_outputs(ctx: Context, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Global outputs change only as `node set`/`resume` publish a suspended node's parameter."""
    before, after = old.get("outputs"), new.get("outputs")
    if equivalent(before, after, None):
        return
    published = _published(ctx)
    ok = isinstance(after, dict) and strip_empty(
        {k: v for k, v in after.items() if k != "parameters"}
    ) == strip_empty({k: v for k, v in (before or {}).items() if k != "parameters"})
    was = {p.get("name"): p for p in _params(before)}
    for param in _params(after) if ok else []:
        name = str(param.get("name"))
        changed = strip_empty(was.get(name)) != strip_empty(param)
        if changed and published.get(name) != param.get("value"):
            ok = False
    if not ok or set(was) - {p.get("name") for p in _params(after)}:
        _deny_field(
            ctx,
            "outputs",
            "only a suspended node's global output parameter, as `argo "
            "node set` or `argo resume` supply it, may change",
        )


def _published(ctx: Context) -> dict[str, Any]:
    """globalName -> value of the output parameters set on nodes by this UPDATE."""
    out: dict[str, Any] = {}
    before = nodes_of(ctx.old) or {}
    for node_id, node in (nodes_of(ctx.obj) or {}).items():
        old_node = before.get(node_id)
        if not isinstance(node, dict) or not isinstance(old_node, dict):
            continue
        old_params = {p.get("name"): p for p in _params(old_node.get("outputs"))}
        for param in _params(node.get("outputs")):
            if param.get("globalName") and old_params.get(param.get("name")) != param:
                out[param["globalName"]] = param.get("value")
    return out


def _params(outputs: Any) -> list[dict[str, Any]]:
    params = outputs.get("parameters") if isinstance(outputs, dict) else None
    return [p for p in params if isinstance(p, dict)] if isinstance(params, list) else []


def _deny_field(ctx: Context, field: str, detail: str) -> None:
    path = f"status.{field}"
    ctx.deny("status", f"{path} may only be written by Argo's workflow-controller", detail, path)


def _check_stored_spec(ctx: Context, old: dict[str, Any], new: dict[str, Any]) -> None:
    before, after = old.get(STORED_SPEC), new.get(STORED_SPEC)
    path = f"status.{STORED_SPEC}"
    if before is None and after is None:
        return
    if before is None:
        ctx.deny(
            "status",
            f"{path} may only be written by Argo's workflow-controller",
            "the UPDATE adds it; Argo would run it as is",
            path,
        )
        return
    if after is None:
        ctx.deny(
            "status",
            f"{path} may only be written by Argo's workflow-controller",
            "the UPDATE removes it; Argo would store a new spec from the changed Workflow",
            path,
        )
        return
    if equivalent(before, after) or equivalent(_as_retry(ctx, before, after), after):
        return
    ctx.deny(
        "status",
        f"{path} may only be written by Argo's workflow-controller",
        "only `argo retry` may change it (clear shutdown, set parameters); the UPDATE changes:",
        path,
    )
    ctx.findings.diff.extend(diff_lines(before, after, prefix=path))


def _as_retry(ctx: Context, before: Any, after: Any) -> Any:
    """`before` with the changes `argo retry` makes, where `after` shows them."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return before
    candidate = copy.deepcopy(before)
    if not after.get("shutdown"):
        candidate.pop("shutdown", None)
    phase = status_of(ctx.old).get("phase")
    spec = ctx.obj.get("spec") if isinstance(ctx.obj.get("spec"), dict) else {}
    new_params = _parameters(after)
    if phase in RETRYABLE_PHASES and normalise(new_params, "Arguments") == normalise(
        _parameters(spec), "Arguments"
    ):
        arguments = candidate.setdefault("arguments", {})
        if isinstance(arguments, dict):
            arguments["parameters"] = copy.deepcopy(new_params.get("parameters"))
    return candidate


def _parameters(spec: Any) -> dict[str, Any]:
    arguments = spec.get("arguments") if isinstance(spec, dict) else None
    params = arguments.get("parameters") if isinstance(arguments, dict) else None
    return {"parameters": params} if params else {}
