"""Go's zero values read field by field, as Argo's types read them: one reading for every rule.

A Go client marshals every field of a struct: one without `omitempty` is written even when it
holds its zero value (`failed: 0`, `phase: ""`, `active: null`), one with it is left out. What
the controller reads back is the same either way, so a rule comparing what was written must read
null, 0, "", false, [] and {} as "unset" where the field's Go type makes them so, and no further:
a struct pointer set to `{}` is set, and an empty list in a field without `omitempty` is a value
Go writes and Argo's strategic-merge join uses (`metrics.prometheus: []` replaces the template's
list). The field table is admission/core/gofields.py, generated from Argo's own Go types.
Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from admission.core.gofields import TYPES

JSON = Any


# The merge and diff tables name a few of Argo's types by their role, not their Go name.
GO_NAMES: Final = {"DAG": "DAGTemplate", "Script": "ScriptTemplate"}


def field_of(type_name: str | None, name: str) -> tuple[str, bool, str] | None:
    """(kind, omitempty, held type) of a field of one of Argo's types, or None if unknown."""
    if type_name is None:
        return None
    return TYPES.get(GO_NAMES.get(type_name, type_name), {}).get(name)


def is_zero(kind: str, value: JSON, held: str = "") -> bool:
    """Whether `value`, read into a field of `kind` holding `held`, is Go's zero value.

    A pointer is zero only when null: `{}` behind a pointer is a set, empty struct.
    """
    if value is None:
        return True
    if kind == "string":
        return bool(value == "")
    if kind == "bool":
        return value is False
    if kind == "number":
        return not isinstance(value, bool) and bool(value == 0)
    if kind in ("slice", "map"):
        return value in ([], {})
    if kind == "struct":
        return isinstance(value, Mapping) and not read_set(held, value)
    if kind == "value":
        return bool(value == "")  # metav1.Time's zero is written as null; "" reads the same
    return False


def read_set(type_name: str, value: Mapping[str, JSON]) -> dict[str, JSON]:
    """The members of an object of Go type `type_name` that hold more than Go's zero value.

    Nested structs of Argo's types are read the same way; unknown members are kept as written
    (Go would drop them, but a rule should see what a client tried to write).
    """
    out: dict[str, JSON] = {}
    fields = TYPES.get(type_name, {})
    for name, item in value.items():
        entry = fields.get(name)
        if entry is None:
            if item is not None:
                out[name] = item
            continue
        kind, _, held = entry
        if is_zero(kind, item, held):
            continue
        if isinstance(item, Mapping) and kind in ("struct", "ptr") and held in TYPES:
            item = read_set(held, item)
        out[name] = item
    return out


def same(type_name: str, left: JSON, right: JSON) -> bool:
    """Whether two objects of Go type `type_name` hold the same values as Go reads them."""
    if left == right:
        return True
    return read_set(type_name, _object(left)) == read_set(type_name, _object(right))


def changed_fields(type_name: str, left: JSON, right: JSON) -> list[str]:
    """The top-level fields whose values differ as Go reads them, sorted."""
    before, after = read_set(type_name, _object(left)), read_set(type_name, _object(right))
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def kept_when_empty(type_name: str | None, name: str) -> bool:
    """Whether Go writes an empty list or map in this field (no `omitempty`): `[]` is a value."""
    entry = field_of(type_name, name)
    return entry is not None and entry[0] in ("slice", "map") and not entry[1]


def _object(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}
