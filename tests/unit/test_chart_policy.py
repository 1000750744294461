"""The chart's validatingAdmissionPolicy: where `auto` lets the servers keep the exported policy
(the cluster serves it, Kubernetes >= 1.35, Strict or Secure in enforce mode), what that adds
(serve's flags, RBAC for the policy, the library index, its Lease and the probe), and that
everywhere else the render is byte for byte the webhook-only one."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from chart_render import NAMESPACE, RELEASE, RenderError, deep_merge, render, render_text

pytestmark = pytest.mark.chart

VAP_API = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
# cert-manager's TLS: nothing random in the render, so two renders compare byte for byte
FIXED = {"tls": {"mode": "cert-manager", "certManager": {"createIssuer": True}}}
OFF = {"validatingAdmissionPolicy": {"enabled": False}}
CLUSTER_ROLE = f"{NAMESPACE}:{RELEASE}"


def values(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return deep_merge(FIXED, extra or {})


def args_of(docs: list[dict[str, Any]]) -> list[str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return [str(a) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.mark.parametrize(
    ("extra", "kube_version", "api_versions"),
    [
        ({}, "1.36.3", ()),
        ({}, "1.34.0", (VAP_API,)),
        ({"policy": {"workflowRestrictions": {"templateReferencing": ""}}}, "1.36.3", (VAP_API,)),
        ({"policy": {"mode": "warn"}}, "1.36.3", (VAP_API,)),
        ({"webhook": {"registration": "helm"}}, "1.36.3", (VAP_API,)),
    ],
    ids=["api-not-served", "kubernetes-1.34", "no-restriction", "warn-mode", "helm-registers"],
)
def test_auto_renders_the_webhook_only_set_up_byte_for_byte_where_the_policy_cannot_decide(
    extra: dict[str, Any], kube_version: str, api_versions: tuple[str, ...]
) -> None:
    auto = render_text(values(extra), kube_version=kube_version, api_versions=api_versions)
    off = render_text(
        deep_merge(values(extra), OFF), kube_version=kube_version, api_versions=api_versions
    )
    assert auto == off
    assert "--register-policy" not in auto
    assert "validatingadmissionpolicies" not in auto
    cluster = next(
        d for d in yaml.safe_load_all(auto) if isinstance(d, dict) and d["kind"] == "ClusterRole"
    )
    assert not any("configmaps" in r["resources"] for r in cluster["rules"])  # none to read


def test_auto_keeps_the_policy_where_the_cluster_serves_it_and_strict_is_enforced() -> None:
    docs = render(values(), api_versions=(VAP_API,))
    args = args_of(docs)
    assert "--register-policy" in args
    assert flag(args, "--library-configmap") == f"{NAMESPACE}/{RELEASE}-library"
    assert flag(args, "--policy-probe-namespace") == "default"
    assert flag(args, "--webhook-owner") == f"{NAMESPACE}:{RELEASE}"  # owned like the webhooks


def test_only_the_servers_flags_and_the_policys_rbac_differ_from_the_webhook_only_render() -> None:
    on = render(values(), api_versions=(VAP_API,))
    off = render(deep_merge(values(), OFF), api_versions=(VAP_API,))

    def key(doc: dict[str, Any]) -> tuple[str, str, str]:
        meta = doc["metadata"]
        return doc["kind"], meta.get("namespace", ""), meta["name"]

    before, after = {key(d): d for d in off}, {key(d): d for d in on}
    changed = {k for k in before if before[k] != after.get(k)}
    added = set(after) - set(before)
    assert changed == {("Deployment", NAMESPACE, RELEASE), ("ClusterRole", "", CLUSTER_ROLE)}
    assert added == {
        ("Role", NAMESPACE, f"{RELEASE}-policy"),
        ("RoleBinding", NAMESPACE, f"{RELEASE}-policy"),
        ("Role", "default", f"{RELEASE}-policy"),
        ("RoleBinding", "default", f"{RELEASE}-policy"),
        ("Lease", NAMESPACE, "argo-admission-library"),  # helm uninstall deletes it
    }
    # the webhook configurations handed to the servers are not narrowed by the chart: the
    # servers narrow them once the policy is proven in force
    webhooks = next(d for d in on if d["metadata"]["name"] == f"{RELEASE}-webhooks")
    assert webhooks == before[("ConfigMap", NAMESPACE, f"{RELEASE}-webhooks")]


def rules_of(docs: list[dict[str, Any]], kind: str, namespace: str = "") -> list[dict[str, Any]]:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"].get("namespace", "") == namespace
        and d["metadata"]["name"].endswith("-policy" if kind == "Role" else "")
    ]
    assert len(found) == 1, found
    return list(found[0]["rules"])


def test_the_servers_may_write_only_their_own_policies_the_index_and_its_lease() -> None:
    docs = render(values(), api_versions=(VAP_API,))
    cluster = rules_of(docs, "ClusterRole")
    named = [r for r in cluster if "validatingadmissionpolicies" in r["resources"]]
    assert [r.get("resourceNames") for r in named] == [
        None,
        [RELEASE, f"{RELEASE}-exempt"],
    ]
    assert named[0]["verbs"] == ["create"]  # create cannot be limited by name
    # what the API server asks of whoever creates a policy with a ConfigMap paramKind
    assert {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]} in cluster
    webhooks = next(d for d in docs if d["metadata"]["name"] == f"{RELEASE}-webhooks")
    validating = next(yaml.safe_load_all(webhooks["data"]["webhooks.yaml"]))
    assert validating["metadata"]["name"] == RELEASE  # the policy is named as what it narrows
    own = rules_of(docs, "Role", NAMESPACE)
    assert {"configmaps": [f"{RELEASE}-library"], "leases": ["argo-admission-library"]} == {
        r["resources"][0]: r["resourceNames"] for r in own if "resourceNames" in r
    }
    probe = rules_of(docs, "Role", "default")
    assert probe == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}
    ]


def test_true_keeps_the_policy_even_where_the_render_cannot_see_the_api() -> None:
    docs = render(
        values(
            {
                "validatingAdmissionPolicy": {"enabled": True, "probeNamespace": "team-a"},
                "policy": {"workflowRestrictions": {"templateReferencing": ""}},
            }
        )
    )
    args = args_of(docs)
    assert "--register-policy" in args
    assert flag(args, "--policy-probe-namespace") == "team-a"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"validatingAdmissionPolicy": {"enabled": True}, "webhook": {"registration": "helm"}},
            "needs webhook.registration=server",
        ),
        (
            {"validatingAdmissionPolicy": {"enabled": True, "probeNamespace": "kube-system"}},
            "probeNamespace kube-system is exempt",
        ),
        ({"validatingAdmissionPolicy": {"enabled": "yes"}}, "validatingAdmissionPolicy"),
    ],
    ids=["helm-registers", "probe-in-an-exempt-namespace", "not-auto-true-or-false"],
)
def test_contradicting_values_fail_with_the_key_to_change(
    extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError) as error:
        render(values(extra))
    assert message in error.value.stderr


def test_the_rendered_flags_start_a_server_that_keeps_the_policy(tmp_path: Any) -> None:
    """The chart's args as the CLI reads them, with the webhooks file the chart mounts: no
    start-up problem, and the policy kept under the validating configuration's name."""
    import dataclasses

    from admission.cli.main import build_parser, options_of
    from admission.cluster.registration import read_configurations, validating_name
    from admission.server.options import ServeOptions, start_problem

    docs = render(values(), api_versions=(VAP_API,))
    webhooks = next(d for d in docs if d["metadata"]["name"] == f"{RELEASE}-webhooks")
    path = tmp_path / "webhooks.yaml"
    path.write_text(webhooks["data"]["webhooks.yaml"])
    options = options_of(ServeOptions, build_parser().parse_args(args_of(docs)))
    assert options.register_policy
    local = dataclasses.replace(options, register_webhooks=str(path), kubeconfig="kubeconfig")
    assert start_problem(local) == ""
    assert validating_name(read_configurations(path)) == RELEASE
