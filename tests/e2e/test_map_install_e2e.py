"""`serve --register-mutating-policy` as the chart runs it, on the real API server: the server
keeps the exported MutatingAdmissionPolicy and narrows the mutating webhook only once a probe
proves that version mutates.

The chart is rendered as `helm install` renders it against this API server (it serves
admissionregistration.k8s.io/v1 MutatingAdmissionPolicy, Kubernetes 1.36): its policy file (the
default securityContext baseline, and workflowDefaults whose ttlStrategy is a refDefault), its
webhook configurations (pointed at a local server), its serve flags and its RBAC, bound to the
server's user. Until the probe can be sent (its Role in `default` withheld) the policy is
installed but the webhook stays wide; once a probe template comes back marked by that version
it is narrowed: a template CREATE gets the baseline from the policy with /mutate never asked (no
mutate line in the audit file at --log-level debug, which writes every decision; its validate
line is there), and a ref Workflow still reaches /mutate for its refDefaults. A reload writing
another version widens the webhook first and narrows it once that version marks the probe; a
reload to warn mode widens it before the binding is turned off (made to match nothing, kept).
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

from admission.core.mapinstall import NARROWING, VERSION_ANNOTATION
from admission.core.vapinstall import INERT
from chart_render import deep_merge, render, render_policy
from chartserver import Rbac, gone, serve_flags, server_files
from controlplane import ControlPlane
from harness.processes import free_port, wait_for
from identities import ALICE
from policymap import allow_writes, path_of, revoke_writes
from policyvap import create, ensure_namespace, send
from webhook import serve
from workflows import make_ref_workflow, make_template, unique

pytestmark = pytest.mark.e2e

RELEASE, NAMESPACE = "map-argo-admission", "map-install"
MAP_API = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
TTL = {"secondsAfterCompletion": 600}
VALUES = {
    "policy": {
        "workflowRestrictions": {"templateReferencing": ""},
        "workflowDefaults": {"spec": {"ttlStrategy": TTL}},
    },
}
NARROWED_LINE = "narrowed the mutating webhook"


def chart(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart as helm renders it against this API server."""
    return render(
        deep_merge(VALUES, values or {}),
        release=RELEASE,
        namespace=NAMESPACE,
        api_versions=(MAP_API,),
    )


def server_args(docs: list[dict[str, Any]], webhooks: Path, audit: Path) -> list[str]:
    """The chart's serve flags for the policy, the configurations file made local."""
    keep = ("--mutating-policy-lease", "--mutating-policy-probe-namespace", "--webhook-owner")
    return serve_flags(docs, "--register-mutating-policy", keep, webhooks=webhooks, audit=audit)


def read(admin: k8s.ApiClient, kind: str) -> dict[str, Any] | None:
    """The release's MutatingAdmissionPolicy(Binding) or MutatingWebhookConfiguration."""
    api = k8s.AdmissionregistrationV1Api(admin)
    calls = {
        "MutatingAdmissionPolicy": api.read_mutating_admission_policy,
        "MutatingAdmissionPolicyBinding": api.read_mutating_admission_policy_binding,
        "MutatingWebhookConfiguration": api.read_mutating_webhook_configuration,
    }
    try:
        found = calls[kind](RELEASE, _preload_content=False)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return json.loads(found.data)  # type: ignore[no-any-return]


def narrowed(admin: k8s.ApiClient) -> bool:
    """Whether the release's mutating webhook carries the narrowing condition."""
    hooks = (read(admin, "MutatingWebhookConfiguration") or {}).get("webhooks") or []
    return bool(hooks) and all(
        NARROWING in {c["name"] for c in h.get("matchConditions") or []} for h in hooks
    )


def inert(admin: k8s.ApiClient) -> bool:
    """Whether the release's binding is turned off (matches nothing)."""
    spec = (read(admin, "MutatingAdmissionPolicyBinding") or {}).get("spec") or {}
    return spec.get("matchResources", {}).get("namespaceSelector") == INERT["namespaceSelector"]


def audit_entries(path: Path) -> list[tuple[str, str, str, str]]:
    """(endpoint, operation, kind, name) of every decision the server wrote."""
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(e["endpoint"], e["operation"], e["kind"], e["name"]) for e in lines]


@pytest.fixture
def release(control_plane: ControlPlane, admin: k8s.ApiClient) -> Iterator[Rbac]:
    """The release's namespaces and RBAC, alice's writes; afterwards what the server wrote is
    deleted (no garbage collector runs here to follow the ownerReferences)."""
    ensure_namespace(control_plane, NAMESPACE)
    ensure_namespace(control_plane, "default")
    rbac = Rbac(admin, chart())
    rbac.grant(probe=False)
    allow_writes(control_plane, {ALICE})
    try:
        yield rbac
    finally:
        revoke_writes(control_plane)
        rbac.revoke()
        api = k8s.AdmissionregistrationV1Api(admin)
        gone(api.delete_mutating_admission_policy_binding, RELEASE)
        gone(api.delete_mutating_admission_policy, RELEASE)
        gone(api.delete_mutating_webhook_configuration, RELEASE)
        gone(api.delete_validating_webhook_configuration, RELEASE)
        leases = k8s.CoordinationV1Api(admin)
        gone(leases.delete_namespaced_lease, "argo-admission-mutating-policy", NAMESPACE)


def test_the_server_installs_the_mutating_policy_and_narrows_the_webhook_once_it_mutates(
    control_plane: ControlPlane,
    admin: k8s.ApiClient,
    clean_namespaces: None,
    release: Rbac,  # after clean_namespaces: torn down first, the webhooks gone before it runs
    tmp_path: Path,
) -> None:
    docs = chart()
    port = free_port()
    webhooks, policy, audit = server_files(
        tmp_path, port, VALUES, release=RELEASE, namespace=NAMESPACE, api=MAP_API
    )
    baseline = yaml.safe_load(policy.read_text())["securityContext"]
    args = ["--config", str(policy), *server_args(docs, webhooks, audit)]
    with serve(control_plane, tmp_path, *args, port=port):
        installed = wait_for(
            lambda: read(admin, "MutatingAdmissionPolicy"),
            what="the server to install the mutating policy",
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
        wait_for(lambda: read(admin, "MutatingWebhookConfiguration"), what="the webhook")
        time.sleep(3)  # several of the server's looks: the probe cannot be sent, nothing narrows
        assert not narrowed(admin)
        log = (tmp_path / "serve.log").read_text()
        assert NARROWED_LINE not in log
        release.grant(probe=True)
        wait_for(lambda: narrowed(admin), what="the mutating webhook to be narrowed", timeout=60)
        assert "marked the probe" in (tmp_path / "serve.log").read_text()
        before = len(audit_entries(audit))

        template = make_template(unique("tmpl"), "team-a")
        made = send(
            control_plane,
            "POST",
            path_of(template, "team-a"),
            template,
            user=ALICE,
            groups=["team"],
            dry_run=False,
        )
        assert made.status == 201, made.message
        spec = made.body["spec"]
        for key, value in baseline["pod"].items():
            assert spec["securityContext"][key] == value, spec
        for key, value in baseline["container"].items():
            assert spec["templates"][0]["container"]["securityContext"][key] == value, spec
        name = template["metadata"]["name"]
        ref = make_ref_workflow(unique("ref"), "team-a", name)
        admitted = create(
            control_plane, ref, namespace="team-a", user=ALICE, groups=["team"], dry_run=False
        )
        assert admitted.status == 201, admitted.message
        assert admitted.body["spec"]["ttlStrategy"] == TTL  # refDefaults, by /mutate
        seen = wait_for(
            lambda: audit_entries(audit)[before:] or None,
            until=lambda new: ("mutate", "CREATE", "Workflow", ref["metadata"]["name"]) in new,
            what="the ref Workflow to reach /mutate",
        )
        assert ("validate", "CREATE", "WorkflowTemplate", name) in seen  # the file is written
        assert ("mutate", "CREATE", "WorkflowTemplate", name) not in seen  # the policy alone

        # another version (one more container field): widened before it is written, narrowed
        # again once the probe comes back marked by it, and templates get the new field
        old = installed["metadata"]["annotations"][VERSION_ANNOTATION]
        stricter = {"policy": {"securityContext": {"container": {"readOnlyRootFilesystem": True}}}}
        policy.write_text(
            render_policy(deep_merge(VALUES, stricter), release=RELEASE, namespace=NAMESPACE)
        )
        newer = wait_for(
            lambda: read(admin, "MutatingAdmissionPolicy"),
            until=lambda found: found["metadata"]["annotations"][VERSION_ANNOTATION] != old,
            what="the server to write the new version",
        )["metadata"]["annotations"][VERSION_ANNOTATION]
        wait_for(lambda: narrowed(admin), what="the webhook narrowed again", timeout=60)
        log = (tmp_path / "serve.log").read_text()
        assert log.index(f"mutating policy version {newer} replaces") < log.rindex(
            "wrote MutatingAdmissionPolicy"
        )  # widened before the new version was written
        assert log.rindex(f"version {newer} marked the probe") > log.rindex(
            "wrote MutatingAdmissionPolicy"
        )  # narrowed only after this version marked the probe
        second = make_template(unique("tmpl"), "team-a")
        made = send(
            control_plane, "POST", path_of(second, "team-a"), second, user=ALICE, groups=["team"]
        )
        assert made.status == 201, made.message
        container = made.body["spec"]["templates"][0]["container"]["securityContext"]
        assert container["readOnlyRootFilesystem"] is True

        # the live policy in warn mode: the webhook widened first, then the binding turned off
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
        assert samples[-1] == (False, False), "the binding was not turned off"
        assert (False, True) not in samples  # never off while the webhook was narrow
        widened_at = next(i for i, (_, narrow) in enumerate(samples) if not narrow)
        assert any(on for on, _ in samples[widened_at:])  # widened first
        assert read(admin, "MutatingAdmissionPolicy") is not None  # kept
