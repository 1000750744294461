"""`argo resubmit --memoized`: the one user CREATE that carries nodes, checked against the original.

A memoized resubmit copies the original Workflow's nodes into the new one, renamed after it:
succeeded pod nodes become Skipped (Argo then reuses their outputs instead of running the step),
the others Pending, onExit nodes and skipped nodes with no succeeded descendant are dropped
(workflow/util/util.go FormulateResubmitWorkflow, convertNodeID, isDescendantNodeSucceeded; the
same in v3.7.18 and v4.0.5). The client names the original in a label anyone could write, so the
label only says where to look: the nodes pass when they are what that transformation makes of the
original's nodes as the API server holds them now, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from admission.core.diff import diff_lines, equivalent, strip_empty
from admission.core.objects import labels_of, metadata_of, nodes_of, spec_of, status_of
from admission.core.podnames import node_id
from admission.core.policy.context import Context

RESUBMITTED_FROM: Final = "workflows.argoproj.io/resubmitted-from-workflow"
MEMOIZABLE_PHASES: Final = ("Failed", "Error")
# What a memoized resubmit writes beside the nodes (util.go FormulateResubmitWorkflow).
CONDITIONS: Final = [{"status": "False", "type": "Completed"}]
TIMES: Final = ("startedAt", "finishedAt")  # set to "now" by the client


def memoized_nodes(original: str, nodes: Mapping[str, Any], new: str) -> dict[str, dict[str, Any]]:
    """The nodes `argo resubmit --memoized` writes for Workflow `new` from `original`'s nodes."""
    prefix = re.compile("^" + re.escape(original))

    def convert(old_id: Any) -> str:
        old = nodes.get(old_id) if isinstance(old_id, str) else None
        name = old.get("name", "") if isinstance(old, dict) else ""
        return node_id(new, prefix.sub(new, str(name), count=1))

    out: dict[str, dict[str, Any]] = {}
    for node in nodes.values():
        if not isinstance(node, dict):
            continue
        name = str(node.get("name", ""))
        if name.startswith(original + ".onExit"):
            continue
        copied = {k: v for k, v in node.items() if k not in TIMES}
        copied["name"] = prefix.sub(new, name, count=1)
        copied["id"] = node_id(new, copied["name"])
        if node.get("boundaryID"):
            copied["boundaryID"] = convert(node["boundaryID"])
        copied["children"] = [convert(c) for c in _strings(node.get("children"))]
        copied["outboundNodes"] = [convert(c) for c in _strings(node.get("outboundNodes"))]
        failed = node.get("phase") in ("Failed", "Error")
        if not failed and node.get("type") == "Pod":
            copied.update(
                phase="Skipped", type="Skipped", message=f"original pod: {node.get('id')}"
            )
        elif node.get("type") == "Skipped" and not _succeeded_below(nodes, node, set()):
            continue
        else:
            copied.update(phase="Pending", message="")
        out[copied["id"]] = copied
    return out


def _succeeded_below(nodes: Mapping[str, Any], node: Mapping[str, Any], seen: set[str]) -> bool:
    for child_id in _strings(node.get("children")):
        child = nodes.get(child_id)
        if not isinstance(child, dict) or child_id in seen:
            continue
        seen.add(child_id)
        if child.get("phase") == "Succeeded" or _succeeded_below(nodes, child, seen):
            return True
    return False


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def check_create(ctx: Context, status: Mapping[str, Any]) -> None:
    """Nodes (and the Completed condition) at CREATE pass only as a faithful memoized resubmit."""
    meta = metadata_of(ctx.obj)
    original = labels_of(ctx.obj).get(RESUBMITTED_FROM)
    path = "status.nodes"
    if not isinstance(original, str) or not original:
        ctx.deny(
            "status",
            "status.nodes is written by Argo's workflow-controller, not by users",
            f"only `argo resubmit --memoized` creates a Workflow with nodes (labelled "
            f"{RESUBMITTED_FROM}); remove status.nodes",
            path,
        )
        return
    name = meta.get("name")
    ok, found = ctx.lookup_workflow(ctx.namespace, original)
    if not ok:
        return
    problem = _original_problem(original, found, name)
    if problem or found is None or not isinstance(name, str):
        ctx.deny("status", "status.nodes does not come from a memoized resubmit", problem, path)
        return
    original_nodes = nodes_of(found)
    if original_nodes is None:
        ctx.deny(
            "status",
            "status.nodes does not come from a memoized resubmit",
            f"the nodes of Workflow {ctx.namespace}/{original} are offloaded and cannot be "
            "compared; resubmit without --memoized",
            path,
        )
        return
    _compare(ctx, memoized_nodes(original, original_nodes, name), status.get("nodes"), original)
    if strip_empty(status.get("conditions")) not in (None, CONDITIONS):
        ctx.deny(
            "status",
            "status.conditions is written by Argo's workflow-controller, not by users",
            f"a memoized resubmit writes only {CONDITIONS}",
            "status.conditions",
        )


def _original_problem(original: str, found: Mapping[str, Any] | None, name: Any) -> str:
    if found is None:
        return (
            f"the original Workflow {original} ({RESUBMITTED_FROM}) does not exist, so its "
            "nodes cannot be checked; resubmit without --memoized"
        )
    if status_of(found).get("phase") not in MEMOIZABLE_PHASES:
        return f"Argo resubmits only a Failed or Error Workflow with --memoized; {original} is not"
    if not isinstance(name, str) or not name:
        return "a memoized resubmit names the new Workflow (metadata.name)"
    return ""


def _compare(ctx: Context, expected: dict[str, Any], written: Any, original: str) -> None:
    nodes = written if isinstance(written, dict) else {}
    for node_key, node in sorted(nodes.items()):
        path = f"status.nodes.{node_key}"
        want = expected.get(node_key)
        got = {k: v for k, v in node.items() if k not in TIMES} if isinstance(node, dict) else node
        if want is None:
            ctx.deny(
                "status",
                f"{path} is not a node of the original Workflow {original}",
                "a memoized resubmit copies only the original's nodes",
                path,
            )
        elif strip_empty(want) != strip_empty(got):
            ctx.deny(
                "status",
                f"{path} differs from the original Workflow {original}'s node",
                "a memoized resubmit copies nodes as they were (outputs included):",
                path,
            )
            ctx.findings.diff.extend(diff_lines(want, got, prefix=path, type_name=None))


# --- the spec a resubmit copies -------------------------------------------------------------


def check_spec(ctx: Context) -> None:
    """A Workflow labelled as resubmitted that carries status from its original has the spec
    Argo's resubmit copies from it (FormulateResubmitWorkflow: the original's spec without
    `shutdown` and a zero `activeDeadlineSeconds`, its parameters after those given with -p)."""
    original = labels_of(ctx.obj).get(RESUBMITTED_FROM)
    status = status_of(ctx.obj)
    carried = [k for k in ("nodes", "compressedNodes", "storedTemplates") if status.get(k)]
    if not isinstance(original, str) or not original or not carried:
        return
    ok, found = ctx.lookup_workflow(ctx.namespace, original)
    if not ok:
        return
    if found is None:
        ctx.deny(
            "resubmit",
            f"the original Workflow {ctx.namespace}/{original} ({RESUBMITTED_FROM}) does not "
            f"exist, so status.{carried[0]} cannot be checked against it",
            "resubmit without --memoized, or submit afresh without the label",
            "metadata.labels",
        )
        return
    expected = resubmitted_spec(spec_of(found))
    written = spec_of(ctx.obj)
    problem = _parameters_problem(_params(expected), _params(written)) or _other_fields(
        ctx, expected, written
    )
    if problem:
        path, detail = problem
        ctx.deny(
            "resubmit",
            f"{path} differs from the original Workflow {ctx.namespace}/{original}'s",
            f"Argo's resubmit copies {detail} from the original; expected writer: Argo's "
            f"resubmit of {original}, seen: {ctx.request.username}",
            path,
        )
        ctx.findings.diff.extend(diff_lines(expected, written, prefix="spec"))


def resubmitted_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec FormulateResubmitWorkflow copies from the original's (before -p)."""
    out = {k: v for k, v in spec.items() if k != "shutdown"}
    if out.get("activeDeadlineSeconds") == 0:
        del out["activeDeadlineSeconds"]
    return out


def _params(spec: Mapping[str, Any]) -> list[Any]:
    arguments = spec.get("arguments")
    found = arguments.get("parameters") if isinstance(arguments, dict) else None
    return found if isinstance(found, list) else []


def _parameters_problem(original: list[Any], written: list[Any]) -> tuple[str, str] | None:
    """None when `written` is what -p makes of `original` (overrideParameters): the given
    parameters (name and value only) first, then the original's others in their order."""
    for given in range(len(written) + 1):
        head = written[:given]
        if not all(_is_override(p) for p in head):
            break
        names = {p.get("name") for p in head}
        rest = [p for p in original if not (isinstance(p, dict) and p.get("name") in names)]
        if equivalent(rest, written[given:], None):
            return None
    return (
        "spec.arguments.parameters",
        "the parameters (after the ones given with -p NAME=VALUE)",
    )


def _is_override(param: Any) -> bool:
    return (
        isinstance(param, dict)
        and set(param) <= {"name", "value"}
        and isinstance(param.get("name"), str)
    )


def _other_fields(
    ctx: Context, expected: Mapping[str, Any], written: Mapping[str, Any]
) -> tuple[str, str] | None:
    defaults = spec_of(ctx.config.workflow_defaults)
    for key in sorted(set(expected) | set(written)):
        want, got = expected.get(key), written.get(key)
        if key == "arguments":
            want = {k: v for k, v in (want or {}).items() if k != "parameters"}
            got = {k: v for k, v in (got or {}).items() if k != "parameters"}
        if equivalent({key: want}, {key: got}):
            continue
        if (
            want is None
            and key in ctx.config.ref_defaults
            and equivalent({key: got}, {key: defaults.get(key)})
        ):
            continue  # /mutate set it from workflowDefaults, as it did for the original
        return f"spec.{key}", f"spec.{key} as it is"
    return None
