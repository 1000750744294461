"""The chart's mutatingAdmissionPolicy: where `auto` lets the servers keep the exported
MutatingAdmissionPolicy (the cluster serves it, enforce mode, a baseline to mutate in), what
that adds (serve's flags, RBAC for the policy, its Lease and the probe), and that everywhere
else the render is byte for byte the webhook-only one."""

from __future__ import annotations

from typing import Any

import pytest

from chart_render import NAMESPACE, RELEASE, RenderError, deep_merge, render, render_text

pytestmark = pytest.mark.chart

MAP_API = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
# cert-manager's TLS: nothing random in the render, so two renders compare byte for byte
FIXED = {"tls": {"mode": "cert-manager", "certManager": {"createIssuer": True}}}
OFF = {"mutatingAdmissionPolicy": {"enabled": False}}
CLUSTER_ROLE = f"{NAMESPACE}:{RELEASE}"
NO_BASELINE = {"policy": {"securityContext": {"mode": "off"}}}


def values(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return deep_merge(FIXED, extra or {})


def args_of(docs: list[dict[str, Any]]) -> list[str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return [str(a) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]]


@pytest.mark.parametrize(
    ("extra", "api_versions"),
    [
        ({}, ()),
        (NO_BASELINE, (MAP_API,)),
        ({"policy": {"securityContext": {"mode": "require"}}}, (MAP_API,)),
        ({"policy": {"mode": "warn"}}, (MAP_API,)),
        ({"webhook": {"registration": "helm"}}, (MAP_API,)),
        ({"webhook": {"mutating": {"enabled": False}}}, (MAP_API,)),
    ],
    ids=[
        "api-not-served",
        "no-baseline",
        "baseline-required-not-mutated",
        "warn-mode",
        "helm-registers",
        "no-mutating-webhook",
    ],
)
def test_auto_renders_the_webhook_only_set_up_byte_for_byte_where_the_policy_cannot_mutate(
    extra: dict[str, Any], api_versions: tuple[str, ...]
) -> None:
    auto = render_text(values(extra), api_versions=api_versions)
    off = render_text(deep_merge(values(extra), OFF), api_versions=api_versions)
    assert auto == off
    assert "--register-mutating-policy" not in auto
    assert "mutatingadmissionpolicies" not in auto


def test_auto_keeps_the_policy_where_the_cluster_serves_it_and_a_baseline_is_enforced() -> None:
    args = args_of(render(values(), api_versions=(MAP_API,)))
    assert "--register-mutating-policy" in args
    assert args[args.index("--mutating-policy-probe-namespace") + 1] == "default"
    assert args[args.index("--webhook-owner") + 1] == CLUSTER_ROLE  # owned like the webhooks
    lease = args[args.index("--mutating-policy-lease") + 1]
    assert lease == f"{NAMESPACE}/argo-admission-mutating-policy"  # where its Role grants it


def test_only_the_servers_flags_and_the_policys_rbac_differ_from_the_webhook_only_render() -> None:
    on = render(values(), api_versions=(MAP_API,))
    off = render(deep_merge(values(), OFF), api_versions=(MAP_API,))

    def key(doc: dict[str, Any]) -> tuple[str, str, str]:
        meta = doc["metadata"]
        return doc["kind"], meta.get("namespace", ""), meta["name"]

    before, after = {key(d): d for d in off}, {key(d): d for d in on}
    changed = {k for k in before if before[k] != after.get(k)}
    added = set(after) - set(before)
    assert changed == {("Deployment", NAMESPACE, RELEASE), ("ClusterRole", "", CLUSTER_ROLE)}
    name = f"{RELEASE}-mutating-policy"
    assert added == {
        ("Role", NAMESPACE, name),
        ("RoleBinding", NAMESPACE, name),
        ("Role", "default", name),
        ("RoleBinding", "default", name),
    }
    # the webhook configurations handed to the servers are not narrowed by the chart
    webhooks = next(d for d in on if d["metadata"]["name"] == f"{RELEASE}-webhooks")
    assert webhooks == before[("ConfigMap", NAMESPACE, f"{RELEASE}-webhooks")]


def test_the_servers_may_write_only_their_own_mutating_policy_its_lease_and_the_probe() -> None:
    docs = render(values(), api_versions=(MAP_API,))
    cluster = next(d for d in docs if d["kind"] == "ClusterRole")["rules"]
    named = [r for r in cluster if "mutatingadmissionpolicies" in r["resources"]]
    assert [(r.get("resourceNames"), r["verbs"]) for r in named] == [
        (None, ["create"]),  # create cannot be limited by name
        ([RELEASE], ["get", "update"]),  # never delete: the binding is turned off instead
    ]
    roles = {
        d["metadata"]["namespace"]: d["rules"]
        for d in docs
        if d["kind"] == "Role" and d["metadata"]["name"] == f"{RELEASE}-mutating-policy"
    }
    assert [r.get("resourceNames") for r in roles[NAMESPACE]] == [
        None,
        ["argo-admission-mutating-policy"],
    ]
    assert roles["default"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtemplates"], "verbs": ["create"]}
    ]


def test_true_keeps_the_policy_even_where_the_render_cannot_see_the_api() -> None:
    args = args_of(
        render(values({"mutatingAdmissionPolicy": {"enabled": True, "probeNamespace": "team-a"}}))
    )
    assert "--register-mutating-policy" in args
    assert args[args.index("--mutating-policy-probe-namespace") + 1] == "team-a"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"mutatingAdmissionPolicy": {"enabled": True}, "webhook": {"registration": "helm"}},
            "mutatingAdmissionPolicy.enabled=true needs webhook.registration=server",
        ),
        (
            {"mutatingAdmissionPolicy": {"enabled": True, "probeNamespace": "kube-system"}},
            "mutatingAdmissionPolicy.probeNamespace kube-system is exempt",
        ),
        (
            {
                "mutatingAdmissionPolicy": {"enabled": True},
                "webhook": {"mutating": {"enabled": False}},
            },
            "mutatingAdmissionPolicy.enabled=true needs the mutating webhook",
        ),
        ({"mutatingAdmissionPolicy": {"enabled": "yes"}}, "mutatingAdmissionPolicy"),
    ],
    ids=[
        "helm-registers",
        "probe-in-an-exempt-namespace",
        "no-mutating-webhook",
        "not-auto-true-or-false",
    ],
)
def test_contradicting_values_fail_with_the_key_to_change(
    extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError) as error:
        render(values(extra))
    assert message in error.value.stderr


def test_the_rendered_flags_start_a_server_that_keeps_the_mutating_policy(tmp_path: Any) -> None:
    """The chart's args as the CLI reads them, with the webhooks file the chart mounts: no
    start-up problem, and the policy kept under the mutating configuration's name."""
    import dataclasses

    from admission.cli.main import build_parser, options_of
    from admission.cluster.registration import read_configurations
    from admission.core.mapinstall import mutating_webhooks
    from admission.server.options import ServeOptions, start_problem

    docs = render(values(), api_versions=(MAP_API,))
    webhooks = next(d for d in docs if d["metadata"]["name"] == f"{RELEASE}-webhooks")
    path = tmp_path / "webhooks.yaml"
    path.write_text(webhooks["data"]["webhooks.yaml"])
    options = options_of(ServeOptions, build_parser().parse_args(args_of(docs)))
    assert options.register_mutating_policy
    local = dataclasses.replace(options, register_webhooks=str(path), kubeconfig="kubeconfig")
    assert start_problem(local) == ""
    name, hooks = mutating_webhooks(read_configurations(path))
    assert name == RELEASE and [h["name"] for h in hooks] == ["mutate.argo-admission.io"]
