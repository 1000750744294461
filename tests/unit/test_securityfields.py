"""The securityContext field tables agree with Kubernetes and with the chart's values schema.

Kubernetes' own answer is the Python client's models (generated from the API's OpenAPI); the
chart's values.schema.json refuses the same baselines at `helm install`, so the two checks of
one baseline can never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from admission.core import securityfields
from admission.core.securityfields import BOOL, INT, STRING, Enum, Kind, ListOf, Struct

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "charts/argo-admission/values.schema.json").read_text())
LEVELS = {
    "pod": (securityfields.POD_SECURITY_CONTEXT, client.V1PodSecurityContext),
    "container": (securityfields.SECURITY_CONTEXT, client.V1SecurityContext),
}
SCALARS = {"bool": BOOL, "int": INT, "str": STRING}


def client_shape(type_name: str) -> Any:
    """A Kubernetes client type written in the tables' terms (enums as plain strings)."""
    if type_name in SCALARS:
        return SCALARS[type_name]
    if type_name.startswith("List["):
        return ("list", client_shape(type_name[5:-1]))
    model = getattr(client, type_name)
    return {
        json_name: client_shape(model.openapi_types[attr])
        for attr, json_name in model.attribute_map.items()
    }


def table_shape(kind: Kind) -> Any:
    if isinstance(kind, Struct):
        return {name: table_shape(item) for name, item in kind.fields.items()}
    if isinstance(kind, ListOf):
        return ("list", table_shape(kind.item))
    if isinstance(kind, Enum):
        return STRING
    return kind


@pytest.mark.parametrize("level", LEVELS)
def test_the_fields_are_kubernetes_own(level: str) -> None:
    table, model = LEVELS[level]
    assert table_shape(table) == client_shape(model.__name__)


def schema_shape(schema: dict[str, Any]) -> Any:
    """A values.schema.json subschema in the tables' terms, enums and required fields kept."""
    kind = schema.get("type")
    if kind == "object":
        fields = {name: schema_shape(sub) for name, sub in schema["properties"].items()}
        assert schema.get("additionalProperties") is False, "the schema refuses unknown keys"
        return ("struct", fields, tuple(sorted(schema.get("required", ()))))
    if kind == "array":
        return ("list", schema_shape(schema["items"]))
    if "enum" in schema:
        return ("enum", tuple(sorted(schema["enum"])))
    return kind


def table_schema_shape(kind: Kind) -> Any:
    if isinstance(kind, Struct):
        fields = {name: table_schema_shape(item) for name, item in kind.fields.items()}
        return ("struct", fields, tuple(sorted(kind.required)))
    if isinstance(kind, ListOf):
        return ("list", table_schema_shape(kind.item))
    if isinstance(kind, Enum):
        return ("enum", tuple(sorted(kind.values)))
    return kind


@pytest.mark.parametrize("level", LEVELS)
def test_the_chart_schema_refuses_what_the_loader_refuses(level: str) -> None:
    baseline = SCHEMA["properties"]["policy"]["properties"]["securityContext"]["properties"][level]
    table, _ = LEVELS[level]
    assert schema_shape(baseline) == table_schema_shape(table)
