"""Kubernetes' strategic merge patch over plain dicts, typed by admission/core/merge/gotypes.py.

A list with a merge key merges element by element, in the order Go's implementation leaves
them; any other list is replaced; maps merge recursively; a null in the patch deletes. Both
sides must be Go-marshalled JSON (admission/core/merge/gojson.py). Pure; no I/O.

Mirrors k8s.io/apimachinery/pkg/util/strategicpatch/patch.go: mergeMap, mergeSlice
(IgnoreUnmatchedNulls), normalizeElementOrder, deduplicateScalars.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from admission.core.merge.gojson import strip_nulls
from admission.core.merge.gotypes import FIELDS, JSON, MergeError


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
        return strip_nulls(clone(patch))
    return merge_map(clone(original), clone(patch), type_name)


def merge_map(original: dict[str, JSON], patch: dict[str, JSON], type_name: str | None) -> JSON:
    """strategic_merge of maps the caller owns: `original` is changed in place and returned."""
    fields = FIELDS.get(type_name or "", {})
    for key, patch_value in patch.items():
        if patch_value is None:
            original.pop(key, None)  # IgnoreUnmatchedNulls: a null deletes, and is not kept
            continue
        if key not in original or type(original[key]) is not type(patch_value):
            original[key] = strip_nulls(patch_value)
            continue
        child_type, merge_key = fields.get(key, (None, None))
        current = original[key]
        if isinstance(current, dict):
            original[key] = merge_map(current, patch_value, child_type)
        elif isinstance(current, list) and merge_key is not None:
            original[key] = _merge_list(current, patch_value, child_type, merge_key, key)
        else:
            original[key] = strip_nulls(patch_value)
    return original


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
            merged.append(strip_nulls(item))
        else:
            merged[first[key]] = merge_map(merged[first[key]], item, type_name)
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
