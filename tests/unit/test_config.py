"""The policy file: every shipped policy loads; bad files fail whole, with key paths.

Most cases are data (tests/fixtures/config/): refused policies with their exact errors, accepted
ones with what they configure, and the files `merge --defaults` accepts or refuses.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from admission.core.config import (
    Config,
    ConfigError,
    DefaultsError,
    NoPolicyError,
    enforces_nothing,
)
from admission.core.controllerconfig import overlay
from admission.core.policyfile import NO_DEFAULTS, parse_config
from admission.files.policy import load_config, load_workflow_defaults
from support import load_yaml

ROOT = Path(__file__).resolve().parents[2]
POLICIES = sorted((ROOT / "policies").glob("*.yaml"))


@pytest.mark.parametrize("path", POLICIES, ids=[p.name for p in POLICIES])
def test_every_shipped_policy_loads_and_says_what_it_is(path: Path) -> None:
    config = load_config(path)
    assert path.read_text().startswith("#"), "each policy starts with a header comment"
    assert config.source == str(path)


def test_default_policy_is_secure_and_exempts_argos_quickstart_controller() -> None:
    config = load_config(ROOT / "policies/default.yaml")
    assert config.secure and config.strict
    assert "system:serviceaccount:argo:argo" in config.exemptions.users


def test_a_bad_policy_reports_every_error_with_its_key_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            """
workflowRestrictions: {templateReferencing: strict}
mode: block
exemptions: {namespaces: kube-system, serviceAccounts: [argo], nobody: []}
templateLibrary: {selector: {matchExpressions: [{key: a, operator: In}]}}
overrideAllowlist: [podSpecPatch, notAField]
workflowDefaults: {spec: {bogus: 1}}
mutation: {refDefaults: [serviceAccountName]}
extra: 1
""",
            source="bad.yaml",
        )
    text = str(err.value)
    for expected in (
        "workflowRestrictions.templateReferencing: 'strict' is not one of '', 'Strict', 'Secure'",
        "mode: 'block' is not one of",
        "exemptions.namespaces: must be a list of strings",
        "exemptions.serviceAccounts: 'argo' must be NAMESPACE/NAME",
        "exemptions.nobody: unknown key",
        "templateLibrary.selector.matchExpressions[0].values: required for operator In",
        "overrideAllowlist: 'notAField' is not a WorkflowSpec field name",
        "workflowDefaults.spec.bogus: not a WorkflowSpec field",
        "mutation.refDefaults: 'serviceAccountName' cannot be set beside a ref",
        "extra: unknown key",
    ):
        assert expected in text, (expected, text)
    assert len(err.value.errors) == 10


def test_invalid_yaml_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("a: [b", source="x")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_the_workflow_controller_configmap_is_read_like_the_controller_reads_it() -> None:
    config = parse_config(
        """
apiVersion: v1
kind: ConfigMap
metadata: {name: workflow-controller-configmap, namespace: argo}
data:
  workflowRestrictions: |
    templateReferencing: Secure
  workflowDefaults: |
    metadata:
      labels: {team: data}
    spec:
      ttlStrategy: {secondsAfterCompletion: 60}
      archiveLogs: on
"""
    )
    assert config.secure
    assert config.workflow_defaults["spec"]["ttlStrategy"] == {"secondsAfterCompletion": 60}
    assert (
        config.workflow_defaults["spec"]["archiveLogs"] is True
    )  # YAML 1.1, as Go's yaml reads it
    assert config.workflow_defaults["metadata"]["labels"] == {"team": "data"}


def test_the_legacy_config_key_of_the_configmap_is_read() -> None:
    config = parse_config(
        """
kind: ConfigMap
data:
  config: |
    workflowRestrictions:
      templateReferencing: Strict
"""
    )
    assert config.strict and not config.secure


def test_a_configmap_value_that_is_not_a_string_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"data\.workflowRestrictions: must be a YAML string"):
        parse_config("kind: ConfigMap\ndata: {workflowRestrictions: {templateReferencing: Strict}}")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "policy.yaml: no policy in it (expected at least one of controllerInstanceIDs, "),
        ("{}", "policy.yaml: no policy in it"),
        ("metadata: {name: x}", "policy.yaml: no policy in it"),
        (
            "kind: ConfigMap\ndata: {other.yaml: 'x: 1'}",
            "policy.yaml: a ConfigMap with no policy in it (data.other.yaml); expected Argo's "
            "workflow-controller ConfigMap (data.workflowRestrictions, data.workflowDefaults or "
            "data.config) or the chart's policy ConfigMap (data.policy.yaml)",
        ),
        ("kind: ConfigMap", "policy.yaml: a ConfigMap with no policy in it (no data)"),
    ],
    ids=["empty file", "empty mapping", "no policy key", "another ConfigMap", "no data"],
)
def test_a_file_or_configmap_without_any_policy_key_is_refused_in_one_line(
    text: str, error: str
) -> None:
    """Read as "no policy", it would enforce nothing and say nothing."""
    with pytest.raises(NoPolicyError) as err:
        parse_config(text, source="policy.yaml")
    assert str(err.value).startswith(error) and "\n" not in str(err.value)


def test_argos_configmap_without_the_keys_is_no_restriction_where_the_server_watches_it() -> None:
    """To Argo's controller a ConfigMap without workflowRestrictions restricts nothing."""
    config = overlay(Config(), {"executor": "x: 1"}, source="argo/workflow-controller-configmap")
    assert not config.strict


def test_the_charts_policy_configmap_is_read_as_the_policy_it_holds() -> None:
    strict = (ROOT / "policies/strict.yaml").read_text()
    manifest = yaml.safe_dump({"kind": "ConfigMap", "data": {"policy.yaml": strict}})
    config = parse_config(manifest, source="cm.yaml")
    assert config.strict and config.source == "cm.yaml (data.policy.yaml)"
    with pytest.raises(ConfigError, match=r"holds both policy\.yaml"):
        parse_config(
            yaml.safe_dump(
                {"kind": "ConfigMap", "data": {"policy.yaml": strict, "workflowDefaults": "{}"}}
            )
        )


def test_a_policy_that_enforces_nothing_is_named_so() -> None:
    idle = parse_config("mode: enforce", source="idle.yaml")
    assert enforces_nothing(idle).startswith("policy idle.yaml enforces nothing:")
    assert not enforces_nothing(load_config(ROOT / "policies/strict.yaml"))
    assert not enforces_nothing(load_config(ROOT / "policies/default.yaml"))
    baseline = parse_config("securityContext: {pod: {runAsNonRoot: true}}")
    assert not enforces_nothing(baseline)
    off = parse_config("securityContext: {mode: 'off', pod: {runAsNonRoot: true}}")
    assert enforces_nothing(off)


# --- tests as data: tests/fixtures/config/ ---------------------------------------------------

CONFIG_CASES = ROOT / "tests/fixtures/config"
REFUSED = load_yaml(CONFIG_CASES / "refused.yaml")
ACCEPTED = load_yaml(CONFIG_CASES / "accepted.yaml")
DEFAULTS = load_yaml(CONFIG_CASES / "defaults.yaml")


def by_name(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[case["name"] for case in cases])


@by_name(REFUSED)
def test_a_refused_policy_reports_exactly_its_errors(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(case["policy"], source=f"{case['name']}.yaml")
    assert err.value.errors == case["errors"], case["why"]


def attribute(config: Any, dotted: str) -> Any:
    """config.a.b, where dicts are entered by key; sets compare as sorted lists."""
    value = config
    for part in dotted.split("."):
        value = value[part] if isinstance(value, Mapping) else getattr(value, part)
    return sorted(value) if isinstance(value, frozenset) else value


@by_name(ACCEPTED)
def test_an_accepted_policy_configures_what_it_says(case: dict[str, Any]) -> None:
    config = parse_config(case["policy"])
    for dotted, expected in case["expect"].items():
        assert attribute(config, dotted) == expected, (dotted, case["why"])


@by_name(DEFAULTS)
def test_merge_defaults_files_give_their_workflow_defaults_or_say_why_not(
    case: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text(case["file"])
    if "defaults" in case:
        assert load_workflow_defaults(path) == case["defaults"], case["why"]
        return
    with pytest.raises(ConfigError) as err:
        load_workflow_defaults(path)
    if "error" in case:
        assert isinstance(err.value, DefaultsError)
        assert str(err.value) == f"{path}: {case['error']}", case["why"]
    else:
        assert err.value.errors == case["errors"], case["why"]


def test_merge_refuses_defaults_without_workflow_defaults_in_one_line(tmp_path: Path) -> None:
    configmap = tmp_path / "cm.yaml"
    configmap.write_text(
        "kind: ConfigMap\ndata: {workflowRestrictions: 'templateReferencing: Strict'}"
    )
    workflow = ROOT / "tests/fixtures/merge/defaults-plain-workflow/workflow.yaml"
    argv = ["merge", "--workflow", str(workflow), "--defaults", str(configmap)]
    result = subprocess.run(
        [sys.executable, "-m", "admission.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: {configmap}: {NO_DEFAULTS}\n"
