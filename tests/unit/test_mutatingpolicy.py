"""The exported MutatingAdmissionPolicy as data: which of /mutate's changes it claims, when there
is nothing to export, and how the policy file maps onto it. Whether its JSONPatch stores what
the webhook's patch makes is proven on the real API server (tests/e2e/test_map_e2e.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from admission.core.config import Config, Exemptions, SecurityContextPolicy
from admission.core.mutatingpolicy import (
    CHANGES,
    change_of,
    claimed,
    literal,
    policy_objects,
    webhook_condition,
    why_not,
)
from admission.core.webhook import handle
from admission.files.templates import FileTemplateSource
from suitecases import SUITES, USERNAMES, USERS, case_object, suite_config
from support import FIXTURES, load_yaml, make_review, run_cli

BASELINE = SecurityContextPolicy(pod={"runAsNonRoot": True}, container={"privileged": False})
MUTATING = Config(security_context=BASELINE)


def suite_changes() -> set[str]:
    """The CHANGES entry of every operation of every patch /mutate makes in the suites."""
    seen = set()
    for path in SUITES:
        suite = load_yaml(path)
        config = dataclasses.replace(suite_config(suite), mode="enforce")
        source = FileTemplateSource.from_paths(FIXTURES / p for p in suite.get("templates", []))
        for case in suite["cases"]:
            obj = case_object(case) if "object" in case or "change" in case else None
            if case.get("endpoint") != "mutate" or not isinstance(obj, dict):
                continue
            user = case.get("user", "alice")
            review = make_review(
                obj,
                namespace=case.get("namespace", "team-a"),
                operation=case.get("operation", "CREATE"),
                old=case.get("old"),
                username=USERNAMES.get(user, user),
                groups=case.get("groups", USERS.get(user, ["system:authenticated"])),
            )
            decision = handle(review, endpoint="mutate", config=config, templates=source).decision
            ops = decision.patch
            spec = obj.get("spec") or {}
            spec = spec.get("workflowSpec") or {} if obj["kind"] == "CronWorkflow" else spec
            ref = isinstance(spec, dict) and spec.get("workflowTemplateRef") is not None
            seen |= {change_of(obj["kind"], op["path"], ref=ref) for op in ops}
    return seen


def test_every_change_the_webhook_makes_is_in_the_table_and_every_entry_is_made() -> None:
    """A new kind of change fails here until CHANGES says who makes it; an entry no suite
    patch makes is a claim nothing checks."""
    seen = suite_changes()
    assert seen - set(CHANGES) == set(), sorted(seen - set(CHANGES))
    assert set(CHANGES) - seen == set(), sorted(set(CHANGES) - seen)
    assert all(reason.strip() for reason in CHANGES.values())


def test_the_policy_claims_exactly_the_changes_the_table_says_cel() -> None:
    everything = claimed(MUTATING)
    assert everything == {c for c, why in CHANGES.items() if why.startswith("cel")}
    with_defaults = dataclasses.replace(MUTATING, workflow_defaults={"spec": {"podGC": {}}})
    assert claimed(with_defaults) == {"baseline on a template"}


@pytest.mark.parametrize("mode", ["warn", "audit"])
def test_warn_and_audit_modes_export_nothing_as_the_webhook_patches_nothing(mode: str) -> None:
    config = dataclasses.replace(MUTATING, mode=mode)
    assert f"mode: {mode}" in why_not(config)
    assert claimed(config) == frozenset()
    assert "patches nothing" in why_not(config)
    assert policy_objects(config) == []


@pytest.mark.parametrize(
    "baseline",
    [
        SecurityContextPolicy(mode="off", pod={"runAsNonRoot": True}),
        SecurityContextPolicy(mode="require", pod={"runAsNonRoot": True}),
        SecurityContextPolicy(),
    ],
)
def test_a_policy_without_a_baseline_to_mutate_in_exports_nothing(
    baseline: SecurityContextPolicy,
) -> None:
    assert "no baseline" in why_not(Config(security_context=baseline))
    assert policy_objects(Config(security_context=baseline)) == []


def test_workflows_are_matched_only_while_workflow_defaults_is_empty() -> None:
    """With workflowDefaults the webhook joins them first and the baseline fills the join."""

    def matched(config: Config) -> list[tuple[list[str], list[str]]]:
        rules = policy_objects(config)[0]["spec"]["matchConstraints"]["resourceRules"]
        return [(r["resources"], r["operations"]) for r in rules]

    templates = (["workflowtemplates", "clusterworkflowtemplates"], ["CREATE"])
    assert matched(MUTATING) == [
        templates,
        (["workflows"], ["CREATE"]),
        (["cronworkflows"], ["CREATE", "UPDATE"]),
    ]
    defaults = dataclasses.replace(MUTATING, workflow_defaults={"metadata": {"labels": {"a": "b"}}})
    assert matched(defaults) == [templates]


def test_exemptions_are_match_conditions_and_a_cluster_template_has_no_namespace() -> None:
    config = dataclasses.replace(
        MUTATING,
        exemptions=Exemptions(
            namespaces=frozenset({"kube-system"}),
            users=frozenset({"system:serviceaccount:argo:argo"}),
            groups=frozenset({"admins"}),
        ),
    )
    policy, binding = policy_objects(config, name="mine")
    conditions = {c["name"]: c["expression"] for c in policy["spec"]["matchConditions"]}
    assert conditions["exempt-namespaces"].startswith("!has(request.namespace) || ")
    assert "'system:serviceaccount:argo:argo'" in conditions["exempt-identities"]
    assert "'admins'" in conditions["exempt-identities"]
    assert binding["spec"] == {"policyName": "mine"}
    assert policy["spec"]["mutations"][0]["patchType"] == "JSONPatch"
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_baseline_values_become_cel_literals_every_member_dyn() -> None:
    """The API server checks list and map literals for one element type: dyn() lets the
    baseline mix booleans, strings and maps."""
    value = {"runAsNonRoot": True, "user": 1000, "caps": {"drop": ["ALL"]}, "x": None}
    assert literal(value) == (
        "{'runAsNonRoot': dyn(true), 'user': dyn(1000), "
        "'caps': dyn({'drop': dyn([dyn('ALL')])}), 'x': dyn(null)}"
    )


def test_a_conflict_is_in_the_patch_only_for_the_baseline_fields_that_can_contradict() -> None:
    """allowPrivilegeEscalation false and runAsNonRoot true can contradict a template; a
    baseline without them patches without a condition."""
    plain = Config(security_context=SecurityContextPolicy(container={"privileged": False}))
    expression = policy_objects(plain)[0]["spec"]["mutations"][0]["jsonPatch"]["expression"]
    assert "CAP_SYS_ADMIN" not in expression
    restricted = Config(
        security_context=SecurityContextPolicy(
            pod={"runAsNonRoot": True}, container={"allowPrivilegeEscalation": False}
        )
    )
    expression = policy_objects(restricted)[0]["spec"]["mutations"][0]["jsonPatch"]["expression"]
    assert "'CAP_SYS_ADMIN' in" in expression
    assert "variables.containers.exists(x, !x[2]" in expression


def test_export_map_prints_the_policy_and_its_binding(capsys: Any) -> None:
    code, out, err = run_cli(["export", "map", "--config", "policies/restricted.yaml"], capsys)
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == [
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    ]
    assert docs[0]["apiVersion"] == "admissionregistration.k8s.io/v1"


def test_export_map_in_warn_mode_refuses_with_the_reason(capsys: Any, tmp_path: Any) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("mode: warn\n")
    code, out, err = run_cli(["export", "map", "--config", str(policy)], capsys)
    assert code == 2
    assert out == ""
    assert "export map: nothing to export: mode: warn: the webhook patches nothing" in err


def test_the_mutating_webhook_is_narrowed_only_where_the_policy_mutates_whole() -> None:
    """Nothing exported, nothing narrowed; with workflowDefaults, only template CREATEs."""
    assert webhook_condition(dataclasses.replace(MUTATING, mode="warn")) is None
    everything = webhook_condition(MUTATING)
    assert everything is not None
    assert everything["expression"].startswith("!((!has(request.subResource)")
    assert "'workflows'" in everything["expression"]
    with_defaults = dataclasses.replace(MUTATING, workflow_defaults={"spec": {"podGC": {}}})
    templates_only = webhook_condition(with_defaults)
    assert templates_only is not None
    assert "'workflows'" not in templates_only["expression"]
    assert "workflowtemplates" in templates_only["expression"]
