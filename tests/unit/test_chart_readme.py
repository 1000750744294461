"""The chart's values are documented once, in values.yaml, and the READMEs are generated from it.

charts/argo-admission/gen-readme.py renders README.md.gotmpl with the values table helm-docs
would render (`helm-docs --sort-values-order file` gives the same file), and the few rows the
project README shows. These tests fail when a README was edited by hand or values.yaml changed
without regenerating, when a value has no description, or when a README documents a key the
values schema refuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from support import load_script

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts/argo-admission"


GEN = load_script("gen_readme", CHART / "gen-readme.py")
TABLE = GEN.Table((CHART / "values.yaml").read_text())
ROWS = {row.key: row for row in TABLE.rows}


def test_the_committed_readmes_are_the_generated_ones() -> None:
    for path, text in GEN.outputs().items():
        assert path.read_text() == text, f"{path} is stale: run charts/argo-admission/gen-readme.py"


def leaves(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every scalar, empty map and list in the values."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in leaves(v, f"{prefix}.{k}" if prefix else k)]
    return [prefix]


def test_every_value_is_described_by_its_own_row_or_a_documented_map() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in leaves(values):
        parts = path.split(".")
        owners = [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
        row = next((ROWS[o] for o in owners if o in ROWS), None)
        assert row is not None, f"{path} has no `# --` comment, nor a documented map above it"
        assert row.description, f"{row.key} has an empty description"


def schema_has(schema: dict[str, Any], key: str) -> bool:
    for part in key.split("."):
        if schema.get("type") != "object" or "properties" not in schema:
            return True  # a free-form map (or a list): its keys are the user's
        if part not in schema["properties"]:
            return False
        schema = schema["properties"][part]
    return True


def test_no_readme_row_names_a_key_the_schema_refuses() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    refused = [key for key in ROWS if "[" not in key and not schema_has(schema, key)]
    assert not refused, refused


def test_the_project_readme_shows_rows_of_the_table() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = list(GEN.BLOCK.finditer(text))
    assert blocks, "the project README's values block is gone"
    for block in blocks:
        for key in block["keys"].split():
            assert ROWS[key].markdown() in block[0]
