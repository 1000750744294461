"""Argo's joins: MergeTo and JoinWorkflowSpec, the spec the controller stores. Pure; no I/O.

The controller builds `status.storedWorkflowTemplateSpec` by joining the user's (sanitised)
Workflow spec over the referenced template's spec over `workflowDefaults`, each step a strategic
merge (admission/core/merge/strategic.py) of Go-marshalled specs
(admission/core/merge/gojson.py), with
Argo's own exceptions: hooks and labelsFrom are taken whole, the Workflow's `suspend` stands, a
parameter's value comes whole from the highest layer.

Mirrors workflow/util/merge.go (argoproj/argo-workflows v3.7.18): MergeTo, JoinWorkflowSpec.
"""

from __future__ import annotations

from collections.abc import Mapping

from admission.core.merge.gojson import go_roundtrip, roundtrip_map
from admission.core.merge.gotypes import JSON, MergeError, Spec
from admission.core.merge.strategic import clone, merge_map


def merge_to(patch: Mapping[str, JSON], target: Mapping[str, JSON]) -> dict[str, JSON]:
    """Argo's MergeTo: fill `target` (a Workflow object) from `patch`; what `target` sets wins.

    Hooks and `workflowMetadata.labelsFrom` of the patch do not merge field by field: each
    entry is added whole when the target lacks that name.
    """
    return _merge_to(go_roundtrip(dict(patch), "Workflow"), go_roundtrip(dict(target), "Workflow"))


def _merge_to(patch_obj: dict[str, JSON], target_obj: dict[str, JSON]) -> dict[str, JSON]:
    """MergeTo on Go-marshalled objects this module owns (both are modified)."""
    patch_spec = patch_obj.setdefault("spec", {})
    hooks = patch_spec.pop("hooks", None) or {}
    labels_from: dict[str, JSON] = {}
    if isinstance(patch_spec.get("workflowMetadata"), dict):
        metadata = dict(patch_spec["workflowMetadata"])
        labels_from = metadata.pop("labelsFrom", None) or {}
        patch_spec["workflowMetadata"] = metadata
    merged = merge_map(patch_obj, target_obj, "Workflow")
    spec = merged.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise MergeError("spec: expected an object")
    _add_missing(spec, "hooks", hooks)
    if labels_from:
        _add_missing(spec.setdefault("workflowMetadata", {}), "labelsFrom", labels_from)
    return dict(merged)


def _add_missing(holder: dict[str, JSON], key: str, entries: Mapping[str, JSON]) -> None:
    if not entries:
        return
    existing = holder.get(key)
    if not isinstance(existing, dict):
        existing = {}
        holder[key] = existing
    for name, value in entries.items():
        existing.setdefault(name, clone(value))


def join_workflow_spec(
    workflow_spec: Mapping[str, JSON],
    template_spec: Mapping[str, JSON] | None,
    defaults_spec: Mapping[str, JSON] | None,
) -> Spec:
    """Argo's JoinWorkflowSpec: Workflow spec over template spec over `workflowDefaults` spec.

    Returns the spec the controller stores in `status.storedWorkflowTemplateSpec` (Go-marshalled:
    zero-valued fields Go always writes are present; compare with diff.equivalent()).
    """
    user: Spec = go_roundtrip(dict(workflow_spec))
    template: Spec = go_roundtrip(dict(template_spec or {}))
    by_template = clone(_valued_parameters(template))  # before the merge reuses its lists
    target: dict[str, JSON] = {"spec": clone(user)}
    if template_spec is not None:
        target = _merge_to({"spec": template}, target)
    if defaults_spec is not None:
        defaults: Spec = go_roundtrip(dict(defaults_spec))
        spec_now = target.get("spec") or {}
        # Go marshals the joined struct again; only members the defaults also set can differ.
        again = {k: v for k, v in spec_now.items() if k not in defaults}
        again.update(
            roundtrip_map({k: v for k, v in spec_now.items() if k in defaults}, "WorkflowSpec")
        )
        target = _merge_to({"spec": defaults}, {"spec": again})
    spec: Spec = target.get("spec") or {}
    # The Workflow's own `suspend` always stands, even when absent (merge.go compares pointers).
    if "suspend" in user:
        spec["suspend"] = user["suspend"]
    else:
        spec.pop("suspend", None)
    _prefer_parameter_sources(spec, _valued_parameters(user), by_template)
    return spec


def _prefer_parameter_sources(
    spec: Spec, by_user: dict[str, JSON], by_template: dict[str, JSON]
) -> None:
    """A parameter's value comes whole from the highest layer that gives it one.

    Merging field by field could join `valueFrom` from the Workflow with `value` from the
    template; Argo keeps only the winning layer's parameter (merge.go JoinWorkflowSpec).
    """
    params = (spec.get("arguments") or {}).get("parameters")
    if not isinstance(params, list):
        return
    for i, param in enumerate(params):
        if not isinstance(param, dict) or not _has_value(param):
            continue
        name = param.get("name")
        if name in by_user:
            params[i] = clone(by_user[name])
        elif name in by_template:
            params[i] = clone(by_template[name])


def _valued_parameters(spec: Mapping[str, JSON]) -> dict[str, JSON]:
    params = (spec.get("arguments") or {}).get("parameters") or []
    out: dict[str, JSON] = {}
    for param in params:
        if isinstance(param, dict) and _has_value(param):
            out[param.get("name", "")] = param
    return out


def _has_value(param: Mapping[str, JSON]) -> bool:
    return any(param.get(k) is not None for k in ("value", "default", "valueFrom"))


def apply_workflow_defaults(
    workflow: Mapping[str, JSON], defaults: Mapping[str, JSON] | None
) -> dict[str, JSON]:
    """What the controller does to a Workflow without a ref: MergeTo(workflowDefaults, wf)."""
    if not defaults:
        return go_roundtrip(dict(workflow), "Workflow")  # type: ignore[no-any-return]
    return merge_to(defaults, workflow)
