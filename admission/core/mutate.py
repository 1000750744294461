"""Mutation: workflowDefaults and the securityContext baseline as idempotent JSONPatches.

Never adds beside `workflowTemplateRef` a field Argo's override allowlist refuses: Argo >= 3.7.1x
fails such a Workflow itself (`fields [SecurityContext] are not permitted ...`) and our own
validator would deny it. So:
- a Workflow or CronWorkflow without a ref gets `workflowDefaults` (the controller's MergeTo: the
  object's own values win) and the baseline, pod-level and on every container;
- a ref gets only the configured allowlisted defaults (`mutation.refDefaults`, e.g. ttlStrategy),
  and only where neither the Workflow nor its template sets them (the template outranks
  workflowDefaults in Argo's join); the rest of workflowDefaults the controller joins itself;
- a (Cluster)WorkflowTemplate gets the baseline: ref Workflows inherit it from the library.
Workflows and templates are mutated on CREATE only (CREATE_ONLY says why); CronWorkflows on
CREATE and UPDATE. The patch is the difference between the object and its mutated copy
(jsonpatch), so applying it twice changes nothing. In warn and audit modes nothing is patched:
each operation enforce would apply is reported as a warning ("would set ...").
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

import jsonpatch

from admission.core.config import Config
from admission.core.decision import Decision, Outcome, Violation
from admission.core.merge import MergeError, clone, go_roundtrip, strategic_merge, strip_nulls
from admission.core.objects import containers, ref_key, spec_of
from admission.core.policy import conflicts, head, rules
from admission.core.policy.context import (
    CLUSTER_WORKFLOW_TEMPLATE,
    CRON_WORKFLOW,
    WORKFLOW,
    WORKFLOW_TEMPLATE,
    Context,
)
from admission.core.policy.source import EmptySource, TemplateSource
from admission.core.review import Request

# Mutated at CREATE only. A Workflow: rewriting a running one's spec trips Secure. A template:
# adding the baseline at the first UPDATE after the door is installed (even a re-apply of the
# unchanged file) changes the spec every running Workflow joins, which Secure fails, and shows
# the template as drifted from git; docs/rollout.md puts the baseline in the library's files.
CREATE_ONLY: Final = frozenset({WORKFLOW, WORKFLOW_TEMPLATE, CLUSTER_WORKFLOW_TEMPLATE})


def patches(
    request: Request, *, config: Config, templates: TemplateSource | None = None
) -> Decision:
    """Decide one AdmissionRequest for the mutating webhook: always admit, maybe with a patch."""
    first = head(request, config)
    kind, obj = first.kind, request.object
    annotations = {"decision": "allow", "mode": config.mode}
    if first.problem or kind is None or request.operation not in ("CREATE", "UPDATE"):
        return Decision(True, Outcome.SKIP, annotations=annotations)
    if not isinstance(obj, dict) or not isinstance(obj.get("spec"), dict):
        return Decision(True, Outcome.SKIP, annotations=annotations)
    if kind in CREATE_ONLY and request.operation != "CREATE":
        return Decision(True, Outcome.SKIP, annotations=annotations)
    if first.exempt:
        return Decision(True, Outcome.SKIP, annotations={**annotations, "decision": "exempt"})
    ctx = Context(request, config, templates or EmptySource(), kind, obj, None)
    mutated = clone(obj)
    try:
        mutate_object(ctx, mutated)
    except MergeError as exc:
        ctx.warn(rules.MUTATE, "workflowDefaults not applied", str(exc))
        mutated = obj
    ops = patch_ops(obj, mutated)
    if ops and config.mode != "enforce":
        # warn and audit modes never change an object: they say what enforce would set
        ctx.findings.warnings.extend(would_set(ops))
        ops = []
    outcome = Outcome.WARN if ctx.findings.warnings else Outcome.PASS
    return Decision(
        True,
        outcome,
        patch=tuple(ops),
        warnings=tuple(w.message() for w in ctx.findings.warnings),
        warned=tuple(ctx.findings.warnings),
        mode=config.mode,
        annotations=annotations,
    )


def would_set(ops: list[dict[str, Any]]) -> list[Violation]:
    """One warning per patch operation enforce mode would apply."""
    out = []
    for op in ops:
        path = op.get("path", "")
        if op.get("op") == "remove":
            out.append(Violation(rules.MUTATE, f"would remove {path} (mode: enforce applies it)"))
        else:
            value = json.dumps(op.get("value"), sort_keys=True)
            shown = value if len(value) <= 120 else value[:117] + "..."
            reason = f"would set {path} to {shown} (mode: enforce applies it)"
            out.append(Violation(rules.MUTATE, reason))
    return out


def mutate_object(ctx: Context, obj: dict[str, Any]) -> None:
    """Mutate `obj` in place according to its kind."""
    spec = obj["spec"]
    if ctx.kind == WORKFLOW:
        _mutate_workflow(ctx, obj, spec)
    elif ctx.kind == CRON_WORKFLOW:
        workflow_spec = spec.get("workflowSpec")
        if isinstance(workflow_spec, dict):
            holder = {"metadata": spec.get("workflowMetadata") or {}, "spec": workflow_spec}
            _mutate_workflow(ctx, holder, workflow_spec)
            if holder["metadata"]:
                spec["workflowMetadata"] = holder["metadata"]
    else:
        apply_baseline(ctx.config, spec)


def _mutate_workflow(ctx: Context, obj: dict[str, Any], spec: dict[str, Any]) -> None:
    defaults = ctx.config.workflow_defaults
    _fill_metadata(obj, defaults.get("metadata"))
    if spec.get("workflowTemplateRef") is not None:
        _ref_defaults(ctx, spec)
        return
    merged = apply_defaults(spec, spec_of(defaults))
    spec.clear()
    spec.update(merged)
    apply_baseline(ctx.config, spec)


def apply_defaults(spec: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with workflowDefaults filled in where it sets nothing (Argo's MergeTo order)."""
    if not defaults:
        return dict(spec)
    base = go_roundtrip(dict(defaults))
    hooks = base.pop("hooks", None) or {}
    merged: dict[str, Any] = strategic_merge(base, strip_nulls(dict(spec)), "WorkflowSpec")
    if hooks:
        own = merged.setdefault("hooks", {})
        for name, hook in hooks.items():
            own.setdefault(name, hook)
    return merged


def _fill_metadata(obj: dict[str, Any], defaults: Any) -> None:
    """Labels and annotations from workflowDefaults where the object has none of that key."""
    if not isinstance(defaults, dict):
        return
    meta = obj.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        extra = defaults.get(field)
        if isinstance(extra, dict) and extra:
            own = meta.setdefault(field, {})
            if isinstance(own, dict):
                for key, value in extra.items():
                    own.setdefault(key, value)


def _ref_defaults(ctx: Context, spec: dict[str, Any]) -> None:
    """Set allowlisted defaults beside a ref where neither Workflow nor template sets them."""
    wanted = {
        k: v
        for k, v in spec_of(ctx.config.workflow_defaults).items()
        if k in ctx.config.ref_defaults and spec.get(k) is None
    }
    if not wanted:
        return
    key = ref_key(spec, ctx.namespace)
    ok, template = ctx.lookup(key) if key is not None and key.name else (False, None)
    if not ok or template is None:
        ctx.warn(
            rules.MUTATE,
            "workflowDefaults not set beside the ref",
            "its template could not be read, and the template's own values must win",
        )
        return
    template_spec = spec_of(template)
    for field, value in sorted(wanted.items()):
        if template_spec.get(field) is None:
            spec[field] = copy.deepcopy(value)


def apply_baseline(config: Config, spec: dict[str, Any]) -> None:
    """Fill the pod-level and container-level securityContext baseline where unset.

    A field that would contradict what the template sets (policy/conflicts.py) is left out:
    the baseline never turns a valid pod into one Kubernetes refuses; /validate warns of it.
    """
    policy = config.security_context
    if policy.mode != "mutate":
        return
    found = conflicts.find(policy, spec)
    if policy.pod:
        pod = _without(policy.pod, conflicts.skipped(found, "pod"))
        spec["securityContext"] = fill_missing(spec.get("securityContext"), pod)
    if policy.container:
        for path, _, container in containers(spec):
            assert isinstance(container, dict)
            wanted = _without(policy.container, conflicts.skipped(found, path))
            container["securityContext"] = fill_missing(container.get("securityContext"), wanted)


def _without(baseline: Mapping[str, Any], fields: frozenset[str]) -> Mapping[str, Any]:
    """The baseline less the fields a conflict keeps out (policy/conflicts.py)."""
    return {k: v for k, v in baseline.items() if k not in fields} if fields else baseline


def patch_ops(before: Any, after: Any, pointer: str = "") -> list[dict[str, Any]]:
    """RFC 6902 operations turning `before` into `after`, walking only where they differ.

    Equal members are skipped with one comparison, so a large template with a few mutated
    containers costs little; lists that change length are left to jsonpatch's own diff.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        ops: list[dict[str, Any]] = []
        for key in before:
            child = f"{pointer}/{_escape(key)}"
            if key in after:
                ops.extend(patch_ops(before[key], after[key], child))
            else:
                ops.append({"op": "remove", "path": child})
        for key in after:
            if key not in before:
                ops.append({"op": "add", "path": f"{pointer}/{_escape(key)}", "value": after[key]})
        return ops
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            op
            for i, (old, new) in enumerate(zip(before, after, strict=True))
            for op in patch_ops(old, new, f"{pointer}/{i}")
        ]
    if isinstance(before, dict | list) and isinstance(after, dict | list):
        return [{**op, "path": pointer + op["path"]} for op in jsonpatch.make_patch(before, after)]
    return [{"op": "replace", "path": pointer, "value": after}]


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def fill_missing(actual: Any, baseline: Mapping[str, Any]) -> dict[str, Any]:
    """`actual` with every key of `baseline` it lacks; what `actual` sets is kept."""
    out = dict(actual) if isinstance(actual, dict) else {}
    for key, value in baseline.items():
        if key not in out or out[key] is None:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = fill_missing(out[key], value)
    return out
