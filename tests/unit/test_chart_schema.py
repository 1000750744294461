"""The chart's values.schema.json is generated (charts/argo-admission/gen-schema.py): its types
from values.schema.yaml, its descriptions from values.yaml's `# --` comments, its baseline
subtrees from admission/core/securityfields.py. Kubernetes' own blocks pass through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from support import load_script

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts/argo-admission"


GEN = load_script("gen_schema", CHART / "gen-schema.py")
SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))


def test_the_committed_schema_is_the_generated_one() -> None:
    assert (CHART / "values.schema.json").read_text(encoding="utf-8") == GEN.schema_text(), (
        "run charts/argo-admission/gen-schema.py"
    )


def test_every_description_is_the_values_comment_of_its_key() -> None:
    table = GEN.sibling("gen_readme", "gen-readme.py").Table((CHART / "values.yaml").read_text())
    described = 0
    for row in table.rows:
        _, node = GEN.find(SCHEMA, row.key)
        if node is not None and row.description:
            assert node["description"] == row.description, row.key
            described += 1
    assert described > 100


def test_a_key_values_yaml_has_and_the_source_lacks_stops_the_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    del source["properties"]["server"]["properties"]["replicas"]
    lacking = tmp_path / "values.schema.yaml"
    lacking.write_text(yaml.safe_dump(source))
    monkeypatch.setattr(GEN, "SOURCE", lacking)
    with pytest.raises(SystemExit, match=r"server\.replicas, which values\.schema\.yaml lacks"):
        GEN.schema_text()


def test_kubernetes_blocks_pass_through_and_our_own_keys_stay_strict() -> None:
    server = SCHEMA["properties"]["server"]["properties"]
    resources = server["resources"]
    assert resources["additionalProperties"] is False  # `limit` (a typo) is refused
    assert "properties" not in resources["properties"]["limits"]  # hugepages-2Mi is not
    for block in ("podSecurityContext", "securityContext", "affinity", "readinessProbe"):
        assert server[block]["type"] == "object" and "properties" not in server[block], block


def test_the_baseline_subtrees_come_from_securityfields() -> None:
    from admission.core import securityfields

    baseline = SCHEMA["properties"]["policy"]["properties"]["securityContext"]["properties"]
    assert set(baseline["pod"]["properties"]) == set(securityfields.POD_SECURITY_CONTEXT.fields)
    assert set(baseline["container"]["properties"]) == set(securityfields.SECURITY_CONTEXT.fields)
