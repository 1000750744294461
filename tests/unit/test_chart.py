"""The Helm chart, rendered by the real helm: lint, objects, webhook settings, policy, schema.

Every assertion is on parsed YAML. helm comes from $ARGO_ADMISSION_BIN or
~/.cache/argo-admission/bin (tests/e2e/setup.sh helm); without it these tests fail, never skip.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

import chart_render  # tests/chart_render.py; tests/conftest.py puts tests/ on sys.path
from admission import __version__
from admission.core import inventory
from admission.core.config import REF_DEFAULTABLE
from admission.core.policyfile import parse_config
from chart_render import CHART_DIR, KUBE_VERSION, RenderError, deep_merge, render

pytestmark = pytest.mark.chart

CI_VALUES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
CONTROLLER = "system:serviceaccount:argo:argo"
NOT_IN_NAME = "kubernetes.io/metadata.name"
ARGO_RESOURCES = {"workflows", "cronworkflows", "workflowtemplates", "clusterworkflowtemplates"}


@pytest.fixture(scope="module", autouse=True)
def helm() -> Path:
    """Fail loudly, once, when helm is missing: the chart is never silently untested."""
    try:
        return chart_render.helm_binary()
    except chart_render.HelmNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@cache
def _render_cached(key: str) -> tuple[dict[str, Any], ...]:
    spec = json.loads(key)
    return tuple(render(spec["values"], **spec["options"]))


def objects(values: dict[str, Any] | None = None, **options: Any) -> list[dict[str, Any]]:
    """The rendered objects (cached per values: helm takes ~0.1 s a render)."""
    key = json.dumps({"values": values or {}, "options": options}, sort_keys=True)
    return [json.loads(json.dumps(doc)) for doc in _render_cached(key)]


def kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {doc["kind"] for doc in docs}


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def configurations(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The webhook configurations: chart resources, or those the server is handed to register."""
    found = [doc for doc in docs if doc["kind"] in chart_render.WEBHOOK_KINDS]
    for doc in docs:
        if doc["kind"] == "ConfigMap" and "webhooks.yaml" in doc.get("data", {}):
            found += [d for d in yaml.safe_load_all(doc["data"]["webhooks.yaml"]) if d]
    return found


def webhooks(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every webhook of both configurations, by name."""
    return {hook["name"]: hook for doc in configurations(docs) for hook in doc["webhooks"]}


def server_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "server")


def policy_config_map(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [
        doc for doc in docs if doc["kind"] == "ConfigMap" and "policy.yaml" in doc.get("data", {})
    ]
    return found


def policy_text(docs: list[dict[str, Any]]) -> str:
    return str(policy_config_map(docs)["data"]["policy.yaml"])


def excluded_namespaces(hook: dict[str, Any]) -> set[str]:
    terms = hook["namespaceSelector"]["matchExpressions"]
    return {
        v
        for t in terms
        if t["key"] == NOT_IN_NAME and t["operator"] == "NotIn"
        for v in t["values"]
    }


def render_fails(values: dict[str, Any], *extra: str) -> str:
    """helm's error message for values the chart must refuse."""
    with pytest.raises(RenderError) as info:
        if extra:
            result = chart_render.run_helm(
                "template",
                "x",
                str(CHART_DIR),
                "--kube-version",
                KUBE_VERSION,
                *extra,
                values=values,
            )
            if result.returncode:
                raise RenderError(["template"], result.stderr)
        else:
            render(values)
    return info.value.stderr


# --- lint and the ci/ values files -------------------------------------------------------------


@pytest.mark.parametrize(
    "values_file", [None, *CI_VALUES], ids=["no-values", *(p.name for p in CI_VALUES)]
)
def test_helm_lint_strict_passes(values_file: Path | None) -> None:
    args = [str(CHART_DIR), "--strict", "--kube-version", KUBE_VERSION]
    result = chart_render.run_helm("lint", *args, values_files=[values_file] if values_file else [])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values_file", CI_VALUES, ids=[p.name for p in CI_VALUES])
def test_ci_values_file_renders_a_policy_the_server_accepts(values_file: Path) -> None:
    docs = render(values_files=[values_file])
    config = parse_config(policy_text(docs), source=values_file.name)
    assert CONTROLLER in config.exemptions.users or any(
        u.endswith("-workflow-controller") for u in config.exemptions.users
    )
    assert "ValidatingWebhookConfiguration" in {c["kind"] for c in configurations(docs)}


def test_the_four_ci_values_files_exist() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "default-values.yaml",
        "cert-manager-values.yaml",
        "ha-values.yaml",
        "warn-mode-values.yaml",
    } <= names


# --- what a default install creates ------------------------------------------------------------


def test_default_install_renders_the_server_and_both_webhooks() -> None:
    assert kinds(objects()) == {
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "Pod",
        "CustomResourceDefinition",
        "Lease",
    }
    assert [c["kind"] for c in configurations(objects())] == list(chart_render.WEBHOOK_KINDS)


def test_the_audit_lease_is_a_chart_resource_so_uninstall_deletes_it() -> None:
    """The servers hold the Lease the deployment names; a Lease they created would stay."""
    lease = one(objects(), "Lease")
    args = server_container(objects())["args"]
    named = args[args.index("--audit-lease") + 1]
    assert named == f"{lease['metadata']['namespace']}/{lease['metadata']['name']}"
    assert lease["spec"] == {}
    assert "Lease" not in kinds(objects({"backgroundAudit": {"enabled": False}}))


def test_every_namespaced_object_is_in_the_release_namespace() -> None:
    cluster_scoped = {
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        *chart_render.WEBHOOK_KINDS,
    }
    for doc in objects(namespace="team-admission"):
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"]["namespace"] == "team-admission", doc["kind"]


def test_common_labels_are_added_but_cannot_override_the_charts_own() -> None:
    docs = objects({"commonLabels": {"team": "platform", "app.kubernetes.io/name": "other"}})
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["team"] == "platform"
        assert labels["app.kubernetes.io/name"] == "argo-admission"


# --- webhook configurations --------------------------------------------------------------------


def test_enforcing_webhook_fails_closed_with_safe_settings() -> None:
    hook = webhooks(objects())["validate.argo-admission.io"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 10
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["clientConfig"]["service"] == {
        "name": "argo-admission",
        "namespace": "argo-admission",
        "path": "/validate",
        "port": 443,
    }


def test_webhooks_police_the_four_argo_kinds_on_create_and_update() -> None:
    rule = webhooks(objects())["validate.argo-admission.io"]["rules"][0]
    assert rule["apiGroups"] == ["argoproj.io"]
    assert set(rule["resources"]) == ARGO_RESOURCES
    assert rule["operations"] == ["CREATE", "UPDATE"]
    assert rule["scope"] == "*"


@pytest.mark.parametrize("mode", ["warn", "audit"])
def test_warn_and_audit_modes_render_every_webhook_fail_open(mode: str) -> None:
    values = {"policy": {"mode": mode}, "webhook": {"advisory": {"enabled": True}}}
    hooks = webhooks(objects(values))
    assert {name: hook["failurePolicy"] for name, hook in hooks.items()} == dict.fromkeys(
        hooks, "Ignore"
    )
    enforcing = webhooks(objects())
    assert enforcing["validate.argo-admission.io"]["failurePolicy"] == "Fail"
    assert enforcing["mutate.argo-admission.io"]["failurePolicy"] == "Fail"


def mutate_rules(values: dict[str, Any] | None = None) -> dict[str, set[str]]:
    hook = webhooks(objects(values))["mutate.argo-admission.io"]
    return {r: set(rule["operations"]) for rule in hook["rules"] for r in rule["resources"]}


def test_mutate_sees_workflows_on_create_only_and_templates_only_with_a_baseline() -> None:
    assert mutate_rules() == {
        "workflows": {"CREATE"},
        "cronworkflows": {"CREATE", "UPDATE"},
        "workflowtemplates": {"CREATE", "UPDATE"},
        "clusterworkflowtemplates": {"CREATE", "UPDATE"},
    }
    no_baseline = {"policy": {"securityContext": {"mode": "off"}, "workflowDefaults": {"spec": {}}}}
    values = deep_merge(no_baseline, {"policy": {"workflowDefaults": {"spec": {"podGC": {}}}}})
    assert set(mutate_rules(values)) == {"workflows", "cronworkflows"}


def test_no_mutating_webhook_when_the_policy_can_mutate_nothing() -> None:
    values = {"policy": {"securityContext": {"mode": "off"}}}
    assert "mutate.argo-admission.io" not in webhooks(objects(values))


def mutate_condition(values: dict[str, Any] | None = None) -> str | None:
    hook = webhooks(objects(values, kube_version="1.31.0"))["mutate.argo-admission.io"]
    return match_conditions(hook).get("something-to-mutate")


def test_ref_workflows_skip_mutate_unless_a_ref_default_can_be_set() -> None:
    skip_refs = mutate_condition()
    assert skip_refs is not None
    assert "has(object.spec.workflowTemplateRef)) ? false : true" in skip_refs
    with_defaults = {"policy": {"workflowDefaults": {"spec": {"ttlStrategy": {}}}}}
    assert mutate_condition(with_defaults) is None  # refs and plain Workflows both mutate
    only_refs = {
        "policy": {
            "securityContext": {"mode": "off"},
            "workflowDefaults": {"metadata": {"labels": {"team": "a"}}},
        }
    }
    assert mutate_condition(only_refs) is None  # plain ones get defaults too


def test_the_validating_webhook_sees_template_task_result_and_task_set_deletes() -> None:
    rules = webhooks(objects())["validate.argo-admission.io"]["rules"]
    deletes = [rule for rule in rules if rule["operations"] == ["DELETE"]]
    assert [set(rule["resources"]) for rule in deletes] == [
        {"workflowtemplates", "clusterworkflowtemplates"},
        {"workflowtaskresults", "workflowtasksets"},
    ]


def test_library_authors_reach_the_policy_only_when_set() -> None:
    authors = {"groups": ["platform"], "serviceAccounts": ["ci/publisher"]}
    values = {"policy": {"templateLibrary": {"authors": authors}}}
    policy = parse_config(policy_text(objects(values)))
    assert policy.template_library.authors is not None
    assert policy.template_library.authors.users == {"system:serviceaccount:ci:publisher"}
    assert policy.template_library.authors.groups == {"platform"}
    assert parse_config(policy_text(objects())).template_library.authors is None


def test_only_the_validating_webhooks_see_task_results_and_task_sets() -> None:
    hooks = webhooks(objects({"webhook": {"advisory": {"enabled": True}}}))
    results = {"workflowtaskresults", "workflowtasksets", "workflowtasksets/status"}
    for name, hook in hooks.items():
        seen = {r for rule in hook["rules"] for r in rule["resources"]}
        assert (results <= seen) is not name.startswith("mutate"), (name, seen)


def test_mutating_webhook_is_reinvoked_if_needed_on_mutate() -> None:
    hook = webhooks(objects())["mutate.argo-admission.io"]
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["clientConfig"]["service"]["path"] == "/mutate"
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"


def test_timeout_is_configurable() -> None:
    for hook in webhooks(objects({"webhook": {"timeoutSeconds": 5}})).values():
        assert hook["timeoutSeconds"] == 5


def test_namespace_selector_excludes_release_namespace_and_kube_system_by_default() -> None:
    for hook in webhooks(objects(namespace="admission-system")).values():
        assert excluded_namespaces(hook) == {"admission-system", "kube-system"}


def test_mandatory_exclusion_is_merged_into_a_user_namespace_selector() -> None:
    selector = {
        "matchLabels": {"team": "a"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
    }
    docs = objects(
        {"webhook": {"namespaceSelector": selector, "skipExempt": False}}, namespace="custom-ns"
    )
    for name in ("validate.argo-admission.io", "mutate.argo-admission.io"):
        got = webhooks(docs)[name]["namespaceSelector"]
        assert got["matchLabels"] == {"team": "a"}
        assert {"key": "env", "operator": "In", "values": ["prod"]} in got["matchExpressions"]
        assert excluded_namespaces(webhooks(docs)[name]) == {"custom-ns", "kube-system"}


def test_user_selector_cannot_drop_the_mandatory_exclusion() -> None:
    selector = {
        "matchExpressions": [
            {"key": NOT_IN_NAME, "operator": "In", "values": ["argo-admission", "kube-system", "a"]}
        ]
    }
    hook = webhooks(objects({"webhook": {"namespaceSelector": selector}}))[
        "validate.argo-admission.io"
    ]
    assert excluded_namespaces(hook) == {"argo-admission", "kube-system"}


def test_skip_exempt_also_keeps_exempt_namespaces_away_from_the_webhook() -> None:
    values = {"policy": {"exemptions": {"namespaces": ["sandbox"]}}}
    on = webhooks(objects(values))["validate.argo-admission.io"]
    off = webhooks(objects(deep_merge(values, {"webhook": {"skipExempt": False}})))
    assert excluded_namespaces(on) == {"argo-admission", "kube-system", "sandbox"}
    assert excluded_namespaces(off["validate.argo-admission.io"]) == {
        "argo-admission",
        "kube-system",
    }


def match_conditions(hook: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["expression"] for c in hook.get("matchConditions", [])}


def test_match_conditions_skip_the_argo_controller_on_kubernetes_1_30_and_later() -> None:
    for hook in webhooks(objects(kube_version="1.30.0")).values():
        expression = match_conditions(hook)["not-an-exempt-user"]
        assert json.dumps(CONTROLLER) in expression
        assert expression.startswith("!(request.userInfo.username in [")


def test_match_conditions_name_the_argo_helm_chart_controller_when_configured() -> None:
    values = {
        "argo": {
            "controller": {
                "serviceAccount": {
                    "namespace": "argo-workflows",
                    "name": "argo-workflows-workflow-controller",
                }
            }
        }
    }
    hook = webhooks(objects(values))["validate.argo-admission.io"]
    expression = match_conditions(hook)["not-an-exempt-user"]
    assert "system:serviceaccount:argo-workflows:argo-workflows-workflow-controller" in expression
    assert CONTROLLER not in expression


def test_validating_webhooks_still_see_workflows_the_controller_creates() -> None:
    creates = "(request.resource.resource == 'workflows' && request.operation == 'CREATE')"
    for name, hook in webhooks(objects(kube_version="1.30.0")).items():
        expression = match_conditions(hook)["not-an-exempt-user"]
        assert expression.endswith(" || " + creates) is not name.startswith("mutate"), name


def test_no_match_conditions_before_kubernetes_1_30() -> None:
    values = {"webhook": {"matchConditions": [{"name": "x", "expression": "true"}]}}
    for hook in webhooks(objects(values, kube_version="1.29.4")).values():
        assert "matchConditions" not in hook


def test_exempt_groups_and_user_conditions_are_appended() -> None:
    values = {
        "policy": {"exemptions": {"groups": ["ci-bots"], "users": ["alice"]}},
        "webhook": {"matchConditions": [{"name": "not-dry-run", "expression": "!request.dryRun"}]},
    }
    conditions = match_conditions(webhooks(objects(values))["mutate.argo-admission.io"])
    assert '"alice"' in conditions["not-an-exempt-user"]
    assert '"ci-bots"' in conditions["not-in-an-exempt-group"]
    assert conditions["not-dry-run"] == "!request.dryRun"


def test_skip_exempt_off_sends_every_identity_to_the_webhook() -> None:
    hook = webhooks(objects({"webhook": {"skipExempt": False}}))["validate.argo-admission.io"]
    assert "matchConditions" not in hook


def test_advisory_webhook_is_fail_open_on_its_own_path_and_selector() -> None:
    values = {
        "webhook": {
            "advisory": {
                "enabled": True,
                "namespaceSelector": {"matchLabels": {"argo-admission.io/mode": "advise"}},
            }
        }
    }
    hooks = webhooks(objects(values))
    advise = hooks["advise.argo-admission.io"]
    assert advise["failurePolicy"] == "Ignore"
    assert advise["clientConfig"]["service"]["path"] == "/validate/warn"
    assert advise["namespaceSelector"]["matchLabels"] == {"argo-admission.io/mode": "advise"}
    assert excluded_namespaces(advise) == {"argo-admission", "kube-system"}
    assert hooks["validate.argo-admission.io"]["failurePolicy"] == "Fail"
    assert "advise.argo-admission.io" not in webhooks(objects())


def test_mutating_webhook_can_be_disabled() -> None:
    docs = objects({"webhook": {"mutating": {"enabled": False}}})
    assert "MutatingWebhookConfiguration" not in kinds(docs)


def test_fail_open_on_the_enforcing_webhook_needs_an_acknowledgement() -> None:
    message = render_fails({"webhook": {"validating": {"failurePolicy": "Ignore"}}})
    assert "acknowledgeFailOpen" in message
    acknowledged = {
        "webhook": {"validating": {"failurePolicy": "Ignore", "acknowledgeFailOpen": True}}
    }
    assert (
        webhooks(objects(acknowledged))["validate.argo-admission.io"]["failurePolicy"] == "Ignore"
    )


def test_fail_open_without_acknowledgement_is_fine_when_nothing_is_enforced() -> None:
    values = {"policy": {"mode": "warn"}, "webhook": {"validating": {"failurePolicy": "Ignore"}}}
    assert webhooks(objects(values))["validate.argo-admission.io"]["failurePolicy"] == "Ignore"


def test_object_selector_and_annotations_reach_both_configurations() -> None:
    values = {
        "webhook": {
            "objectSelector": {"matchLabels": {"policed": "yes"}},
            "annotations": {"owner": "platform"},
        }
    }
    docs = objects(values)
    for doc in docs:
        if doc["kind"] in chart_render.WEBHOOK_KINDS:
            assert doc["metadata"]["annotations"] == {"owner": "platform"}
    for hook in webhooks(docs).values():
        assert hook["objectSelector"] == {"matchLabels": {"policed": "yes"}}


# --- webhook.url: a server outside the cluster (tests, local development) ----------------------


def test_url_mode_points_every_webhook_at_the_url_and_renders_no_server() -> None:
    values = {
        "webhook": {
            "url": "https://127.0.0.1:9443/",
            "caBundle": "Q0E=",
            "advisory": {"enabled": True},
        }
    }
    docs = objects(values)
    hooks = webhooks(docs)
    assert hooks["validate.argo-admission.io"]["clientConfig"] == {
        "url": "https://127.0.0.1:9443/validate",
        "caBundle": "Q0E=",
    }
    assert hooks["mutate.argo-admission.io"]["clientConfig"] == {
        "url": "https://127.0.0.1:9443/mutate",
        "caBundle": "Q0E=",
    }
    assert hooks["advise.argo-admission.io"]["clientConfig"]["url"] == (
        "https://127.0.0.1:9443/validate/warn"
    )
    assert not {"Deployment", "Service", "Secret", "PodDisruptionBudget", "Pod"} & kinds(docs)


def test_render_webhooks_helper_returns_only_the_two_configurations() -> None:
    docs = chart_render.render_webhooks(
        "https://localhost:8443", "Q0E=", {"webhook": {"timeoutSeconds": 3}}
    )
    assert sorted(doc["kind"] for doc in docs) == sorted(chart_render.WEBHOOK_KINDS)
    for hook in webhooks(docs).values():
        assert "service" not in hook["clientConfig"]
        assert hook["clientConfig"]["caBundle"] == "Q0E="
        assert hook["timeoutSeconds"] == 3


def test_render_policy_helper_returns_the_servers_policy_file() -> None:
    config = parse_config(chart_render.render_policy({"policy": {"mode": "audit"}}))
    assert config.mode == "audit"


def test_url_must_be_https() -> None:
    assert "/webhook/url" in render_fails({"webhook": {"url": "http://127.0.0.1:9443"}})


# --- the Deployment ----------------------------------------------------------------------------


def test_server_runs_highly_available_by_default() -> None:
    docs = objects()
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"]
        == (deployment["spec"]["selector"]["matchLabels"])
    )
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_hard_anti_affinity_and_user_affinity() -> None:
    hard = one(objects({"server": {"podAntiAffinity": "hard"}}), "Deployment")
    assert (
        "requiredDuringSchedulingIgnoredDuringExecution"
        in (hard["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"])
    )
    none = one(objects({"server": {"podAntiAffinity": "none"}}), "Deployment")
    assert "affinity" not in none["spec"]["template"]["spec"]
    mine = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}
                ]
            }
        }
    }
    pod = one(objects({"server": {"affinity": mine}}), "Deployment")["spec"]["template"]["spec"]
    assert pod["affinity"]["nodeAffinity"] == mine["nodeAffinity"]
    assert "podAntiAffinity" in pod["affinity"]


def test_server_pod_is_locked_down() -> None:
    pod = one(objects(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = server_container(objects())["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True


def test_probes_use_readyz_and_healthz_over_https_on_8443() -> None:
    container = server_container(objects())
    assert container["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert ready == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert live == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}


def test_resources_have_requests_and_limits() -> None:
    resources = server_container(objects())["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_server_args_serve_the_mounted_policy_and_certificates() -> None:
    values = {"server": {"workers": 3, "threads": 6, "extraArgs": ["--lookup-timeout", "2"]}}
    container = server_container(objects(values))
    assert container["args"] == [
        "serve",
        "--config",
        "/etc/argo-admission/policy.yaml",
        "--cert-dir",
        "/etc/argo-admission/tls",
        "--host",
        "0.0.0.0",
        "--port",
        "8443",
        "--workers",
        "3",
        "--threads",
        "6",
        "--log-level",
        "info",
        "--register-webhooks",
        "/etc/argo-admission/webhooks/webhooks.yaml",
        "--webhook-owner",
        "argo-admission:argo-admission",
        "--background-audit",
        "1h",
        "--audit-lease",
        "argo-admission/argo-admission-audit",
        "--events-per-minute",
        "60",
        "--lookup-timeout",
        "2",
    ]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/argo-admission/policy.yaml"]["subPath"] == "policy.yaml"
    assert mounts["/etc/argo-admission/tls"]["readOnly"] is True
    volumes = {
        v["name"]: v
        for v in one(objects(values), "Deployment")["spec"]["template"]["spec"]["volumes"]
    }
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


def test_args_parse_with_the_cli() -> None:
    from admission.cli.main import build_parser

    args = build_parser().parse_args(server_container(objects())["args"])
    assert (args.command, args.port, args.host) == ("serve", 8443, "0.0.0.0")


def test_image_defaults_to_app_version_and_honours_digest() -> None:
    assert server_container(objects())["image"].endswith(f":{__version__}")
    pinned = "sha256:" + "a" * 64
    image = server_container(objects({"image": {"digest": pinned}}))["image"]
    assert image == f"ghcr.io/argo-admission/argo-admission@{pinned}"
    custom = server_container(
        objects({"image": {"repository": "r.example/a", "tag": "dev", "pullPolicy": "Always"}})
    )
    assert (custom["image"], custom["imagePullPolicy"]) == ("r.example/a:dev", "Always")


def test_scheduling_values_reach_the_pod() -> None:
    values = {
        "server": {
            "priorityClassName": "system-cluster-critical",
            "nodeSelector": {"pool": "system"},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        },
        "imagePullSecrets": [{"name": "regcred"}],
    }
    pod = one(objects(values), "Deployment")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == {"pool": "system"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]


def checksums(values: dict[str, Any] | None = None) -> dict[str, str]:
    annotations = one(objects(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]
    return {k: v for k, v in annotations.items() if k.startswith("checksum/")}


def test_a_policy_change_rolls_the_pods() -> None:
    before, after = checksums(), checksums({"policy": {"mode": "warn"}})
    assert set(before) == {"checksum/policy", "checksum/tls"}
    assert before["checksum/policy"] != after["checksum/policy"]


def test_a_secret_change_rolls_the_pods() -> None:
    a = checksums({"tls": {"mode": "secret", "secret": {"name": "a", "caBundle": "Q0E="}}})
    b = checksums({"tls": {"mode": "secret", "secret": {"name": "b", "caBundle": "Q0E="}}})
    assert a["checksum/tls"] != b["checksum/tls"]


# --- RBAC --------------------------------------------------------------------------------------


NO_AUDIT: Final = {"backgroundAudit": {"enabled": False}}


def test_cluster_role_only_reads_argo_templates_and_workflows() -> None:
    docs = objects({"webhook": {"registration": "helm"}, "events": {"enabled": False}, **NO_AUDIT})
    (rule,) = one(docs, "ClusterRole")["rules"]
    assert rule["apiGroups"] == ["argoproj.io"]
    assert set(rule["resources"]) == {"workflowtemplates", "clusterworkflowtemplates", "workflows"}
    assert set(rule["verbs"]) == {"get", "list", "watch"}
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one(docs, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "argo-admission", "namespace": "argo-admission"}
    ]


def test_role_reads_only_the_policy_config_map() -> None:
    docs = objects(NO_AUDIT)
    (rule,) = one(docs, "Role")["rules"]
    assert rule["resources"] == ["configmaps"]
    assert set(rule["verbs"]) == {"get", "list", "watch"}
    assert rule["resourceNames"] == [policy_config_map(docs)["metadata"]["name"]]
    assert one(docs, "RoleBinding")["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": one(docs, "Role")["metadata"]["name"],
    }


def test_no_rbac_rule_grants_writes_or_wildcards() -> None:
    """Reads only, but for its own webhook configurations, audit Lease and PolicyReports: each
    written by name, but create (Kubernetes cannot limit create, or list, by name); and the
    creation of Events (new objects, named by the API server)."""
    writes = {
        frozenset({"validatingwebhookconfigurations", "mutatingwebhookconfigurations"}),
        frozenset({"leases"}),
        frozenset({"policyreports", "clusterpolicyreports"}),
        frozenset({"events"}),
    }
    for doc in objects():
        for rule in doc.get("rules", []) if doc["kind"] in ("Role", "ClusterRole") else []:
            assert "*" not in rule["resources"] + rule["apiGroups"] + rule["verbs"]
            if set(rule["verbs"]) <= {"get", "list", "watch"}:
                continue
            assert frozenset(rule["resources"]) in writes, rule
            assert set(rule["verbs"]) <= {"create", "list"} or (
                set(rule["verbs"]) <= {"get", "update", "delete"} and rule["resourceNames"]
            ), rule


def test_the_background_audit_holds_its_lease_and_writes_only_its_reports() -> None:
    docs = objects(namespace="admission")
    args = server_container(docs)["args"]
    assert args[args.index("--audit-lease") + 1] == "admission/argo-admission-audit"
    lease_rules = [r for r in one(docs, "Role")["rules"] if r["resources"] == ["leases"]]
    assert lease_rules == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["argo-admission-audit"],
            "verbs": ["get", "update"],
        },
    ]
    rules = one(docs, "ClusterRole")["rules"]
    reports = [r for r in rules if r["apiGroups"] == ["wgpolicyk8s.io"]]
    assert [r.get("resourceNames") for r in reports] == [None, [inventory.POLICY]]
    assert {"apiGroups": ["argoproj.io"], "resources": ["cronworkflows"], "verbs": ["list"]} in (
        rules
    )


def test_the_policy_report_crds_are_installed_unless_told_not_to() -> None:
    crds = {d["metadata"]["name"]: d for d in objects() if d["kind"] == "CustomResourceDefinition"}
    assert set(crds) == {"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"}
    assert crds["policyreports.wgpolicyk8s.io"]["spec"]["scope"] == "Namespaced"
    assert crds["clusterpolicyreports.wgpolicyk8s.io"]["spec"]["scope"] == "Cluster"
    for values in ({"backgroundAudit": {"installCRDs": False}}, NO_AUDIT):
        docs = objects(values)
        assert "CustomResourceDefinition" not in kinds(docs)
    args = server_container(objects(NO_AUDIT))["args"]
    assert "--background-audit" not in args and "--audit-lease" not in args


def test_the_policy_report_crd_schema_accepts_the_reports_the_audit_writes() -> None:
    """Every field of an `audit -o policyreport` report is in the CRD's schema (nothing pruned)."""
    crds = [d for d in objects() if d["kind"] == "CustomResourceDefinition"]
    resource = inventory.Resource("argoproj.io/v1alpha1", "Workflow", "team-a", "wf", "uid-1")
    findings = [
        inventory.Finding(resource, "strict", "fail", "no ref"),
        inventory.Finding(
            inventory.Resource("argoproj.io/v1alpha1", "ClusterWorkflowTemplate", "", "t"),
            inventory.PASSED,
            "pass",
            "ok",
        ),
    ]
    for report in inventory.policy_reports(findings, timestamp=1):
        (crd,) = [c for c in crds if c["spec"]["names"]["kind"] == report["kind"]]
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert pruned(report, schema) == [], report["kind"]


# --- the policy ConfigMap ----------------------------------------------------------------------


def test_policy_config_map_parses_and_exempts_the_controller_and_namespaces() -> None:
    config = parse_config(policy_text(objects(namespace="admission")), source="chart")
    assert CONTROLLER in config.exemptions.users
    assert {"admission", "kube-system"} <= config.exemptions.namespaces


def test_chart_defaults_mirror_the_shipped_default_policy() -> None:
    shipped = parse_config((CHART_DIR.parents[1] / "policies" / "default.yaml").read_text())
    chart = parse_config(policy_text(objects(namespace="kube-system")))
    for field in (
        "template_referencing",
        "mode",
        "workflow_defaults",
        "security_context",
        "template_library",
        "override_allowlist",
        "controller_instance_ids",
        "lookup_failure_policy",
        "exemptions",
    ):
        assert getattr(chart, field) == getattr(shipped, field), field
    assert set(chart.ref_defaults) == set(shipped.ref_defaults)  # order carries no meaning


def test_controller_identity_is_merged_with_the_users_service_accounts() -> None:
    values = {
        "argo": {
            "controller": {
                "serviceAccount": {
                    "namespace": "argo-workflows",
                    "name": "argo-workflows-workflow-controller",
                }
            }
        },
        "policy": {
            "exemptions": {
                "serviceAccounts": ["ci/deployer"],
                "namespaces": ["sandbox"],
                "users": ["alice"],
            }
        },
    }
    config = parse_config(policy_text(objects(values)))
    assert config.exemptions.users == {
        "alice",
        "system:serviceaccount:ci:deployer",
        "system:serviceaccount:argo-workflows:argo-workflows-workflow-controller",
    }
    assert config.exemptions.namespaces == {"argo-admission", "kube-system", "sandbox"}


def test_every_policy_value_reaches_the_policy_file() -> None:
    values = {
        "policy": {
            "workflowRestrictions": {"templateReferencing": "Strict"},
            "mode": "audit",
            "workflowDefaults": {"spec": {"ttlStrategy": {"secondsAfterCompletion": 60}}},
            "securityContext": {
                "mode": "require",
                "restricted": True,
                "pod": {"runAsUser": 1000},
                "container": {"privileged": False},
            },
            "exemptions": {"groups": ["ops"]},
            "templateLibrary": {
                "namespaces": ["lib"],
                "clusterScopedOnly": True,
                "allowClusterTemplates": True,
                "selector": {"matchLabels": {"approved": "yes"}},
            },
            "overrideAllowlist": ["podGC"],
            "controllerInstanceIDs": ["", "team-a"],
            "mutation": {"refDefaults": ["podGC"]},
            "lookupFailurePolicy": "Ignore",
            "taskResultWriters": "ServiceAccount",
        }
    }
    config = parse_config(policy_text(objects(values)))
    assert (config.template_referencing, config.mode) == ("Strict", "audit")
    assert config.workflow_defaults == values["policy"]["workflowDefaults"]
    assert config.security_context.mode == "require" and config.security_context.restricted
    assert config.security_context.pod["runAsUser"] == 1000
    assert config.security_context.pod["runAsNonRoot"] is True  # chart default kept
    assert config.security_context.container["privileged"] is False
    assert config.exemptions.groups == {"ops"}
    assert config.template_library.namespaces == {"lib"}
    assert config.template_library.cluster_scoped_only is True
    assert config.template_library.selector is not None
    assert config.template_library.selector.match_labels == {"approved": "yes"}
    assert "podGC" in config.override_allowlist
    assert config.controller_instance_ids == {"", "team-a"}
    assert config.ref_defaults == ("podGC",)
    assert config.lookup_failure_policy == "Ignore"
    assert config.task_result_writers == "ServiceAccount"


def test_template_referencing_off_is_written_as_an_empty_string() -> None:
    config = parse_config(
        policy_text(objects({"policy": {"workflowRestrictions": {"templateReferencing": ""}}}))
    )
    assert config.template_referencing == ""
    assert not config.strict


# --- Argo's ConfigMap, read where it lives -------------------------------------------------


def test_the_server_registers_the_configurations_once_ready_owned_by_the_cluster_role() -> None:
    docs = objects()
    assert not [doc for doc in docs if doc["kind"] in chart_render.WEBHOOK_KINDS]
    assert [doc["kind"] for doc in configurations(docs)] == list(chart_render.WEBHOOK_KINDS)
    args = server_container(docs)["args"]
    role = one(docs, "ClusterRole")
    assert args[args.index("--webhook-owner") + 1] == role["metadata"]["name"]
    path = args[args.index("--register-webhooks") + 1]
    mounts = {m["name"]: m["mountPath"] for m in server_container(docs)["volumeMounts"]}
    assert path == mounts["webhooks"] + "/webhooks.yaml"
    granted = {
        (r["apiGroups"][0], tuple(r["verbs"]), tuple(r.get("resourceNames", ())))
        for r in role["rules"]
    }
    assert ("admissionregistration.k8s.io", ("create",), ()) in granted
    assert ("rbac.authorization.k8s.io", ("get",), (role["metadata"]["name"],)) in granted


def test_helm_registration_renders_the_configurations_as_chart_resources() -> None:
    docs = objects({"webhook": {"registration": "helm"}})
    assert sorted(d["kind"] for d in docs if d["kind"] in chart_render.WEBHOOK_KINDS) == sorted(
        chart_render.WEBHOOK_KINDS
    )
    assert "--register-webhooks" not in server_container(docs)["args"]
    assert all("webhooks.yaml" not in d.get("data", {}) for d in docs if d["kind"] == "ConfigMap")


def test_argo_configmap_is_read_in_place_with_a_role_for_that_one_object() -> None:
    values = {"argo": {"controller": {"configMap": {"name": "workflow-controller-configmap"}}}}
    docs = objects(values)
    args = server_container(docs)["args"]
    assert args[args.index("--argo-configmap") + 1] == "argo/workflow-controller-configmap"
    roles = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "argo"]
    (role,) = roles
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["workflow-controller-configmap"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    bindings = [
        d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == "argo"
    ]
    assert [b["roleRef"]["name"] for b in bindings] == [role["metadata"]["name"]]
    assert "initContainers" not in one(docs, "Deployment")["spec"]["template"]["spec"]


def test_without_argo_configmap_nothing_reads_it() -> None:
    docs = objects()
    assert "--argo-configmap" not in server_container(docs)["args"]
    assert all(d["metadata"].get("namespace") != "argo" for d in docs if d["kind"] == "Role")
    assert set(policy_config_map(docs)["data"]) == {"policy.yaml"}


# --- TLS ---------------------------------------------------------------------------------------


def test_helm_tls_signs_a_serving_certificate_for_the_service_names() -> None:
    docs = objects(namespace="admission")
    secret = one(docs, "Secret")
    assert secret["type"] == "kubernetes.io/tls"
    ca_pem = base64.b64decode(secret["data"]["ca.crt"])
    for hook in webhooks(docs).values():
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca_pem
    ca = x509.load_pem_x509_certificate(ca_pem)
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca.public_key().verify(
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PKCS1v15(),
        cert.signature_hash_algorithm,
    )
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {
        "argo-admission",
        "argo-admission.admission",
        "argo-admission.admission.svc",
        "argo-admission.admission.svc.cluster.local",
    }
    assert int(secret["metadata"]["annotations"]["argo-admission.io/not-after"]) > 0
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"secretName": secret["metadata"]["name"], "defaultMode": 0o440} in [
        v.get("secret") for v in volumes
    ]


def test_cert_manager_mode_issues_a_certificate_and_injects_the_ca() -> None:
    docs = objects({"tls": {"mode": "cert-manager"}})
    certificates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Certificate"}
    serving = certificates["argo-admission-serving"]
    assert serving["spec"]["dnsNames"][2] == "argo-admission.argo-admission.svc"
    assert serving["spec"]["issuerRef"] == {
        "name": "argo-admission-ca",
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    assert certificates["argo-admission-ca"]["spec"]["isCA"] is True
    issuers = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Issuer"}
    assert issuers == {
        "argo-admission-selfsigned": {"selfSigned": {}},
        "argo-admission-ca": {"ca": {"secretName": "argo-admission-ca"}},
    }
    for doc in docs:
        if doc["kind"] in chart_render.WEBHOOK_KINDS:
            assert doc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
                "argo-admission/argo-admission-serving"
            )
    for hook in webhooks(docs).values():
        assert "caBundle" not in hook["clientConfig"]
    assert "Secret" not in kinds(docs)
    secret_volume = next(
        v["secret"]
        for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        if "secret" in v
    )
    assert secret_volume["secretName"] == serving["spec"]["secretName"]


def test_cert_manager_mode_with_the_users_issuer() -> None:
    values = {
        "tls": {
            "mode": "cert-manager",
            "certManager": {
                "createIssuer": False,
                "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"},
            },
        }
    }
    docs = objects(values)
    assert "Issuer" not in kinds(docs)
    (certificate,) = [d for d in docs if d["kind"] == "Certificate"]
    assert certificate["spec"]["issuerRef"] == {
        "name": "corp-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }


def test_a_given_ca_bundle_cannot_contradict_the_generated_one() -> None:
    assert "webhook.caBundle" in render_fails({"webhook": {"caBundle": "Q0E="}})
    cert_manager = {"tls": {"mode": "cert-manager"}, "webhook": {"caBundle": "Q0E="}}
    assert "webhook.caBundle" in render_fails(cert_manager)


def test_cert_manager_mode_without_an_issuer_is_refused() -> None:
    values = {"tls": {"mode": "cert-manager", "certManager": {"createIssuer": False}}}
    assert "issuerRef" in render_fails(values)


def test_secret_mode_uses_the_existing_secret_and_the_given_ca() -> None:
    docs = objects({"tls": {"mode": "secret", "secret": {"name": "my-tls", "caBundle": "Q0E="}}})
    assert "Secret" not in kinds(docs)
    for hook in webhooks(docs).values():
        assert hook["clientConfig"]["caBundle"] == "Q0E="
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert "my-tls" in [v.get("secret", {}).get("secretName") for v in volumes]


@pytest.mark.parametrize("secret", [{}, {"name": "my-tls"}], ids=["no-name", "no-ca"])
def test_secret_mode_needs_a_name_and_a_ca(secret: dict[str, str]) -> None:
    assert "tls.secret" in render_fails({"tls": {"mode": "secret", "secret": secret}})


# --- optional objects --------------------------------------------------------------------------


def test_network_policy_opens_only_the_https_port_from_anywhere_by_default() -> None:
    policy = one(objects({"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    (rule,) = policy["spec"]["ingress"]
    assert rule == {"ports": [{"protocol": "TCP", "port": 8443}]}
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]
    limited = one(
        objects({"networkPolicy": {"enabled": True, "ingressFrom": peers}}), "NetworkPolicy"
    )
    assert limited["spec"]["ingress"][0]["from"] == peers


def test_service_monitor_scrapes_metrics_over_https_verifying_the_ca() -> None:
    docs = objects({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "p"}}}})
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "p"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == (
        "https",
        "/metrics",
        "https",
    )
    assert endpoint["tlsConfig"]["serverName"] == "argo-admission.argo-admission.svc"
    service = one(docs, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]


def test_helm_test_pod_checks_readyz_with_the_ca() -> None:
    docs = objects()
    pod = one(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["READYZ_URL"] == "https://argo-admission.argo-admission.svc:443/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    ca_map = next(d for d in docs if d["kind"] == "ConfigMap" and "ca.crt" in d["data"])
    assert ca_map["data"]["ca.crt"].encode() == base64.b64decode(
        one(docs, "Secret")["data"]["ca.crt"]
    )
    service_selector = one(docs, "Service")["spec"]["selector"]
    assert not service_selector.items() <= pod["metadata"]["labels"].items()


# --- values.yaml and values.schema.json --------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"policy": {"mode": "bogus"}}, "/policy/mode"),
        ({"bogus": 1}, "bogus"),
        ({"webhook": {"bogus": 1}}, "bogus"),
        ({"policy": {"exemptions": {"everyone": True}}}, "everyone"),
        (
            {"policy": {"workflowRestrictions": {"templateReferencing": "strict"}}},
            "/policy/workflowRestrictions/templateReferencing",
        ),
        ({"policy": {"securityContext": {"mode": "on"}}}, "/policy/securityContext/mode"),
        ({"policy": {"securityContext": {"pod": {"runAsNonroot": True}}}}, "runAsNonroot"),
        (
            {"policy": {"exemptions": {"serviceAccounts": ["argo"]}}},
            "/policy/exemptions/serviceAccounts/0",
        ),
        (
            {"policy": {"mutation": {"refDefaults": ["podSpecPatch"]}}},
            "/policy/mutation/refDefaults/0",
        ),
        (
            {"webhook": {"validating": {"failurePolicy": "Maybe"}}},
            "/webhook/validating/failurePolicy",
        ),
        ({"webhook": {"timeoutSeconds": 31}}, "/webhook/timeoutSeconds"),
        ({"tls": {"mode": "acme"}}, "/tls/mode"),
        ({"server": {"replicas": 0}}, "/server/replicas"),
        ({"server": {"replicas": "2"}}, "/server/replicas"),
        ({"server": {"resources": {"limit": {}}}}, "limit"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else None,
)
def test_schema_rejects_bad_values(values: dict[str, Any], path: str) -> None:
    message = render_fails(values)
    assert "schema" in message
    assert path in message


def test_kubernetes_blocks_take_every_field_kubernetes_has() -> None:
    values = {"server": {"resources": {"limits": {"hugepages-2Mi": "1Gi"}}}}
    container = one(objects(values), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["hugepages-2Mi"] == "1Gi"


def test_validate_template_catches_what_the_schema_alone_cannot() -> None:
    message = render_fails({"server": {"replicas": 0}}, "--skip-schema-validation")
    assert "server.replicas must be at least 1" in message
    assert "minAvailable" in render_fails({"server": {"replicas": 1}})
    assert "argo.controller.serviceAccount.name" in render_fails(
        {"argo": {"controller": {"serviceAccount": {"name": ""}}}}
    )
    single = {"server": {"replicas": 1, "podDisruptionBudget": {"enabled": False}}}
    assert one(objects(single), "Deployment")["spec"]["replicas"] == 1


def schema() -> dict[str, Any]:
    return json.loads((CHART_DIR / "values.schema.json").read_text())


def test_schema_is_strict_at_every_level() -> None:
    def walk(node: dict[str, Any], where: str) -> None:
        if "properties" in node:
            assert node.get("additionalProperties") is False, where
            for key, child in node["properties"].items():
                walk(child, f"{where}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")

    walk(schema(), "")


def test_schema_knows_every_key_of_values_yaml() -> None:
    def walk(values: Any, node: dict[str, Any], where: str) -> None:
        if not isinstance(values, dict) or "properties" not in node:
            return
        for key, value in values.items():
            assert key in node["properties"], f"{where}.{key} is not in values.schema.json"
            walk(value, node["properties"][key], f"{where}.{key}")

    walk(yaml.safe_load((CHART_DIR / "values.yaml").read_text()), schema(), "")


def test_schema_enums_match_the_policy_loader() -> None:
    from admission.core import config

    policy = schema()["properties"]["policy"]["properties"]
    assert tuple(policy["workflowRestrictions"]["properties"]["templateReferencing"]["enum"]) == (
        config.TEMPLATE_REFERENCING
    )
    assert tuple(policy["mode"]["enum"]) == config.MODES
    assert tuple(policy["securityContext"]["properties"]["mode"]["enum"]) == (
        config.SECURITY_CONTEXT_MODES
    )
    assert tuple(policy["lookupFailurePolicy"]["enum"]) == config.FAILURE_POLICIES
    assert tuple(policy["taskResultWriters"]["enum"]) == config.TASK_RESULT_WRITERS
    assert (
        tuple(policy["mutation"]["properties"]["refDefaults"]["items"]["enum"]) == REF_DEFAULTABLE
    )


def test_chart_yaml_declares_versions_and_changes() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == ">=1.28.0-0"
    assert str(chart["appVersion"]) == __version__
    changes = yaml.safe_load(chart["annotations"]["artifacthub.io/changes"])
    assert changes and all(
        c["kind"] in {"added", "changed", "deprecated", "removed", "fixed", "security"}
        and c["description"]
        for c in changes
    )


def test_chart_refuses_clusters_older_than_1_28() -> None:
    with pytest.raises(RenderError) as info:
        render(kube_version="1.27.9")
    assert "kubeVersion" in info.value.stderr


def test_helm_hooks_leave_nothing_behind() -> None:
    """helm uninstall does not delete hook resources: each hook deletes itself when done."""
    hooks = [d for d in objects() if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    assert hooks
    for doc in hooks:
        policy = doc["metadata"]["annotations"]["helm.sh/hook-delete-policy"].split(",")
        assert {"hook-succeeded", "hook-failed"} <= set(policy), doc["metadata"]["name"]


def pruned(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of `value` that a structural schema would prune (no property declares them)."""
    if schema.get("type") == "object" and isinstance(value, dict):
        if "properties" not in schema:  # metadata, or a map of additionalProperties
            return []
        out: list[str] = []
        for key, item in value.items():
            if key not in schema["properties"]:
                out.append(f"{path}.{key}")
            else:
                out += pruned(item, schema["properties"][key], f"{path}.{key}")
        return out
    if schema.get("type") == "array" and isinstance(value, list):
        return [p for i, item in enumerate(value) for p in pruned(item, schema["items"], path)]
    return []


# --- NOTES ---------------------------------------------------------------------------------------

NOTES_PROBE = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
    'data:\n  notes: {{ tpl (.Files.Get "notes-probe.txt") . | toJson }}\n'
)


def notes(values: dict[str, Any] | None = None) -> str:
    """NOTES.txt as helm renders it after an install (helm template leaves NOTES out: a copy of
    the chart renders it into a ConfigMap with the same values and helpers)."""
    with tempfile.TemporaryDirectory(prefix="argo-admission-notes-") as tmp:
        chart = Path(tmp) / "argo-admission"
        shutil.copytree(CHART_DIR, chart)
        shutil.copy(chart / "templates/NOTES.txt", chart / "notes-probe.txt")
        (chart / "templates/zz-notes-probe.yaml").write_text(NOTES_PROBE)
        result = chart_render.run_helm(
            "template",
            "argo-admission",
            str(chart),
            "--namespace",
            "argo-admission",
            "--kube-version",
            KUBE_VERSION,
            "--show-only",
            "templates/zz-notes-probe.yaml",
            values=values,
        )
        assert result.returncode == 0, result.stderr
    return str(yaml.safe_load(result.stdout)["data"]["notes"])


def test_notes_say_nothing_is_enforced_until_a_pod_is_ready_and_how_to_install_an_image() -> None:
    text = notes({"image": {"repository": "registry.example.com/aa", "tag": "dev"}})
    assert "UNTIL A POD IS READY, NOTHING IS ENFORCED" in text
    assert "Image: registry.example.com/aa:dev" in text
    assert "docker push REGISTRY/argo-admission:TAG" in text
    assert "--set image.repository=REGISTRY/argo-admission --set image.tag=TAG" in text
    assert "Image: ghcr.io/argo-admission/argo-admission:0.1.0" in notes()


def test_notes_read_every_replicas_logs_and_give_the_break_glass() -> None:
    text = notes()
    assert "logs -l app.kubernetes.io/instance=argo-admission," in text
    assert "logs deploy/" not in text
    assert (
        "kubectl delete validatingwebhookconfiguration,mutatingwebhookconfiguration argo-admission"
        in text
    )


def test_notes_example_workflow_runs_as_a_non_root_user() -> None:
    """busybox runs as root; under the default baseline's runAsNonRoot it would never start."""
    assert "securityContext: {runAsUser: 65534}" in notes()


# --- PrometheusRule and Grafana dashboard ------------------------------------------------------

METRIC = re.compile(r"\b(argo_admission_[a-z_]+|up)\{")
KNOWN_METRICS = {
    *(
        f"argo_admission_{name}_total"
        for name in (
            "requests",
            "reviewed_objects",
            "rule_violations",
            "template_lookups",
            "config_reloads",
            "audit_runs",
        )
    ),
    "argo_admission_request_duration_seconds_bucket",
    "argo_admission_audit_findings",
    "argo_admission_audit_last_run_timestamp_seconds",
    "argo_admission_certificate_expiry_timestamp_seconds",
    "argo_admission_build_info",
    "up",
}
MONITORING = {"metrics": {"prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}}


def test_metrics_the_rules_and_dashboard_read_are_metrics_the_server_exports() -> None:
    """A renamed metric would leave an alert that never fires: every name is checked against
    what admission/server/metrics.py registers (its source names them)."""
    source = (Path(__file__).resolve().parents[2] / "admission/server/metrics.py").read_text()
    for name in KNOWN_METRICS - {"up"}:
        base = re.sub(r"_(total|bucket)$", "", name)
        assert f'"{base}"' in source, name
    docs = objects(MONITORING)
    rules = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
    dashboard = json.loads(
        next(d for d in docs if d["kind"] == "ConfigMap" and "argo-admission.json" in d["data"])[
            "data"
        ]["argo-admission.json"]
    )
    exprs = [r["expr"] for r in rules] + [
        t["expr"] for panel in dashboard["panels"] for t in panel["targets"]
    ]
    for expr in exprs:
        used = set(METRIC.findall(expr))
        assert used and used <= KNOWN_METRICS, expr


def test_the_rules_select_what_the_service_monitor_scrapes() -> None:
    docs = objects(
        {**MONITORING, "metrics": {**MONITORING["metrics"], "serviceMonitor": {"enabled": True}}}
    )
    service = one(docs, "Service")["metadata"]
    assert one(docs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    rules = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
    down = next(r for r in rules if r["alert"] == "ArgoAdmissionDown")
    assert f'namespace="{service["namespace"]}",job="{service["name"]}"' in down["expr"]
    assert {r["alert"] for r in rules} >= {
        "ArgoAdmissionDown",
        "ArgoAdmissionErrors",
        "ArgoAdmissionCertificateExpiry",
        "ArgoAdmissionAuditStale",
    }
    slow = next(r for r in rules if r["alert"] == "ArgoAdmissionSlow")
    assert slow["expr"].endswith("> 5")  # half the default timeoutSeconds (10)


def test_monitoring_objects_are_off_by_default_and_the_audit_alerts_follow_the_audit() -> None:
    assert not {"PrometheusRule", "ServiceMonitor"} & kinds(objects())
    assert not any("argo-admission.json" in d.get("data", {}) for d in objects())
    off = objects({**MONITORING, "backgroundAudit": {"enabled": False}})
    alerts = {r["alert"] for r in one(off, "PrometheusRule")["spec"]["groups"][0]["rules"]}
    assert "ArgoAdmissionAuditStale" not in alerts


def test_the_dashboard_has_its_sidecar_label_and_a_namespace_variable() -> None:
    docs = objects(MONITORING)
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and "argo-admission.json" in d["data"])
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["argo-admission.json"])
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "namespace"]
    assert dashboard["uid"] == "argo-admission" and len(dashboard["panels"]) >= 5


# --- Events ------------------------------------------------------------------------------------


def test_events_are_on_by_default_limited_and_granted() -> None:
    docs = objects()
    args = server_container(docs)["args"]
    assert args[args.index("--events-per-minute") + 1] == "60"
    rules = one(docs, "ClusterRole")["rules"]
    assert {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]} in rules


def test_events_switched_off_leave_no_flag_and_no_grant() -> None:
    docs = objects({"events": {"enabled": False}})
    assert "--events-per-minute" not in server_container(docs)["args"]
    assert all("events" not in r["resources"] for r in one(docs, "ClusterRole")["rules"])


def test_a_plain_metrics_port_is_served_exposed_and_scraped() -> None:
    values = {"metrics": {"plainPort": 9090, "serviceMonitor": {"enabled": True}}}
    values["networkPolicy"] = {"enabled": True}
    docs = objects(values)
    container = server_container(docs)
    assert container["args"][container["args"].index("--metrics-port") + 1] == "9090"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    ports = {p["name"]: p for p in one(docs, "Service")["spec"]["ports"]}
    assert ports["metrics"]["port"] == 9090 and ports["metrics"]["targetPort"] == "metrics"
    (endpoint,) = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["scheme"]) == ("metrics", "http")
    assert "tlsConfig" not in endpoint
    allowed = one(docs, "NetworkPolicy")["spec"]["ingress"][0]["ports"]
    assert {"protocol": "TCP", "port": 9090} in allowed
    assert "--metrics-port" not in server_container(objects())["args"]
    assert "plainPort" in render_fails({"metrics": {"plainPort": 8443}})  # the HTTPS port
