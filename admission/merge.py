"""Argo's spec joining: the spec the workflow-controller computes and stores.

The controller builds `status.storedWorkflowTemplateSpec` by joining the user's (sanitised)
Workflow spec over the referenced template's spec over `workflowDefaults`, each step a
Kubernetes strategic merge patch typed by Argo's Go structs. This module re-implements those
semantics over plain dicts so the webhook can compute, before anything is stored, exactly what
Argo would run. Pure functions; no I/O.

Mirrors (argoproj/argo-workflows v3.7.18):
- workflow/util/merge.go: MergeTo, JoinWorkflowSpec, SanitizeUserWorkflowSpec, ValidateUserOverrides
- k8s.io/apimachinery/pkg/util/strategicpatch/patch.go: mergeMap, mergeSlice (IgnoreUnmatchedNulls)
- pkg/apis/workflow/v1alpha1/workflow_types.go: patchStrategy/patchMergeKey tags, omitempty tags
Values whose Go type writes another spelling (Quantity, AnyString, IntOrString) are read and
written as Go does by admission/govalues.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from admission.govalues import (
    OMITTED_WHEN_EMPTY,
    VALUE_FIELDS,
    VALUE_KINDS,
    GoValueError,
    map_value_type,
    read_value,
)

JSON = Any
Spec = dict[str, Any]


class MergeError(ValueError):
    """The specs cannot be joined: Argo's controller would mark the Workflow Error."""


# --- The Go types, as far as merging needs them -------------------------------------------
#
# FIELDS[type][json name] = (child type or None, merge key or None). A list field with a merge
# key is merged element by element (patchStrategy "merge"); any other list is replaced. Map
# fields merge recursively whatever their type. Types not listed are plain: maps merge, lists
# are replaced, exactly as the strategic merge does for fields without patch tags.
FIELDS: Final[dict[str, dict[str, tuple[str | None, str | None]]]] = {
    "Workflow": {"metadata": ("ObjectMeta", None), "spec": ("WorkflowSpec", None)},
    "ObjectMeta": {"finalizers": (None, "")},  # list of scalars, merged as a set
    "WorkflowSpec": {
        "templates": ("Template", "name"),
        "arguments": ("Arguments", None),
        "volumes": ("Volume", "name"),
        "tolerations": (None, "key"),
        "imagePullSecrets": (None, "name"),
        "hostAliases": ("HostAlias", "ip"),
        "templateDefaults": ("Template", None),
        "metrics": ("Metrics", None),
    },
    "Template": {
        "inputs": ("Inputs", None),
        "outputs": ("Outputs", None),
        "arguments": ("Arguments", None),
        "dag": ("DAG", None),
        "container": ("Container", None),
        "script": ("Script", None),
        "initContainers": ("Container", "name"),
        "sidecars": ("Container", "name"),
        "volumes": ("Volume", "name"),
        "tolerations": (None, "key"),
        "hostAliases": ("HostAlias", "ip"),
        "metrics": ("Metrics", None),
    },
    "Arguments": {"parameters": ("Parameter", "name"), "artifacts": ("Artifact", "name")},
    "Inputs": {"parameters": ("Parameter", "name"), "artifacts": ("Artifact", "name")},
    "Outputs": {"parameters": ("Parameter", "name"), "artifacts": ("Artifact", "name")},
    "DAG": {"tasks": ("DAGTask", "name")},
    "DAGTask": {"arguments": ("Arguments", None)},
    "Script": {
        "env": ("EnvVar", "name"),
        "ports": ("ContainerPort", "containerPort"),
        "volumeMounts": ("VolumeMount", "mountPath"),
        "volumeDevices": ("VolumeDevice", "devicePath"),
    },
    "Container": {
        "env": ("EnvVar", "name"),
        "ports": ("ContainerPort", "containerPort"),
        "volumeMounts": ("VolumeMount", "mountPath"),
        "volumeDevices": ("VolumeDevice", "devicePath"),
    },
}

# Fields Go writes even when zero (no `omitempty`): they take part in the merge, e.g. a
# `metrics: {}` on the Workflow marshals as `prometheus: null` and deletes the template's.
ALWAYS_EMITTED: Final[dict[str, dict[str, JSON]]] = {
    "Container": {"name": ""},
    "Script": {"name": "", "source": ""},
    "Parameter": {"name": ""},
    "Artifact": {"name": ""},
    "DAGTask": {"name": ""},
    "Volume": {"name": ""},
    "HostAlias": {"ip": ""},
    "EnvVar": {"name": ""},
    "ContainerPort": {"containerPort": 0},
    "VolumeMount": {"name": "", "mountPath": ""},
    "VolumeDevice": {"name": "", "devicePath": ""},
    "Metrics": {"prometheus": None},
    "DAG": {"tasks": None},
    # k8s core/v1 and Argo fields without omitempty, or structs omitempty cannot omit.
    "ResourceFieldSelector": {"resource": "", "divisor": "0"},
    "HTTPGetAction": {"port": 0},
    "TCPSocketAction": {"port": 0},
    "ContainerSetRetryStrategy": {"retries": None},
}

# Go map fields (omitempty): an empty map is not written. Struct pointers (`artifactGC: {}`) are.
MAP_FIELDS: Final = frozenset(
    {"nodeSelector", "hooks", "labels", "annotations", "labelsFrom", "limits", "requests"}
)
# Slices Go writes even when empty (no omitempty); every other empty list is not written.
KEPT_EMPTY_LISTS: Final = frozenset({"tasks"})
# Strings Go writes even when "" below the types above (ConfigMapKeySelector.key, ...) and
# *IntOrString fields (a pointer: "" is a value); any other "" is an omitempty zero.
KEPT_EMPTY_STRINGS: Final = frozenset({"key", "help", "limit", "factor", "activeDeadlineSeconds"})
# Plain (non-pointer) bools with omitempty: false is not written.
PLAIN_BOOLS: Final = frozenset(
    {
        "clusterScope",
        "forceFinalizerRemoval",
        "optional",
        "readOnly",
        "stdin",
        "stdinOnce",
        "tty",
        "deleted",
    }
)

# WorkflowSpec: json name -> (Go field name, Go kind). Kinds: "string" and "bool"/"int" are
# plain values whose zero is "unset"; "ptr", "slice", "map" are unset only when null/absent.
WORKFLOW_SPEC_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "templates": ("Templates", "slice"),
    "entrypoint": ("Entrypoint", "string"),
    "arguments": ("Arguments", "struct"),
    "serviceAccountName": ("ServiceAccountName", "string"),
    "automountServiceAccountToken": ("AutomountServiceAccountToken", "ptr"),
    "executor": ("Executor", "ptr"),
    "volumes": ("Volumes", "slice"),
    "volumeClaimTemplates": ("VolumeClaimTemplates", "slice"),
    "parallelism": ("Parallelism", "ptr"),
    "artifactRepositoryRef": ("ArtifactRepositoryRef", "ptr"),
    "suspend": ("Suspend", "ptr"),
    "nodeSelector": ("NodeSelector", "map"),
    "affinity": ("Affinity", "ptr"),
    "tolerations": ("Tolerations", "slice"),
    "imagePullSecrets": ("ImagePullSecrets", "slice"),
    "hostNetwork": ("HostNetwork", "ptr"),
    "dnsPolicy": ("DNSPolicy", "ptr"),
    "dnsConfig": ("DNSConfig", "ptr"),
    "onExit": ("OnExit", "string"),
    "ttlStrategy": ("TTLStrategy", "ptr"),
    "activeDeadlineSeconds": ("ActiveDeadlineSeconds", "ptr"),
    "priority": ("Priority", "ptr"),
    "schedulerName": ("SchedulerName", "string"),
    "podGC": ("PodGC", "ptr"),
    "podPriorityClassName": ("PodPriorityClassName", "string"),
    "hostAliases": ("HostAliases", "slice"),
    "securityContext": ("SecurityContext", "ptr"),
    "podSpecPatch": ("PodSpecPatch", "string"),
    "podDisruptionBudget": ("PodDisruptionBudget", "ptr"),
    "metrics": ("Metrics", "ptr"),
    "shutdown": ("Shutdown", "string"),
    "workflowTemplateRef": ("WorkflowTemplateRef", "ptr"),
    "synchronization": ("Synchronization", "ptr"),
    "volumeClaimGC": ("VolumeClaimGC", "ptr"),
    "retryStrategy": ("RetryStrategy", "ptr"),
    "podMetadata": ("PodMetadata", "ptr"),
    "templateDefaults": ("TemplateDefaults", "ptr"),
    "archiveLogs": ("ArchiveLogs", "ptr"),
    "hooks": ("Hooks", "map"),
    "workflowMetadata": ("WorkflowMetadata", "ptr"),
    "artifactGC": ("ArtifactGC", "ptr"),
}

# Argo's newest allowlist of fields a user may set beside `workflowTemplateRef` under
# Strict/Secure (merge.go allowedUserOverrideFields), as json names.
DEFAULT_OVERRIDE_ALLOWLIST: Final = frozenset(
    {
        "arguments",
        "entrypoint",
        "shutdown",
        "suspend",
        "activeDeadlineSeconds",
        "priority",
        "ttlStrategy",
        "podGC",
        "volumeClaimGC",
        "archiveLogs",
        "workflowMetadata",
        "workflowTemplateRef",
        "metrics",
        "artifactGC",
    }
)

# artifactGC is allowlisted, but these nested fields reach the GC pod and are always refused.
ARTIFACT_GC_SENSITIVE: Final = (
    ("podSpecPatch", "ArtifactGC.PodSpecPatch"),
    ("serviceAccountName", "ArtifactGC.ServiceAccountName"),
    ("podMetadata", "ArtifactGC.PodMetadata"),
)


# --- Go's JSON round trip -------------------------------------------------------------------


def go_roundtrip(value: JSON, type_name: str | None = "WorkflowSpec") -> JSON:
    """Return `value` as Argo's controller would re-marshal it after reading it into its types.

    Nulls become zero values (dropped), `$`-directives are not fields and vanish, Quantities,
    AnyStrings and IntOrStrings take the form Go writes (MergeError where Go cannot read them),
    and the few fields Go writes even when zero are written.
    """
    if isinstance(value, dict):
        return _roundtrip_map(value, type_name)
    if isinstance(value, list):
        return [go_roundtrip(item, type_name) for item in value if item is not None]
    return value


def _roundtrip_map(value: Mapping[str, JSON], type_name: str | None) -> dict[str, JSON]:
    fields = FIELDS.get(type_name or "", {})
    values = VALUE_FIELDS.get(type_name or "", _NO_VALUES)
    if type_name == "WorkflowSpec":
        value = canonical_spec_keys(value)
    out: dict[str, JSON] = {}
    is_spec = type_name == "WorkflowSpec"
    for key, item in value.items():
        if item is None or not isinstance(key, str) or key.startswith("$"):
            continue
        child_type, merge_key = fields.get(key, _UNTYPED)
        if is_spec or child_type is not None or key in MAP_FIELDS:
            _check_shape(type_name, key, item, child_type, merge_key)
        field_type = child_type or values.get(key)
        new = _roundtrip_member(key, item, field_type)
        if (new == "" or new is False or not new) and _omitted_when_empty(
            key, new, type_name, field_type
        ):
            continue
        out[key] = new
    for key, zero in ALWAYS_EMITTED.get(type_name or "", {}).items():
        out.setdefault(key, zero)
    return out


_UNTYPED: Final = (None, None)
_NO_VALUES: Final[dict[str, str]] = {}


def _roundtrip_member(key: str, item: JSON, field_type: str | None) -> JSON:
    """One member's value read into its Go type (when known) and written back."""
    if field_type in VALUE_KINDS:
        try:
            return read_value(field_type, item)
        except GoValueError as exc:
            raise MergeError(f"{key}: {exc}") from None
    if isinstance(item, dict):
        entry_type = map_value_type(field_type) if field_type else None
        if entry_type or key in MAP_FIELDS:
            return _roundtrip_entries(item, entry_type)
        return _roundtrip_map(item, field_type)
    if isinstance(item, list):
        return [go_roundtrip(v, field_type) for v in item if v is not None]
    return item


_FOLDED_SPEC_FIELDS: Final = {name.lower(): name for name in WORKFLOW_SPEC_FIELDS}


def canonical_spec_keys(spec: Mapping[str, JSON]) -> dict[str, JSON]:
    """A WorkflowSpec's keys as Go's encoding/json reads them.

    Go matches keys to fields case-insensitively and drops keys that name no field:
    `workflowMetaData` is read as `workflowMetadata`, `bogus` vanishes. Members folding onto one
    field are read in document order into the same value: objects merge, the rest is replaced.
    """
    if all(key in WORKFLOW_SPEC_FIELDS for key in spec):
        return dict(spec)
    out: dict[str, JSON] = {}
    for key, value in spec.items():
        name = _FOLDED_SPEC_FIELDS.get(key.lower()) if isinstance(key, str) else None
        if name is not None:
            out[name] = _decode_into(out.get(name), value)
    return out


def _decode_into(existing: JSON, value: JSON) -> JSON:
    """Go decoding `value` into a field that already holds `existing` (a repeated member)."""
    if isinstance(existing, dict) and isinstance(value, dict):
        merged = dict(existing)
        for key, item in value.items():
            merged[key] = _decode_into(merged.get(key), item)
        return merged
    return value


# JSON types Go can read into WorkflowSpec's scalar pointer fields.
_SPEC_SCALARS: Final = {
    "automountServiceAccountToken": bool,
    "suspend": bool,
    "hostNetwork": bool,
    "archiveLogs": bool,
    "parallelism": int,
    "activeDeadlineSeconds": int,
    "priority": int,
    "dnsPolicy": str,
}
_GO_KINDS: Final = {"string": str, "slice": list, "map": dict, "struct": dict}


def _check_shape(
    type_name: str | None, key: str, item: JSON, child_type: str | None, merge_key: str | None
) -> None:
    """Refuse what Go's reader refuses ("cannot unmarshal"): Argo would error the Workflow."""
    expected: type | tuple[type, ...] | None = None
    if type_name == "WorkflowSpec" and key in WORKFLOW_SPEC_FIELDS:
        kind = WORKFLOW_SPEC_FIELDS[key][1]
        expected = _SPEC_SCALARS.get(key) or _GO_KINDS.get(kind, dict)
    elif child_type is not None:
        expected = list if merge_key is not None else dict
    elif key in MAP_FIELDS:
        expected = dict
    if expected is None:
        return
    if expected is int:
        ok = isinstance(item, int | float) and not isinstance(item, bool)
    else:
        ok = isinstance(item, expected)
    if ok and expected is list and child_type is not None:
        ok = all(isinstance(element, dict) or element is None for element in item)
    if not ok:
        raise MergeError(f"{key}: cannot read {type(item).__name__} {_short(item)} here")


def _short(value: JSON) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _roundtrip_entries(value: Mapping[str, JSON], value_type: str | None) -> dict[str, JSON]:
    """A Go map: every entry is written, values of struct type read like any struct."""
    return {
        k: go_roundtrip(v, value_type) if isinstance(v, dict | list) else v
        for k, v in value.items()
        if v is not None
    }


def _omitted_when_empty(
    key: str, value: JSON, type_name: str | None, field_type: str | None = None
) -> bool:
    """Whether Go's omitempty drops this member when marshalling."""
    if field_type in VALUE_KINDS:
        # Maps and slices are omitted when empty; pointers and structs are always written.
        return field_type in OMITTED_WHEN_EMPTY and not value
    if isinstance(value, list):
        return not value and key not in KEPT_EMPTY_LISTS
    if isinstance(value, dict):
        return not value and key in MAP_FIELDS
    if value == "" and isinstance(value, str):
        return key not in ALWAYS_EMITTED.get(type_name or "", {}) and key not in KEPT_EMPTY_STRINGS
    return value is False and key in PLAIN_BOOLS


def strip_nulls(value: JSON) -> JSON:
    """Drop null members recursively: what a Go reader makes of explicit nulls."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


# --- Strategic merge ------------------------------------------------------------------------


def clone(value: JSON) -> JSON:
    """A deep copy of JSON data (fast path through orjson)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(value)


def strategic_merge(original: JSON, patch: JSON, type_name: str | None) -> JSON:
    """Apply `patch` to `original` with strategic-merge semantics; the patch wins.

    Both must be Go-marshalled JSON (see go_roundtrip). Inputs are not modified.
    """
    if not isinstance(original, dict) or not isinstance(patch, dict):
        return _drop_nulls(clone(patch))
    return _merge_map(clone(original), clone(patch), type_name)


def _merge_map(original: dict[str, JSON], patch: dict[str, JSON], type_name: str | None) -> JSON:
    fields = FIELDS.get(type_name or "", {})
    for key, patch_value in patch.items():
        if patch_value is None:
            original.pop(key, None)  # IgnoreUnmatchedNulls: a null deletes, and is not kept
            continue
        if key not in original or type(original[key]) is not type(patch_value):
            original[key] = _drop_nulls(patch_value)
            continue
        child_type, merge_key = fields.get(key, (None, None))
        current = original[key]
        if isinstance(current, dict):
            original[key] = _merge_map(current, patch_value, child_type)
        elif isinstance(current, list) and merge_key is not None:
            original[key] = _merge_list(current, patch_value, child_type, merge_key, key)
        else:
            original[key] = _drop_nulls(patch_value)
    return original


def _drop_nulls(value: JSON) -> JSON:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _merge_list(
    original: list[JSON], patch: list[JSON], type_name: str | None, merge_key: str, field: str
) -> list[JSON]:
    if not original and not patch:
        return original
    kinds = {type(item) for item in [*original, *patch]}
    if len(kinds) > 1:
        raise MergeError(f"{field}: list element types are not identical")
    if list in kinds:
        raise MergeError(f"{field}: lists of lists cannot be merged")
    if dict not in kinds:
        return _dedupe_scalars([*original, *patch])
    if not merge_key:
        raise MergeError(f"{field}: cannot merge lists without merge key")
    for item in patch:
        if merge_key not in item:
            raise MergeError(
                f"{field}: map {item} does not contain declared merge key {merge_key!r}"
            )
    for item in original:
        if merge_key not in item:
            raise MergeError(
                f"{field}: map {item} does not contain declared merge key {merge_key!r}"
            )
    merged = list(original)
    first: dict[tuple[Any, ...], int] = {}
    for index, item in enumerate(merged):
        first.setdefault(_key_of(item[merge_key]), index)
    for item in patch:
        key = _key_of(item[merge_key])
        if key not in first:
            first[key] = len(merged)
            merged.append(_drop_nulls(item))
        else:
            merged[first[key]] = _merge_map(merged[first[key]], item, type_name)
    return _order_like_go(merged, patch, original, merge_key)


def _key_of(value: JSON) -> tuple[Any, ...]:
    """A merge-key value as Go compares interface values: numbers by value, bools apart."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    return ("object", id(value))  # Go cannot compare maps or slices: never equal


def _dedupe_scalars(items: list[JSON]) -> list[JSON]:
    # strategicpatch's deduplicateScalars: a duplicate is overwritten by the last element.
    items = list(items)
    last = len(items) - 1
    i = 0
    while i < last:
        j = i + 1
        while j <= last:
            if items[i] == items[j]:
                items[j] = items[last]
                items.pop()
                last -= 1
                j -= 1
            j += 1
        i += 1
    return items


def _first_positions(items: list[JSON], merge_key: str) -> dict[tuple[Any, ...], int]:
    out: dict[tuple[Any, ...], int] = {}
    for index, item in enumerate(items):
        out.setdefault(_key_of(item[merge_key]), index)
    return out


def _order_like_go(
    merged: list[JSON], patch: list[JSON], original: list[JSON], merge_key: str
) -> list[JSON]:
    """The element order strategicpatch's normalizeElementOrder produces.

    Elements named in the patch keep the patch's order; the others keep the original's; the
    two runs are interleaved by their positions in the original list where both appear there.
    """
    patch_at = _first_positions(patch, merge_key)
    original_at = _first_positions(original, merge_key)
    in_patch = [item for item in merged if _key_of(item[merge_key]) in patch_at]
    server_only = [item for item in merged if _key_of(item[merge_key]) not in patch_at]
    in_patch.sort(key=lambda item: patch_at[_key_of(item[merge_key])])

    def position(item: JSON) -> int:
        return original_at.get(_key_of(item[merge_key]), -1)

    server_only.sort(key=position)  # stable: repeated keys gather at their first position

    out: list[JSON] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(in_patch[j])
            j += 1
        else:
            left, right = position(server_only[i]), position(in_patch[j])
            if left >= 0 and right >= 0 and left < right:
                out.append(server_only[i])
                i += 1
            else:
                out.append(in_patch[j])
                j += 1
    return out


# --- Argo's joins ---------------------------------------------------------------------------


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
    merged = _merge_map(patch_obj, target_obj, "Workflow")
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
            _roundtrip_map({k: v for k, v in spec_now.items() if k in defaults}, "WorkflowSpec")
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


# --- Fields beside a ref --------------------------------------------------------------------


def is_set(field: str, value: JSON) -> bool:
    """Whether a WorkflowSpec field differs from its Go zero value once read by the controller."""
    if value is None:
        return False
    kind = WORKFLOW_SPEC_FIELDS.get(field, ("", "unknown"))[1]
    if kind == "string":
        return bool(value != "")
    if kind == "struct":
        return bool(strip_nulls(value)) if isinstance(value, dict) else True
    return kind != "unknown"


def override_violations(spec: Mapping[str, JSON], allowlist: Iterable[str]) -> list[str]:
    """Go names of the fields a user set beside a ref that Argo's allowlist refuses, sorted.

    Mirrors ValidateUserOverrides; the result reads like Argo's own error.
    """
    allowed = set(allowlist)
    spec = canonical_spec_keys(spec)
    found = [
        WORKFLOW_SPEC_FIELDS[name][0]
        for name, value in spec.items()
        if name in WORKFLOW_SPEC_FIELDS and name not in allowed and is_set(name, value)
    ]
    gc = spec.get("artifactGC")
    if isinstance(gc, dict):
        for key, go_name in ARTIFACT_GC_SENSITIVE:
            if gc.get(key) not in (None, ""):
                found.append(go_name)
    return sorted(found)


def sanitize_user_spec(spec: Mapping[str, JSON], allowlist: Iterable[str]) -> Spec:
    """Argo's SanitizeUserWorkflowSpec: only allowlisted fields survive, artifactGC stripped.

    Go reads the whole spec before sanitising it: a value it cannot read anywhere (a Quantity
    `cpu: one` in a template) is a MergeError, even where the field is then dropped.
    """
    go_roundtrip(dict(spec))
    allowed = set(allowlist)
    out: Spec = {k: clone(v) for k, v in canonical_spec_keys(spec).items() if k in allowed}
    gc = out.get("artifactGC")
    if isinstance(gc, dict):
        for key, _ in ARTIFACT_GC_SENSITIVE:
            gc.pop(key, None)
    return out


def overrides_message(fields: list[str]) -> str:
    """Argo's wording for refused overrides (merge.go ValidateUserOverrides)."""
    return (
        f"fields [{' '.join(fields)}] are not permitted when using workflowTemplateRef "
        "with templateReferencing restriction"
    )
