"""Status belongs to the controller: users may not write what Argo will execute.

The Workflow CRD has no status subresource, so whoever may update a Workflow may write its
status. Argo runs `status.storedWorkflowTemplateSpec` as is once it exists (operator.go
setStoredWfSpec) and prefers `status.storedTemplates` over fetching a templateRef
(templateresolution/context.go), so both are protected. Users legitimately write other status
(`argo retry` resets phase and nodes, `resume` and `node set` change nodes), and `argo retry`
edits the stored spec in two known ways (workflow/util/util.go createNewRetryWorkflow,
overrideParameters): `shutdown` cleared, and the new `arguments.parameters` mirrored in.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from admission.diff import diff_lines, equivalent, normalise, strip_empty
from admission.policy.context import Context

STORED_SPEC: Final = "storedWorkflowTemplateSpec"
STORED_TEMPLATES: Final = "storedTemplates"
RETRYABLE_PHASES: Final = ("Failed", "Error")


def status_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """obj.status as a dict ({} when absent)."""
    status = obj.get("status") if isinstance(obj, Mapping) else None
    return status if isinstance(status, dict) else {}


def check_create(ctx: Context) -> None:
    """A new Workflow carries no status of its own (Go's zero values are no status)."""
    status = ctx.obj.get("status")
    if status is None:
        return
    written = strip_empty(status)
    if not written:
        return
    fields = sorted(written) if isinstance(written, dict) else ["status"]
    ctx.deny(
        "status",
        "status is written by Argo's workflow-controller, not by users",
        f"remove {', '.join('status.' + f for f in fields)} from the new Workflow",
        "status",
    )


def check_update(ctx: Context) -> None:
    """An UPDATE keeps the stored spec and stored templates, but for what `argo retry` does."""
    old, new = status_of(ctx.old), status_of(ctx.obj)
    _check_stored_spec(ctx, old, new)
    if not equivalent(old.get(STORED_TEMPLATES), new.get(STORED_TEMPLATES), None):
        ctx.deny(
            "status",
            f"status.{STORED_TEMPLATES} may only be written by Argo's workflow-controller",
            "Argo executes stored templates instead of fetching the templateRef; leave them as "
            "they are",
            f"status.{STORED_TEMPLATES}",
        )


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
