"""`status.nodes` on a user's UPDATE: only the shapes Argo's own day-2 operations write.

The controller trusts the nodes it reads back: a Succeeded node with outputs is a step that ran,
and the next step consumes its outputs (operator.go executeTemplate). Users write nodes in three
ways only (workflow/util/util.go, the same in v3.7.18 and v4.0.5):

- `argo resume`, `argo stop --node-field-selector`, `argo node set` change an *active suspend
  node* (type Suspend, phase Running: NodeStatus.IsActiveSuspendNode): its phase, message,
  finishedAt, and the outputs parameters it expects to be supplied (`valueFrom.supplied`), which
  get a value (updateSuspendedNode, ResumeWorkflow, OverrideOutputParametersWithDefault);
- `argo retry` (a finished Workflow set Running again) deletes nodes and resets others: phase
  Running (Skipped stays), no message, new startedAt, no finishedAt, a suspend node's outputs
  back to `valueFrom.supplied`, children and outboundNodes without the deleted nodes
  (FormulateRetryWorkflow, resetNode);
- nothing else: no user adds a node, or changes a node that is not a suspended one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from admission.core.diff import strip_empty
from admission.core.objects import nodes_of, status_of
from admission.core.policy.context import Context

SUSPEND_FIELDS: Final = frozenset({"phase", "message", "finishedAt", "outputs"})
# What `node set --phase`, `resume` and `stop --node-field-selector` may set (util.go).
SUSPEND_PHASES: Final = frozenset({"Running", "Succeeded", "Failed", "Error"})
RESET_FIELDS: Final = frozenset(
    {"phase", "message", "startedAt", "finishedAt", "outputs", "children", "outboundNodes"}
)


def check_update(ctx: Context, *, retrying: bool) -> None:
    """Deny every node change that is not one of Argo's day-2 operations."""
    try:
        before, after = nodes_of(ctx.old), nodes_of(ctx.obj)
    except (ValueError, OSError, orjson.JSONDecodeError) as exc:
        ctx.deny(
            "status", "status.compressedNodes cannot be read", str(exc), "status.compressedNodes"
        )
        return
    if before is None or after is None:
        if status_of(ctx.old).get("offloadNodeStatusVersion") != status_of(ctx.obj).get(
            "offloadNodeStatusVersion"
        ):
            ctx.deny(
                "status",
                "status.offloadNodeStatusVersion is written by Argo's workflow-controller",
                "it points the controller at nodes stored elsewhere",
                "status.offloadNodeStatusVersion",
            )
        return
    deleted = set(before) - set(after)
    for node_id in sorted(set(after) | set(before)):
        problem = _problem(before.get(node_id), after.get(node_id), deleted, retrying=retrying)
        if problem:
            path = f"status.nodes.{node_id}"
            ctx.deny(
                "status",
                f"{path} may only be changed by Argo's workflow-controller",
                problem,
                path,
            )


def _problem(old: Any, new: Any, deleted: set[str], *, retrying: bool) -> str:
    if old == new:
        return ""
    if old is None:
        return "users add no nodes; a node is a step the controller ran (and its outputs)"
    if new is None:
        return "" if retrying else "only `argo retry` of a finished Workflow removes nodes"
    if not isinstance(old, dict) or not isinstance(new, dict):
        return "a node is an object"
    changed = {k for k in set(old) | set(new) if strip_empty(old.get(k)) != strip_empty(new.get(k))}
    if not changed:
        return ""
    if (
        _is_active_suspend(old)
        and changed <= SUSPEND_FIELDS
        and new.get("phase") in SUSPEND_PHASES
        and _outputs_supplied(old, new)
    ):
        return ""
    if retrying and changed <= RESET_FIELDS and _is_reset(old, new, deleted):
        return ""
    fields = ", ".join(sorted(changed))
    if _is_active_suspend(old):
        return (
            f"changes {fields}; on a suspended node users set only its phase, message and the "
            "output parameters it expects (argo resume / node set / stop)"
        )
    return (
        f"changes {fields}; users change only suspended nodes (argo resume / node set) and "
        "reset nodes with `argo retry`"
    )


def _is_active_suspend(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "Suspend" and node.get("phase") == "Running"


def _outputs_supplied(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Only parameters waiting for a supplied value got one; nothing else of outputs changed."""
    before, after = _parameters(old), _parameters(new)
    if [p.get("name") for p in before] != [p.get("name") for p in after]:
        return False
    for was, now in zip(before, after, strict=True):
        if strip_empty(was) == strip_empty(now):
            continue
        if not _awaits_supply(was) or not _only_value(was, now):
            return False
    return _same_but_parameters(old, new)


def _same_but_parameters(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the nodes' outputs agree on everything but their parameters."""
    rest_old = {k: v for k, v in _outputs(old).items() if k != "parameters"}
    rest_new = {k: v for k, v in _outputs(new).items() if k != "parameters"}
    return bool(strip_empty(rest_old) == strip_empty(rest_new))


def _only_value(was: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    keep = {"value", "valueFrom"}
    return bool(
        strip_empty({k: v for k, v in was.items() if k not in keep})
        == strip_empty({k: v for k, v in now.items() if k not in keep})
    )


def _awaits_supply(param: Mapping[str, Any]) -> bool:
    value_from = param.get("valueFrom")
    return isinstance(value_from, dict) and "supplied" in value_from


def _is_reset(old: Mapping[str, Any], new: Mapping[str, Any], deleted: set[str]) -> bool:
    """`resetNode` of FormulateRetryWorkflow, or a kept node, children pruned of deleted nodes."""
    for key in ("children", "outboundNodes"):
        kept = [c for c in _list(old.get(key)) if c not in deleted]
        if _list(new.get(key)) not in (kept, _list(old.get(key))):
            return False
    rest = RESET_FIELDS - {"children", "outboundNodes"}
    if all(strip_empty(old.get(k)) == strip_empty(new.get(k)) for k in rest):
        return True  # kept as it was: only its links to deleted nodes went
    phase = "Skipped" if old.get("phase") == "Skipped" else "Running"
    if new.get("phase") != phase or new.get("finishedAt") or new.get("message"):
        return False
    if strip_empty(_outputs(old)) == strip_empty(_outputs(new)):
        return True
    return (
        old.get("type") == "Suspend"
        and _parameters(new)
        == [{"name": p.get("name"), "valueFrom": {"supplied": {}}} for p in _parameters(old)]
        and strip_empty({k: v for k, v in _outputs(new).items() if k != "parameters"})
        == strip_empty({k: v for k, v in _outputs(old).items() if k != "parameters"})
    )


def _outputs(node: Mapping[str, Any]) -> dict[str, Any]:
    outputs = node.get("outputs")
    return outputs if isinstance(outputs, dict) else {}


def _parameters(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    params = _outputs(node).get("parameters")
    return [p for p in params if isinstance(p, dict)] if isinstance(params, list) else []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
