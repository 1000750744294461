"""`serve --register-policy` as the chart runs it, on the real API server: the server keeps the
exported ValidatingAdmissionPolicy and narrows the validating webhooks only once it is in force.

The chart is rendered as `helm install` renders it against this API server (it serves
admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy, Kubernetes 1.36): its policy file,
its webhook configurations (pointed at a local server), its serve flags and its RBAC, bound to
the server's user. Until the probe can be sent (its Role in `default` withheld) the policy is
installed but the webhooks stay wide; once it is refused by the policy they are narrowed: a
Workflow without a ref is refused by the policy with the webhook never asked (no audit line at
--log-level debug, which writes every decision), a ref to a library template is admitted
without the webhook, and a template UPDATE still goes through it. A second server starting
registers the webhooks un-narrowed and the holder narrows them again; a reload writing another
version is proven before they narrow; a reload to warn mode widens them before the policy is
turned off (its bindings made to match nothing, kept).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from admission.core.vapinstall import INERT, NARROWING, VERSION_ANNOTATION
from chart_render import deep_merge, render, render_policy
from chartserver import Rbac, gone, serve_flags, server_files
from controlplane import ControlPlane
from harness.processes import free_port, wait_for
from identities import ALICE, BOB
from policyvap import create, ensure_namespace
from webhook import serve
from workflows import make_inline_workflow, make_ref_workflow, make_template, unique

pytestmark = pytest.mark.e2e

RELEASE, NAMESPACE = "policy-argo-admission", "policy-install"
VAP_API = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
LIBRARY_LABEL = {"argo-admission.io/library": "approved"}
# The webhook kept away from team-b: the policy must refuse nothing there either.
AWAY = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["team-b"]}
VALUES = {
    "policy": {
        "workflowRestrictions": {"templateReferencing": "Strict"},
        "securityContext": {"mode": "off"},
        "templateLibrary": {"selector": {"matchLabels": LIBRARY_LABEL}},
    },
    "webhook": {"namespaceSelector": {"matchExpressions": [AWAY]}},
}
NARROWED_LINE = "narrowed the enforcing webhooks"
REFUSED_BY_POLICY = (
    f"ValidatingAdmissionPolicy '{RELEASE}' with binding '{RELEASE}' denied request: [strict]"
)


def chart(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart as helm renders it against this API server."""
    return render(
        deep_merge(VALUES, values or {}),
        release=RELEASE,
        namespace=NAMESPACE,
        api_versions=(VAP_API,),
    )


def server_args(docs: list[dict[str, Any]], webhooks: Path, audit: Path) -> list[str]:
    """The chart's serve flags for the cluster jobs, the configurations file made local."""
    keep = ("--library-configmap", "--policy-probe-namespace", "--webhook-owner")
    return serve_flags(docs, "--register-policy", keep, webhooks=webhooks, audit=audit)


def read(admin: k8s.ApiClient, kind: str, name: str) -> dict[str, Any] | None:
    """A ValidatingAdmissionPolicy(Binding) or ValidatingWebhookConfiguration, as stored."""
    api = k8s.AdmissionregistrationV1Api(admin)
    calls = {
        "ValidatingAdmissionPolicy": api.read_validating_admission_policy,
        "ValidatingAdmissionPolicyBinding": api.read_validating_admission_policy_binding,
        "ValidatingWebhookConfiguration": api.read_validating_webhook_configuration,
    }
    try:
        found = calls[kind](name, _preload_content=False)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return json.loads(found.data)  # type: ignore[no-any-return]


def narrowed(admin: k8s.ApiClient) -> bool:
    """Whether every validating webhook of the release carries the narrowing condition."""
    body = read(admin, "ValidatingWebhookConfiguration", RELEASE)
    hooks = (body or {}).get("webhooks") or []
    return bool(hooks) and all(
        NARROWING in {c["name"] for c in h.get("matchConditions") or []} for h in hooks
    )


def inert(admin: k8s.ApiClient) -> bool:
    """Whether the release's binding is turned off (matches nothing)."""
    binding = read(admin, "ValidatingAdmissionPolicyBinding", RELEASE)
    selector = (
        ((binding or {}).get("spec") or {}).get("matchResources", {}).get("namespaceSelector")
    )
    return selector == INERT["namespaceSelector"]  # the API server adds the other defaults


def audit_names(path: Path) -> list[tuple[str, str, str]]:
    """(operation, kind, name) of every decision the server wrote."""
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(line["operation"], line["kind"], line["name"]) for line in lines]


@pytest.fixture
def release(control_plane: ControlPlane, admin: k8s.ApiClient) -> Iterator[Rbac]:
    """The release's namespaces and RBAC; afterwards what the server wrote is deleted (no
    garbage collector runs here to follow the ownerReferences), but for the policies, turned
    off and kept: deleting the last binding of a ConfigMap paramKind stops the API server's
    informer of ConfigMap params for the rest of the session (kubernetes/kubernetes#130887)."""
    ensure_namespace(control_plane, NAMESPACE)
    ensure_namespace(control_plane, "default")
    rbac = Rbac(admin, chart())
    rbac.grant(probe=False)
    try:
        yield rbac
    finally:
        rbac.revoke()
        api = k8s.AdmissionregistrationV1Api(admin)
        for name in (RELEASE, f"{RELEASE}-exempt"):
            gone(
                api.patch_validating_admission_policy_binding,
                name,
                {"spec": {"matchResources": INERT}},
            )
        gone(api.delete_validating_webhook_configuration, RELEASE)
        gone(k8s.CoreV1Api(admin).delete_namespaced_config_map, f"{RELEASE}-library", NAMESPACE)
        leases = k8s.CoordinationV1Api(admin)
        gone(leases.delete_namespaced_lease, "argo-admission-library", NAMESPACE)


def test_the_server_installs_the_policy_and_narrows_the_webhooks_only_once_it_is_in_force(
    control_plane: ControlPlane,
    admin: k8s.ApiClient,
    clean_namespaces: None,
    release: Rbac,  # after clean_namespaces: torn down first, the webhooks gone before it runs
    tmp_path: Path,
) -> None:
    objects = k8s.CustomObjectsApi(admin)
    template = make_template(unique("library"), "team-a")
    template["metadata"]["labels"] = dict(LIBRARY_LABEL)
    objects.create_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "team-a", "workflowtemplates", template
    )
    name = template["metadata"]["name"]
    docs = chart()
    port = free_port()
    webhooks, policy, audit = server_files(
        tmp_path, port, VALUES, release=RELEASE, namespace=NAMESPACE, api=VAP_API
    )
    args = ["--config", str(policy), *server_args(docs, webhooks, audit)]
    with serve(control_plane, tmp_path, *args, port=port):
        installed = wait_for(
            lambda: read(admin, "ValidatingAdmissionPolicy", RELEASE),
            what="the server to install the policy",
            timeout=60,
        )
        owner = installed["metadata"]["ownerReferences"][0]
        clusterrole = next(d for d in docs if d["kind"] == "ClusterRole")["metadata"]["name"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "ClusterRole",
            clusterrole,
            release.uid(clusterrole),
        )
        assert VERSION_ANNOTATION in installed["metadata"]["annotations"]
        core = k8s.CoreV1Api(admin)
        index = wait_for(  # deleted with the policy it feeds
            lambda: core.read_namespaced_config_map(f"{RELEASE}-library", NAMESPACE),
            until=lambda found: found.metadata.owner_references,
            what="the index to be owned by the ClusterRole",
        )
        assert [(o.kind, o.uid) for o in index.metadata.owner_references] == [
            ("ClusterRole", owner["uid"])
        ]
        inline = make_inline_workflow(unique("inline"), "team-a")
        wait_for(  # in force: alice's Workflow without a ref is refused by the policy itself
            lambda: create(control_plane, inline, namespace="team-a", user=ALICE, groups=["team"]),
            until=lambda answer: REFUSED_BY_POLICY in answer.message,
            what="the policy to decide",
        )
        time.sleep(3)  # several of the server's looks: the probe cannot be sent, nothing narrows
        assert read(admin, "ValidatingWebhookConfiguration", RELEASE) is not None
        assert not narrowed(admin)
        release.grant(probe=True)
        wait_for(lambda: narrowed(admin), what="the webhooks to be narrowed", timeout=60)
        before = len(audit_names(audit))

        refused = create(
            control_plane, inline, namespace="team-a", user=ALICE, groups=["team"], dry_run=False
        )
        assert refused.status == 403 and REFUSED_BY_POLICY in refused.message, refused
        ref = make_ref_workflow(unique("ref"), "team-a", name)
        admitted = create(
            control_plane, ref, namespace="team-a", user=ALICE, groups=["team"], dry_run=False
        )
        assert admitted.status == 201, admitted.message
        template["metadata"] = {
            **objects.get_namespaced_custom_object(
                "argoproj.io", "v1alpha1", "team-a", "workflowtemplates", name
            )["metadata"]
        }
        template["metadata"]["annotations"] = {"note": "edited"}
        objects.replace_namespaced_custom_object(  # the library's owner edits it
            "argoproj.io", "v1alpha1", "team-a", "workflowtemplates", name, template
        )
        seen = wait_for(
            lambda: audit_names(audit)[before:] or None,
            until=lambda new: ("UPDATE", "WorkflowTemplate", name) in new,
            what="the template UPDATE to reach the webhook",
        )
        asked = {entry[2] for entry in seen}
        assert inline["metadata"]["name"] not in asked  # decided by the policy alone
        assert ref["metadata"]["name"] not in asked
        binding = read(admin, "ValidatingAdmissionPolicyBinding", RELEASE)
        assert binding is not None
        assert (
            binding["spec"]["matchResources"]["namespaceSelector"]
            == next(yaml.safe_load_all(webhooks.read_text()))["webhooks"][0]["namespaceSelector"]
        )
        away = make_inline_workflow(unique("away"), "team-b")
        answer = create(control_plane, away, namespace="team-b", user=BOB, groups=["team"])
        assert answer.status == 201, answer.message  # neither the webhook nor the policy

        # the index deleted by someone: written again (with its owner) at the holder's next look
        core.delete_namespaced_config_map(f"{RELEASE}-library", NAMESPACE)
        wait_for(
            lambda: core.read_namespaced_config_map(f"{RELEASE}-library", NAMESPACE),
            until=lambda found: found.metadata.owner_references and name in str(found.data),
            what="the index to be written again",
        )
        time.sleep(11)  # past a look again (every 10 s): what the API server stored says the same
        assert narrowed(admin)
        assert (
            "the policy was changed in the API server" not in (tmp_path / "serve.log").read_text()
        )

        # a second server starting registers the configurations un-narrowed; the holder of the
        # Lease (the first) narrows them again at its next look, after a new probe
        log_path, second = tmp_path / "serve.log", tmp_path / "second"
        second.mkdir()
        narrowings = log_path.read_text().count(NARROWED_LINE)
        args2 = ["--config", str(policy), *server_args(docs, webhooks, second / "audit.log")]
        with serve(control_plane, second, *args2):
            wait_for(
                lambda: (
                    "updated ValidatingWebhookConfiguration" in (second / "serve.log").read_text()
                ),
                what="the second server to register the webhooks un-narrowed",
            )
            wait_for(
                lambda: log_path.read_text().count(NARROWED_LINE) > narrowings,
                what="the holder to narrow them again",
            )
            assert narrowed(admin)

        # another version (an exempt user more): proven again before the webhooks narrow
        old = installed["metadata"]["annotations"][VERSION_ANNOTATION]
        exempt = deep_merge(VALUES, {"policy": {"exemptions": {"users": ["ci-deployer"]}}})
        policy.write_text(render_policy(exempt, release=RELEASE, namespace=NAMESPACE))
        newer = wait_for(
            lambda: read(admin, "ValidatingAdmissionPolicy", RELEASE),
            until=lambda found: found["metadata"]["annotations"][VERSION_ANNOTATION] != old,
            what="the server to write the new version",
        )["metadata"]["annotations"][VERSION_ANNOTATION]
        wait_for(lambda: narrowed(admin), what="the webhooks narrowed again", timeout=60)
        stale = make_inline_workflow(unique("stale"), "team-a")
        stale["metadata"]["annotations"] = {VERSION_ANNOTATION: old}
        answer = create(control_plane, stale, namespace="team-a", user=ALICE, groups=["team"])
        assert f"policy probe: the annotation {VERSION_ANNOTATION}" in answer.message, answer
        assert newer in answer.message  # a probe of the old version is not taken for the new
        log = (tmp_path / "serve.log").read_text()
        assert log.index(f"policy version {newer} replaces") < log.rindex(
            "wrote ValidatingAdmissionPolicy"
        )  # widened before the new version was written

        # the reverse: the live policy in warn mode widens the webhooks, then turns the policy
        # off (its bindings match nothing; deleted, the API server's ConfigMap param informer
        # would stop for good: kubernetes/kubernetes#130887)
        warn = deep_merge(VALUES, {"policy": {"mode": "warn"}})
        policy.write_text(render_policy(warn, release=RELEASE, namespace=NAMESPACE))
        samples = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            on = not inert(admin)
            samples.append((on, narrowed(admin)))
            if not on:
                break
            time.sleep(0.05)
        assert samples[-1] == (False, False), "the policy was not turned off"
        assert (False, True) not in samples  # never off while the webhooks were narrow
        widened_at = next(i for i, (_, narrow) in enumerate(samples) if not narrow)
        assert any(on for on, _ in samples[widened_at:])  # widened first
        assert read(admin, "ValidatingAdmissionPolicy", RELEASE) is not None  # kept
        stale = make_inline_workflow(unique("off"), "team-a")
        wait_for(  # once the API server sees the binding off, the webhook warns alone
            lambda: create(control_plane, stale, namespace="team-a", user=ALICE, groups=["team"]),
            until=lambda answer: answer.status == 201 and answer.warnings,
            what="the policy to stop deciding",
        )
