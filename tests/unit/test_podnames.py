"""Argo's node IDs and pod names (workflow/util/pod_name.go GeneratePodName, Workflow.NodeID)."""

from __future__ import annotations

import pytest

from admission.core.podnames import (
    MAX_PREFIX,
    V1,
    agent_pod_name,
    fnv32a,
    node_id,
    node_pod_name,
    pod_name,
    pod_name_version,
)


def test_fnv32a_matches_the_published_test_vectors() -> None:
    # FNV-1a 32 of "" and "a" (the reference vectors of the FNV specification).
    assert fnv32a("") == 0x811C9DC5
    assert fnv32a("a") == 0xE40C292C


def test_a_v2_pod_name_is_the_workflow_the_template_and_the_hash_of_the_node_name() -> None:
    assert pod_name("wf", "wf[0].scan", "scan") == f"wf-scan-{fnv32a('wf[0].scan')}"


def test_a_v2_pod_name_without_a_template_has_no_template_part() -> None:
    assert pod_name("wf", "wf[1].ship", "") == f"wf-{fnv32a('wf[1].ship')}"


def test_the_root_nodes_pod_is_named_after_the_workflow_in_both_versions() -> None:
    assert pod_name("wf", "wf", "main") == "wf"
    assert pod_name("wf", "wf", "main", V1) == "wf"


def test_a_v1_pod_name_is_the_node_id() -> None:
    assert pod_name("wf", "wf[0].scan", "scan", V1) == node_id("wf", "wf[0].scan")


def test_a_long_prefix_is_cut_before_the_hash() -> None:
    name = pod_name("w" * 300, "x", "t")
    assert name == "w" * MAX_PREFIX + f"-{fnv32a('x')}"


@pytest.mark.parametrize(
    ("annotations", "version"),
    [
        ({}, "v2"),
        ({"workflows.argoproj.io/pod-name-format": "v1"}, "v1"),
        ({"workflows.argoproj.io/pod-name-format": "v9"}, "v2"),
    ],
)
def test_the_pod_name_version_is_the_workflows_annotation(
    annotations: dict[str, str], version: str
) -> None:
    assert pod_name_version({"metadata": {"annotations": annotations}}) == version


def test_a_node_with_a_template_ref_names_its_pod_after_the_referenced_template() -> None:
    node = {
        "name": "wf[0].a",
        "templateName": "local",
        "templateRef": {"name": "lib", "template": "scan"},
    }
    assert node_pod_name({"metadata": {"name": "wf"}}, node) == f"wf-scan-{fnv32a('wf[0].a')}"


def test_the_agent_pod_is_the_node_id_of_agent_and_a_suffix() -> None:
    assert agent_pod_name("wf") == f"wf-{fnv32a('agent')}-agent"
