"""The semantic compare of Workflow specs, and the diff a person reads when it fails.

Argo writes Go zero values (`container.name: ""`, `resources: {}`, `arguments: {}`), users and
kubectl omit them: a byte-for-byte compare would deny every UPDATE of a running Workflow. Here
absent = null = "" = [] = {}, except where presence means something (`emptyDir: {}`,
`securityContext: {}`, a template's `suspend: {}`, a parameter's `value: ""`). Lists Argo merges
by a key (templates by name, ...) compare by that key, so the diff says
`spec.templates[name=main].container.image: 'alpine:3.19' -> 'evil:latest'`. Values compare as
Go reads them (admission/core/govalues.py): `cpu: 0.5` equals `cpu: 500m`, a parameter `3` equals
`"3"`. Pure; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from deepdiff import DeepDiff

from admission.core.goreading import kept_when_empty
from admission.core.govalues import VALUE_FIELDS, VALUE_KINDS, map_value_type, normal_value
from admission.core.merge import FIELDS, PLAIN_BOOLS

JSON = Any

# An empty value here is not "unset": it selects a behaviour.
PRESENCE_KEYS: Final = frozenset(
    {
        "emptyDir",
        "securityContext",
        "suspend",
        "retryStrategy",
        "none",
        "tar",
        "value",
        "default",
        "archive",
        "memoize",
        "synchronization",
        "data",
    }
)


KEY_PREFIX: Final = "["  # keyed-list members are stored under "[name=main]"


def normalise(value: JSON, type_name: str | None = "WorkflowSpec") -> JSON:
    """Canonical form for comparison: zero values removed, keyed lists turned into maps."""
    if isinstance(value, dict):
        return _normalise_map(value, type_name)
    if isinstance(value, list):
        items = [normalise(item, type_name) for item in value]
        return [item for item in items if not _is_empty(item)] if type_name else items
    return value


def _normalise_map(value: Mapping[str, JSON], type_name: str | None) -> dict[str, JSON]:
    fields = FIELDS.get(type_name or "", _NO_FIELDS)
    values = VALUE_FIELDS.get(type_name or "", _NO_VALUES)
    out: dict[str, JSON] = {}
    for key, item in value.items():
        child_type, merge_key = fields.get(key, _UNTYPED)
        field_type = child_type or values.get(key)
        if field_type in VALUE_KINDS:
            item = normal_value(field_type, item)
        if item is None or item == "" or (item is False and key in PLAIN_BOOLS):
            if key in PRESENCE_KEYS and item is not None:
                out[key] = item
            continue
        entry_type = map_value_type(field_type)
        if isinstance(item, dict) and entry_type:
            norm: JSON = _normalise_entries(item, entry_type)
        elif isinstance(item, dict):
            norm = _normalise_map(item, field_type)
        elif isinstance(item, list):
            norm = _normalise_list(item, child_type, field_type)
            if merge_key:
                norm = _key_list(norm, merge_key)
        else:
            norm = item
        if norm or key in PRESENCE_KEYS or not _is_empty(norm) or _kept(type_name, key, norm):
            out[key] = norm
    return out


_NO_FIELDS: Final[dict[str, tuple[str | None, str | None]]] = {}
_NO_VALUES: Final[dict[str, str]] = {}
_UNTYPED: Final = (None, None)


def _normalise_list(items: list[JSON], child_type: str | None, field_type: str | None) -> JSON:
    """A list member: merged lists drop empty items; others keep every position."""
    if child_type:
        return normalise(items, child_type)
    if field_type and field_type not in VALUE_KINDS:
        return [_normalise_typed(item, field_type) for item in items]
    return _normalise_untyped(items)


def _normalise_entries(entries: Mapping[str, JSON], type_name: str) -> dict[str, JSON]:
    """A Go map whose values have a known type (hooks): empty entries are unset."""
    out: dict[str, JSON] = {}
    for key, item in entries.items():
        norm = _normalise_typed(item, type_name)
        if not _is_empty(norm):
            out[key] = norm
    return out


def _normalise_typed(value: JSON, type_name: str) -> JSON:
    if isinstance(value, dict):
        return _normalise_map(value, type_name)
    if isinstance(value, list):
        return [_normalise_typed(item, type_name) for item in value]
    return value


def _normalise_untyped(value: JSON) -> JSON:
    if isinstance(value, dict):
        return _normalise_map(value, None)
    if isinstance(value, list):
        return [_normalise_untyped(item) for item in value]
    return value


def _kept(type_name: str | None, key: str, value: JSON) -> bool:
    """An empty list Go writes (no `omitempty`): a value, which Argo's join puts over the
    template's list (`metrics.prometheus: []` drops the template's metrics)."""
    return value == [] and kept_when_empty(type_name, key)


def _is_empty(value: JSON) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _key_list(items: list[JSON], merge_key: str) -> JSON:
    """A list merged by key becomes a map from `[key=value]`, unless keys are missing or repeat."""
    keyed: dict[str, JSON] = {}
    for item in items:
        if not isinstance(item, dict) or merge_key not in item:
            return items
        label = f"[{merge_key}={item[merge_key]}]"
        if label in keyed:
            return items
        keyed[label] = item
    return keyed


def equivalent(left: JSON, right: JSON, type_name: str | None = "WorkflowSpec") -> bool:
    """Whether two specs mean the same to Argo's controller."""
    if left == right:  # the common case costs one C-level comparison
        return True
    return bool(normalise(left, type_name) == normalise(right, type_name))


def diff_lines(
    old: JSON,
    new: JSON,
    *,
    prefix: str = "spec",
    type_name: str | None = "WorkflowSpec",
    limit: int = 20,
) -> list[str]:
    """`path: old -> new` lines between two specs, on their normalised forms (deepdiff)."""
    return diff_normalised(
        normalise(old, type_name), normalise(new, type_name), prefix=prefix, limit=limit
    )


def diff_normalised(left: JSON, right: JSON, *, prefix: str = "spec", limit: int = 20) -> list[str]:
    """diff_lines for values already normalised (callers that compared them first)."""
    if left == right:
        return []
    left, right = _prune(left, right)
    report = DeepDiff(left, right, verbose_level=2, view="tree", threshold_to_diff_deeper=0)
    lines: list[str] = []
    for items in report.values():
        for item in items:
            path = format_path(prefix, item.path(output_format="list"))
            lines.append(f"{path}: {_show(item.t1)} -> {_show(item.t2)}")
    lines.sort()
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    return lines


def _prune(left: JSON, right: JSON) -> tuple[JSON, JSON]:
    """Drop members equal on both sides, so deepdiff only walks what differs."""
    if not isinstance(left, dict) or not isinstance(right, dict):
        return left, right
    pruned_left: dict[str, JSON] = {}
    pruned_right: dict[str, JSON] = {}
    for key in left.keys() | right.keys():
        if key in left and key in right:
            if left[key] == right[key]:
                continue
            pruned_left[key], pruned_right[key] = _prune(left[key], right[key])
        elif key in left:
            pruned_left[key] = left[key]
        else:
            pruned_right[key] = right[key]
    return pruned_left, pruned_right


def format_path(prefix: str, keys: list[Any]) -> str:
    """Render deepdiff path keys as `spec.templates[name=main].container.image`."""
    out = prefix
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
        elif isinstance(key, str) and key.startswith(KEY_PREFIX):
            out += key
        else:
            out += f".{key}" if out else str(key)
    return out


def _show(value: Any) -> str:
    if type(value).__name__ == "NotPresent":
        return "(absent)"
    if isinstance(value, dict) and all(str(k).startswith(KEY_PREFIX) for k in value):
        value = list(value.values()) if value else value
    if isinstance(value, str):
        text = repr(value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def strip_empty(value: JSON) -> JSON:
    """`value` without its zero-valued members (what is left is what was really written)."""
    return normalise(value, None)
