"""Go's JSON round trip: a spec as the controller writes it back after reading it into its types.

Go's encoding/json matches keys case-insensitively and drops unknown ones, reads null as a zero
value, refuses a value of the wrong JSON type, and on writing omits `omitempty` zeros but writes
the fields without the tag. Values whose Go type writes another spelling (Quantity, AnyString,
IntOrString) are read and written as Go does by admission/core/govalues.py. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from admission.core.goreading import kept_when_empty
from admission.core.govalues import (
    OMITTED_WHEN_EMPTY,
    VALUE_FIELDS,
    VALUE_KINDS,
    GoValueError,
    map_value_type,
    read_value,
)
from admission.core.merge.gotypes import (
    ALWAYS_EMITTED,
    FIELDS,
    JSON,
    KEPT_EMPTY_STRINGS,
    MAP_FIELDS,
    PLAIN_BOOLS,
    WORKFLOW_SPEC_FIELDS,
    MergeError,
)


def go_roundtrip(value: JSON, type_name: str | None = "WorkflowSpec") -> JSON:
    """Return `value` as Argo's controller would re-marshal it after reading it into its types.

    Nulls become zero values (dropped), `$`-directives are not fields and vanish, Quantities,
    AnyStrings and IntOrStrings take the form Go writes (MergeError where Go cannot read them),
    and the few fields Go writes even when zero are written.
    """
    if isinstance(value, dict):
        return roundtrip_map(value, type_name)
    if isinstance(value, list):
        return [go_roundtrip(item, type_name) for item in value if item is not None]
    return value


def roundtrip_map(value: Mapping[str, JSON], type_name: str | None) -> dict[str, JSON]:
    """A map of Go type `type_name` as Go writes it back (go_roundtrip of a map)."""
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
        return roundtrip_map(item, field_type)
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
        return not value and not kept_when_empty(type_name, key)
    if isinstance(value, dict):
        return not value and key in MAP_FIELDS
    if value == "" and isinstance(value, str):
        return key not in ALWAYS_EMITTED.get(type_name or "", {}) and key not in KEPT_EMPTY_STRINGS
    return value is False and key in PLAIN_BOOLS


def strip_nulls(value: JSON) -> JSON:
    """Drop null members recursively: what a Go reader makes of explicit nulls.

    The strategic merge uses it for what a patch adds whole (IgnoreUnmatchedNulls: a null
    deletes and is never kept), mutation for the baseline it writes, `is_set` for a struct.
    """
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value
