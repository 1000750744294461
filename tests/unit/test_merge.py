"""Argo's spec joining, case by case: tests/fixtures/merge/<case>/.

Each case holds workflow.yaml, optional template.yaml and defaults.yaml, case.yaml (where the
case comes from; `op: join|defaults`, `sanitize`) and expected.yaml: the answer of Argo's own Go
code (tests/oracle), regenerated only with UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from admission.core.merge import (
    DEFAULT_OVERRIDE_ALLOWLIST,
    MergeError,
    apply_workflow_defaults,
    join_workflow_spec,
    sanitize_user_spec,
)
from support import FIXTURES, MergeOracle, assert_same, load_yaml

CASES_DIR = FIXTURES / "merge"
CASE_FILES = {"case.yaml", "workflow.yaml", "template.yaml", "defaults.yaml", "expected.yaml"}
CASES = sorted(p for p in CASES_DIR.iterdir() if p.is_dir())


def read_case(folder: Path) -> dict[str, Any]:
    """The inputs of one case."""

    def optional(name: str) -> Any:
        path = folder / name
        return load_yaml(path) if path.exists() else None

    return {
        "meta": load_yaml(folder / "case.yaml"),
        "workflow": load_yaml(folder / "workflow.yaml"),
        "template": optional("template.yaml"),
        "defaults": optional("defaults.yaml"),
    }


def ours(case: dict[str, Any]) -> dict[str, Any]:
    """argo-admission's answer, in the oracle's shape."""
    meta, workflow = case["meta"], case["workflow"]
    try:
        if meta.get("op") == "defaults":
            return {"workflow": apply_workflow_defaults(workflow, case["defaults"])}
        spec = workflow.get("spec") or {}
        if meta.get("sanitize"):
            spec = sanitize_user_spec(spec, DEFAULT_OVERRIDE_ALLOWLIST)
        template = (case["template"] or {}).get("spec") if case["template"] else None
        defaults = (case["defaults"] or {}).get("spec") if case["defaults"] else None
        return {"spec": join_workflow_spec(spec, template, defaults)}
    except MergeError as exc:
        return {"error": str(exc)}


def oracle_request(case: dict[str, Any]) -> dict[str, Any]:
    """The same question for Argo's code."""
    meta = case["meta"]
    if meta.get("op") == "defaults":
        return {"op": "defaults", "workflow": case["workflow"], "defaults": case["defaults"]}
    return {
        "op": "join",
        "workflow": case["workflow"].get("spec") or {},
        "template": (case["template"] or {}).get("spec"),
        "defaults": (case["defaults"] or {}).get("spec"),
        "sanitize": bool(meta.get("sanitize")),
    }


@pytest.mark.parametrize("folder", CASES, ids=[c.name for c in CASES])
def test_merge_case_matches_argo(folder: Path) -> None:
    """Our join equals the answer Argo's code gave for this case."""
    expected = folder / "expected.yaml"
    assert expected.exists(), f"{folder.name}: no expected.yaml (UPDATE_GOLDEN=1 with the oracle)"
    assert_same(ours(read_case(folder)), load_yaml(expected))


@pytest.mark.parametrize("folder", CASES, ids=[c.name for c in CASES])
def test_merge_case_expected_is_argos_answer(folder: Path, merge_oracle: MergeOracle) -> None:
    """expected.yaml is what Argo's JoinWorkflowSpec/MergeTo answer today."""
    case = read_case(folder)
    answer = merge_oracle.ask(**oracle_request(case))
    path = folder / "expected.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(yaml.safe_dump(answer, sort_keys=True), encoding="utf-8")
    assert_same(answer, load_yaml(path))


def test_every_merge_case_file_is_read() -> None:
    """No stray files: a fixture nobody reads is a test that silently stopped running."""
    for folder in CASES:
        names = {p.name for p in folder.iterdir()}
        assert names <= CASE_FILES, f"{folder.name}: unexpected {sorted(names - CASE_FILES)}"
        assert {"case.yaml", "workflow.yaml"} <= names, folder.name
        assert load_yaml(folder / "case.yaml").get("source"), (
            f"{folder.name}: case.yaml needs source"
        )
    assert not [p for p in CASES_DIR.iterdir() if p.is_file()], "files outside case folders"
