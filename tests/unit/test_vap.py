"""The exported ValidatingAdmissionPolicy as data: which rules it claims, how the policy file maps
onto it, and the library index. Whether its CEL decides as the webhook does is proven on the
real API server (tests/e2e/test_vap_e2e.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from admission.core.config import Config, Exemptions, LabelSelector, TemplateLibrary
from admission.core.review import Request, parse_review
from admission.core.vap import RULES, policy_objects, webhook_condition
from admission.core.vapindex import NAMESPACE_MARK, leaving, library_index
from admission.files.templates import FileTemplateSource
from admission.server import metrics
from suitecases import SUITES
from support import load_yaml, make_review, run_cli

STRICT = Config(template_referencing="Strict")


def template(name: str, namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    kind = "ClusterWorkflowTemplate" if namespace == "" else "WorkflowTemplate"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    body = {"entrypoint": "main", "templates": [{"name": "main"}], **spec}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": kind, "metadata": meta, "spec": body}


def problem_of(policy: dict[str, Any], name: str = "problem") -> str:
    """The expression of the variable that every check feeds; the plain path, the policy's
    variable, is its one matchCondition (false: the validation is never prepared)."""
    (validation,) = policy["spec"]["validations"]
    plain = next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == "plain")
    if plain != "false":
        assert policy["spec"]["matchConditions"] == [
            {"name": "not-plain", "expression": f"!({plain})"}
        ]
    assert f"variables.{name} == ''" in validation["expression"]
    return next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == name)


def test_every_rule_the_webhook_can_name_is_in_cel_or_says_why_it_needs_the_webhook() -> None:
    """A new rule fails here until it has a CEL twin or a stated reason."""
    named = set(metrics.RULES)  # every rule the policy names (tests/unit/test_metrics.py)
    assert named - set(RULES) == set(), sorted(named - set(RULES))
    assert set(RULES) - named == set(), sorted(set(RULES) - named)
    assert all(reason.strip() for reason in RULES.values())


def test_every_rule_decided_in_cel_is_refused_by_some_suite_create() -> None:
    """The e2e equivalence test sees each CEL twin refuse something, not only admit."""
    refused: set[str] = set()
    for path in SUITES:
        for case in load_yaml(path)["cases"]:
            obj = case.get("object") or {}
            creating = case.get("operation", "CREATE") == "CREATE" and "raw" not in case
            if (
                creating
                and isinstance(obj, dict)
                and obj.get("kind") in ("Workflow", "CronWorkflow")
            ):
                refused.add(case["expect"].get("rule", ""))
    in_cel = {rule for rule, why in RULES.items() if why.startswith("cel")}
    assert in_cel - refused == set(), sorted(in_cel - refused)


@pytest.mark.parametrize(
    ("mode", "actions"), [("enforce", ["Deny"]), ("warn", ["Warn"]), ("audit", ["Audit"])]
)
def test_the_mode_becomes_the_bindings_validation_actions(mode: str, actions: list[str]) -> None:
    _, binding = policy_objects(dataclasses.replace(STRICT, mode=mode))
    assert binding["spec"]["validationActions"] == actions


def test_exempt_namespaces_are_not_matched_and_the_library_is_a_param_that_must_exist() -> None:
    config = dataclasses.replace(
        STRICT,
        exemptions=Exemptions(
            namespaces=frozenset({"kube-system"}),
            users=frozenset({"system:serviceaccount:argo:argo"}),
            groups=frozenset({"admins"}),
        ),
    )
    policy, binding = policy_objects(config, library=("argo", "lib"))
    # the one matchCondition is the plain path: others would cost an activation per request
    assert [c["name"] for c in policy["spec"]["matchConditions"]] == ["not-plain"]
    assert policy["spec"]["matchConstraints"]["namespaceSelector"] == {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
        ]
    }
    assert binding["spec"]["paramRef"] == {
        "namespace": "argo",
        "name": "lib",
        "parameterNotFoundAction": "Deny",
    }
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}


def test_exempt_identities_meet_the_library_alone() -> None:
    """As the webhook: the controller's own Workflows must not run a template taken out of
    the library; nothing else is checked for them."""
    config = dataclasses.replace(
        STRICT,
        exemptions=Exemptions(
            users=frozenset({"system:serviceaccount:argo:argo"}), groups=frozenset({"admins"})
        ),
    )
    policy, _ = policy_objects(config, library=("argo", "lib"))
    (validation,) = policy["spec"]["validations"]
    assert "'system:serviceaccount:argo:argo'" in validation["expression"]
    assert "'admins'" in validation["expression"]
    checks = problem_of(policy, "libraryProblem")
    assert "[template-ref]" in checks and "variables.libEntry[3]" in checks  # the index's line
    assert "[entrypoint]" in checks and "[strict]" not in checks
    # without the index, nothing is checked for them
    policy, _ = policy_objects(config)
    (validation,) = policy["spec"]["validations"]
    assert "libraryProblem" not in validation["expression"]
    assert "? (true) :" in validation["expression"]
    problem_of(policy)


def test_without_strict_no_ref_is_required_and_no_library_is_read() -> None:
    policy, binding = policy_objects(Config(), library=("argo", "lib"))
    checks = problem_of(policy)
    assert "[spelling]" in checks
    assert "[strict]" not in checks and "[overrides]" not in checks
    assert "paramRef" not in binding["spec"] and "paramKind" not in policy["spec"]


def test_the_index_says_what_the_library_rules_would_of_each_template() -> None:
    library = TemplateLibrary(selector=LabelSelector(match_labels={"lib": "yes"}))
    config = dataclasses.replace(STRICT, template_library=library)
    good = template("good", templates=[{"name": "main"}, {"name": "other"}])
    good["metadata"]["labels"] = {"lib": "yes"}
    outside = template("outside")
    leads_out = template(
        "leads-out", templates=[{"name": "main", "steps": [[{"templateRef": {"name": "outside"}}]]}]
    )
    leads_out["metadata"]["labels"] = {"lib": "yes"}
    shared = template(
        "shared",
        "",
        templates=[
            {
                "name": "main",
                "dag": {
                    "tasks": [{"name": "a", "templateRef": {"name": "good", "template": "main"}}]
                },
            }
        ],
    )
    shared["metadata"]["labels"] = {"lib": "yes"}
    objects = [good, outside, leads_out, shared]
    data = library_index(config, objects, FileTemplateSource(objects))
    assert data["wt.team-a.good"] == "ready\nmain\nmain other\n"
    assert data["wt.team-a.outside"].startswith("outside\nmain\nmain\n[template-library] ")
    assert "lacks the library labels lib=yes" in data["wt.team-a.outside"]
    state, _, _, message = data["wt.team-a.leads-out"].split("\n")
    assert state == "nested" and "WorkflowTemplate team-a/outside" in message
    # a cluster template's namespaced templateRefs resolve in each Workflow's namespace
    assert data["cwtns.team-a.shared"] == "ready\nmain\nmain\n"
    assert f"WorkflowTemplate {NAMESPACE_MARK}/good, which does not exist" in data["cwt.shared"]


def test_export_vap_prints_the_policy_and_its_binding(capsys: Any, tmp_path: Any) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("workflowRestrictions: {templateReferencing: Strict}\nmode: warn\n")
    code, out, err = run_cli(
        ["export", "vap", "--config", str(policy), "--library-configmap", "argo/lib"], capsys
    )
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    assert docs[1]["spec"]["validationActions"] == ["Warn"]
    assert docs[1]["spec"]["paramRef"]["namespace"] == "argo"


def test_export_vap_refuses_a_library_configmap_without_its_namespace(capsys: Any) -> None:
    code, _, err = run_cli(["export", "vap", "--library-configmap", "lib"], capsys)
    assert code == 2
    assert "--library-configmap lib: must be NAMESPACE/NAME" in err


def template_write(operation: str, old: dict[str, Any], new: dict[str, Any] | None) -> Request:
    """A WorkflowTemplate UPDATE (or DELETE without `new`) by a library author."""
    review = make_review(
        new or old, namespace="team-a", operation=operation, old=old, username="author"
    )
    if new is None:  # a DELETE: the API server sends the object being deleted as oldObject
        review["request"]["object"] = None
    return parse_review(review)


def test_a_template_taken_out_of_the_library_is_marked_before_it_is_admitted() -> None:
    library = TemplateLibrary(selector=LabelSelector(match_labels={"lib": "yes"}))
    config = dataclasses.replace(STRICT, template_library=library)
    inside = template("etl")
    inside["metadata"]["labels"] = {"lib": "yes"}
    outside = template("etl")
    unlabel = leaving(config, template_write("UPDATE", inside, outside))
    assert unlabel is not None and unlabel[0] == "wt.team-a.etl"
    assert unlabel[1] is not None and unlabel[1].startswith("outside\nmain\nmain\n")
    assert "lacks the library labels lib=yes" in unlabel[1]
    assert leaving(config, template_write("DELETE", inside, None)) == ("wt.team-a.etl", None)
    # a change that keeps it in, or a template that never was in: nothing to mark
    assert leaving(config, template_write("UPDATE", inside, inside)) is None
    assert leaving(config, template_write("UPDATE", outside, outside)) is None


def test_the_webhook_is_narrowed_only_where_the_policy_decides_whole() -> None:
    """Without Strict or without the index, the webhook keeps every request."""
    assert webhook_condition(Config(), library=True) is None
    assert webhook_condition(STRICT, library=False) is None
    condition = webhook_condition(STRICT, library=True)
    assert condition is not None
    expression = condition["expression"]
    assert expression.startswith("!(request.operation == 'CREATE'")
    for status_field in ("storedTemplates", "nodes", "conditions"):
        assert f"object.status.{status_field}" in expression
