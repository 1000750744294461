#!/usr/bin/env python3
"""Write the chart's values.schema.json from values.schema.yaml, values.yaml and securityfields.py.

values.schema.yaml holds what only a schema can say (types, enums, patterns, bounds, which keys
exist). The rest is generated, so it is written once:
- every `description` is the `# --` comment of the same key in values.yaml (the text the chart
  README shows, see gen-readme.py);
- a subtree marked `x-generated: NAME` is Kubernetes' struct NAME as stated in
  admission/core/securityfields.py, the table the policy loader checks a baseline against;
- a block marked `x-kubernetes: true` is Kubernetes' own (resources, probes, affinity, selectors):
  an object passed through, validated by the API server, as cert-manager's chart does.

    charts/argo-admission/gen-schema.py           # rewrite values.schema.json
    charts/argo-admission/gen-schema.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent
SOURCE = CHART / "values.schema.yaml"
TARGET = CHART / "values.schema.json"
PASSED_THROUGH = "A Kubernetes object, passed through as is; the API server validates it."


def sibling(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, CHART / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def struct_schema(kind: Any) -> dict[str, Any]:
    """A securityfields kind as JSON schema: unknown keys refused, ids never negative."""
    from admission.core import securityfields as sf

    if isinstance(kind, sf.Struct):
        out: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: struct_schema(item) for name, item in kind.fields.items()},
        }
        if kind.required:
            out["required"] = list(kind.required)
        return out
    if isinstance(kind, sf.ListOf):
        return {"type": "array", "items": struct_schema(kind.item)}
    if isinstance(kind, sf.Enum):
        return {"type": "string", "enum": list(kind.values)}
    return {"type": kind, "minimum": 0} if kind == sf.INT else {"type": kind}


def generated(name: str) -> dict[str, Any]:
    from admission.core import securityfields as sf

    structs = {s.name: s for s in (sf.POD_SECURITY_CONTEXT, sf.SECURITY_CONTEXT)}
    if name not in structs:
        raise SystemExit(f"values.schema.yaml: x-generated {name!r} is not a securityfields struct")
    return struct_schema(structs[name])


def expand(node: Any) -> Any:
    """The source node with its markers replaced by what they stand for."""
    if not isinstance(node, dict):
        return node
    if "x-generated" in node:
        return generated(node["x-generated"])
    out = {k: expand(v) for k, v in node.items() if k != "x-kubernetes"}
    if node.get("x-kubernetes"):
        out.setdefault("description", PASSED_THROUGH)
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: expand(v) for k, v in node["properties"].items()}
    return out


def find(schema: dict[str, Any], key: str) -> tuple[bool, dict[str, Any] | None]:
    """(known, subschema) of a values table key (`a.b`, `a.list[0]`, `a."x.y"`): known is False
    when the schema refuses the key; the subschema is None under a free-form object or list."""
    node: dict[str, Any] = schema
    for part in re.findall(r'"[^"]+"|\[\d+\]|[^.\[\]]+', key):
        if part.startswith("["):
            child = node.get("items")
        elif "properties" in node:
            child = node["properties"].get(part.strip('"'))
            if child is None:
                return False, None
        else:
            child = None
        if not isinstance(child, dict):
            return True, None  # the user's own keys: nothing to describe
        node = child
    return True, node


def schema_text() -> str:
    """values.schema.json as it should be."""
    source = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    schema = expand(source)
    schema["description"] = "Values of the argo-admission chart; see its README for each key."
    table = sibling("gen_readme", "gen-readme.py").Table(
        (CHART / "values.yaml").read_text(encoding="utf-8")
    )
    for row in table.rows:
        known, node = find(schema, row.key)
        if not known:
            raise SystemExit(f"values.yaml has {row.key}, which values.schema.yaml lacks")
        if node is not None and row.description:
            node["description"] = row.description
    return json.dumps(order(schema), indent=2, ensure_ascii=False) + "\n"


def order(node: Any) -> Any:
    """description first in every subschema, the rest as the source has it."""
    if isinstance(node, list):
        return [order(v) for v in node]
    if not isinstance(node, dict):
        return node
    head = {"description": node["description"]} if "description" in node else {}
    return {**head, **{k: order(v) for k, v in node.items() if k != "description"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") == text
        if not current:
            print(f"{TARGET} is out of date: run {Path(__file__).name}", file=sys.stderr)
        return 0 if current else 1
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
