"""The audit in the cluster, on the real API server: PolicyReports, the findings metric, one writer.

The server runs as the webhook's identity with the RBAC the chart renders (ClusterRole and Role
bound to it) and the PolicyReport CRDs the chart installs. Objects created before the door
(straight through the API, no webhook registered) are what the audit must find. The Lease is
the chart's, in Argo's namespace here (the release namespace of the rendered chart). With Argo's
controller (both versions): a Workflow the audit reports under Secure is the one Argo then fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import requests
from kubernetes import client as k8s
from kubernetes import utils as k8s_utils

from admission.cluster.leases import LeaseElector
from argocontroller import WorkflowController
from chart_render import render
from controlplane import ControlPlane
from expect import NS, SPEC_CHANGED
from harness.processes import wait_for
from identities import WEBHOOK, user_subject
from library import start_running
from webhook import CLI as BIN
from webhook import Webhook, serve
from workflows import (
    create,
    custom,
    get_workflow,
    make_cluster_template,
    make_cron_workflow,
    make_inline_workflow,
    make_ref_workflow,
    make_steps_template,
    make_template,
    status,
    unique,
    wait_for_phase,
)

pytestmark = pytest.mark.e2e

RELEASE: Final = "audit-e2e"
NAMESPACE: Final = "argo"
LEASE: Final = f"{RELEASE}-argo-admission-audit"
REPORTS: Final = ("wgpolicyk8s.io", "v1alpha2")
INTERVAL: Final = "2s"
SERIES = re.compile(r"^argo_admission_audit_findings\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


@pytest.fixture(scope="module")
def chart_rbac(control_plane: ControlPlane) -> Iterator[None]:
    """The chart's PolicyReport CRDs, and its ClusterRole and Role bound to the webhook's user."""
    admin = control_plane.client("admin")
    docs = render(release=RELEASE, namespace=NAMESPACE)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
    assert len(crds) == 2 and len(roles) == 2, [d["kind"] for d in docs]
    created = list(roles)
    for role in roles:
        kind = "RoleBinding" if role["kind"] == "Role" else "ClusterRoleBinding"
        created.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": kind,
                "metadata": {**role["metadata"], "name": f"{role['metadata']['name']}-e2e"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": role["kind"],
                    "name": role["metadata"]["name"],
                },
                "subjects": [user_subject(WEBHOOK)],
            }
        )
    control_plane.create_crds(crds)
    for body in created:
        k8s_utils.create_from_dict(admin, body)
    reports = custom(control_plane.client(WEBHOOK))
    wait_for(
        lambda: reports.list_cluster_custom_object(*REPORTS, "policyreports"),
        what="the webhook's user to list PolicyReports",
    )
    try:
        yield
    finally:
        delete_objects(admin, created)
        control_plane.delete_crds(crd["metadata"]["name"] for crd in crds)


def delete_objects(admin: k8s.ApiClient, objects: list[dict[str, Any]]) -> None:
    """Delete the roles and bindings the fixture created, and the Lease."""
    rbac = k8s.RbacAuthorizationV1Api(admin)
    calls = {
        "ClusterRole": rbac.delete_cluster_role,
        "ClusterRoleBinding": rbac.delete_cluster_role_binding,
        "Role": lambda name: rbac.delete_namespaced_role(name, NAMESPACE),
        "RoleBinding": lambda name: rbac.delete_namespaced_role_binding(name, NAMESPACE),
    }
    for body in reversed(objects):
        calls[body["kind"]](body["metadata"]["name"])
    leases = k8s.CoordinationV1Api(admin)
    for lease in leases.list_namespaced_lease(NAMESPACE).items:
        if lease.metadata.name.startswith(LEASE):
            leases.delete_namespaced_lease(lease.metadata.name, NAMESPACE)


# --- one holder ---------------------------------------------------------------------------------


def test_the_lease_has_one_holder_and_passes_on_release_or_expiry(
    control_plane: ControlPlane, chart_rbac: None, record_property: Any
) -> None:
    """Two candidates as the webhook's user, on the chart's Role: the holder keeps the Lease while
    it renews; released, the other takes it at once; left to expire, only after its duration."""
    api = control_plane.client(WEBHOOK)
    a, b = (
        LeaseElector(api, NAMESPACE, LEASE, identity=who, duration=3, renew=0.5)
        for who in ("a", "b")
    )
    assert a.try_acquire_or_renew() and a.is_leader()
    for _ in range(4):  # b never takes it while a renews, past a's duration
        assert not b.try_acquire_or_renew() and not b.is_leader()
        time.sleep(1)
        assert a.try_acquire_or_renew()
    a.release()
    assert not a.is_leader()
    assert b.try_acquire_or_renew(), "a released Lease is free at once"
    began = time.monotonic()  # b stops renewing: it died
    wait_for(a.try_acquire_or_renew, what="a to take the expired Lease", timeout=15, interval=0.25)
    waited = time.monotonic() - began
    record_property("lease-expiry-takeover-seconds", round(waited, 2))
    assert waited >= 3 - 0.5, "taken before the holder's duration ran out"
    lease = k8s.CoordinationV1Api(api).read_namespaced_lease(LEASE, NAMESPACE)
    assert lease.spec.holder_identity == "a"
    assert lease.spec.lease_transitions == 2
    a.release()


# --- reports and the metric -------------------------------------------------------------------


@pytest.fixture
def pre_existing(control_plane: ControlPlane, clean_namespaces: None) -> Iterator[dict[str, str]]:
    """Objects created before any door: two that break Strict, two that do not, a template."""
    admin = control_plane.client("admin")
    names = {key: unique(key) for key in ("inline", "cron", "library", "ref", "cluster")}
    create(admin, make_template(names["library"], "team-a"))
    create(admin, make_inline_workflow(names["inline"], "team-a"))
    create(admin, make_ref_workflow(names["ref"], "team-a", names["library"]))
    create(
        admin,
        make_cron_workflow(
            names["cron"],
            "team-b",
            {
                "entrypoint": "main",
                "templates": [{"name": "main", "container": {"image": "alpine"}}],
            },
        ),
    )
    custom(admin).create_cluster_custom_object(
        "argoproj.io",
        "v1alpha1",
        "clusterworkflowtemplates",
        make_cluster_template(names["cluster"]),
    )
    try:
        yield names
    finally:
        custom(admin).delete_cluster_custom_object(
            "argoproj.io", "v1alpha1", "clusterworkflowtemplates", names["cluster"]
        )


def reports_of(api: k8s.ApiClient) -> dict[str, dict[str, Any]]:
    """argo-admission's reports by namespace ("" for the ClusterPolicyReport)."""
    objects = custom(api)
    selector = "app.kubernetes.io/managed-by=argo-admission"
    found = objects.list_cluster_custom_object(*REPORTS, "policyreports", label_selector=selector)[
        "items"
    ]
    found += objects.list_cluster_custom_object(
        *REPORTS, "clusterpolicyreports", label_selector=selector
    )["items"]
    return {r["metadata"].get("namespace", ""): r for r in found}


def problems_in(reports: dict[str, dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """(kind, namespace, name, rule) of every fail, warn and error result."""
    return {
        (res["kind"], res.get("namespace", ""), res["name"], result["rule"])
        for report in reports.values()
        for result in report.get("results") or []
        if result["result"] in ("fail", "warn", "error")
        for res in result["resources"]
    }


def findings_metric(hook: Webhook) -> dict[tuple[str, str, str], float]:
    """argo_admission_audit_findings by (rule, kind, namespace), as /metrics says now."""
    text = requests.get(f"{hook.url}/metrics", verify=hook.ca, timeout=10).text
    out = {}
    for match in SERIES.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        out[(labels["rule"], labels["kind"], labels["namespace"])] = float(match["value"])
    return out


def test_the_audit_reports_what_existed_before_the_door(
    control_plane: ControlPlane,
    chart_rbac: None,
    pre_existing: dict[str, str],
    tmp_path: Path,
    record_property: Any,
) -> None:
    webhook_api = control_plane.client(WEBHOOK)
    mine = {
        ("Workflow", "team-a", pre_existing["inline"], "strict"),
        ("CronWorkflow", "team-b", pre_existing["cron"], "strict"),
    }
    with serve(
        control_plane,
        tmp_path,
        "--background-audit",
        INTERVAL,
        "--audit-lease",
        f"{NAMESPACE}/{LEASE}",
    ) as hook:
        began = time.monotonic()
        reports = wait_for(
            lambda: reports_of(webhook_api),
            until=lambda r: mine <= problems_in(r) and "" in r,
            what="PolicyReports naming the objects made before the door",
        )
        record_property("first-reports-seconds", round(time.monotonic() - began, 2))
        found = problems_in(reports)
        record_property("policyreport-findings", sorted(found))
        # the ref Workflow passes; its template and the cluster template break no rule, but
        # lack the default policy's securityContext baseline, which only a CREATE through the
        # door adds (rule mutate, a warn)
        passed = {
            (res["kind"], res["name"])
            for report in reports.values()
            for result in report["results"]
            if result["result"] == "pass"
            for res in result["resources"]
        }
        assert ("Workflow", pre_existing["ref"]) in passed
        templates = {
            ("WorkflowTemplate", pre_existing["library"]),
            ("ClusterWorkflowTemplate", pre_existing["cluster"]),
        }
        about_templates = {
            (result["rule"], result["result"])
            for report in reports.values()
            for result in report["results"]
            for res in result["resources"]
            if (res["kind"], res["name"]) in templates
        }
        assert about_templates == {("mutate", "warn")}
        assert reports["team-a"]["summary"]["fail"] >= 1
        assert reports["team-a"]["scope"] == {
            "apiVersion": "v1",
            "kind": "Namespace",
            "name": "team-a",
        }
        # the CLI, on the same cluster, finds the same
        cli = subprocess.run(
            [
                str(BIN),
                "audit",
                "--kubeconfig",
                str(control_plane.kubeconfig(WEBHOOK)),
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert cli.returncode == 1, cli.stderr
        listed = {(f["kind"], f["namespace"], f["name"], f["rule"]) for f in json.loads(cli.stdout)}
        assert listed == found
        # the gauge says as much, then follows a fix
        metric = wait_for(
            lambda: findings_metric(hook),
            until=lambda m: m.get(("strict", "Workflow", "team-a")) == 1,
            what="the findings gauge",
        )
        assert metric[("strict", "CronWorkflow", "team-b")] == 1
        custom(control_plane.client("admin")).delete_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "team-a", "workflows", pre_existing["inline"]
        )
        wait_for(
            lambda: findings_metric(hook),
            until=lambda m: m.get(("strict", "Workflow", "team-a")) == 0,
            what="the gauge to drop once the Workflow is gone",
        )
        wait_for(
            lambda: problems_in(reports_of(webhook_api)),
            until=lambda p: ("Workflow", "team-a", pre_existing["inline"], "strict") not in p,
            what="the report of team-a to drop the deleted Workflow",
        )


@pytest.mark.argo
def test_the_audit_reports_a_workflow_argo_will_fail_and_argo_then_fails_it(
    control_plane: ControlPlane,
    chart_rbac: None,
    argo_secure: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    tmp_path: Path,
    record_property: Any,
) -> None:
    """Secure (the default policy, as Argo's controller here): the library template is edited
    while a Workflow of it runs and the controller is down (an upgrade, say). The audit compares
    the Workflow joined over the template as it is now with the spec it stored, and reports it
    (rule secure, the diff); the controller, back, makes the same compare and errors it."""
    template = create(admin, make_steps_template(unique("library"), NS))
    name = start_running(alice, admin, template["metadata"]["name"])
    argo_secure.stop()
    templates = ("argoproj.io", "v1alpha1", NS, "workflowtemplates", template["metadata"]["name"])
    template = custom(admin).get_namespaced_custom_object(*templates)
    template["spec"]["arguments"]["parameters"][0]["value"] = "edited"
    custom(admin).replace_namespaced_custom_object(*templates, template)
    with serve(
        control_plane,
        tmp_path,
        "--background-audit",
        INTERVAL,
        "--audit-lease",
        f"{NAMESPACE}/{LEASE}",
    ):
        reports = wait_for(
            lambda: reports_of(control_plane.client(WEBHOOK)),
            until=lambda r: ("Workflow", NS, name, "secure") in problems_in(r),
            what="the audit to report the running Workflow",
        )
    (result,) = [r for r in reports[NS]["results"] if r["rule"] == "secure"]
    record_property("secure-finding", result["message"])
    assert result["result"] == "fail"
    assert "spec.arguments.parameters[name=msg].value: 'hello' -> 'edited'" in result["message"]
    assert status(get_workflow(admin, NS, name))["phase"] == "Running"
    argo_secure.start("Secure")
    ended = status(wait_for_phase(admin, NS, name, ["Error", "Failed", "Succeeded"]))
    assert (ended["phase"], ended.get("message")) == ("Error", SPEC_CHANGED)


def test_one_server_of_two_writes_and_the_other_takes_over_when_it_stops(
    control_plane: ControlPlane,
    chart_rbac: None,
    pre_existing: dict[str, str],
    tmp_path: Path,
    record_property: Any,
) -> None:
    """Two servers of two workers each: four candidates, one holder, one server auditing."""
    args = (
        "--background-audit",
        INTERVAL,
        "--audit-lease",
        f"{NAMESPACE}/{LEASE}",
        "--workers",
        "2",
    )
    leases = k8s.CoordinationV1Api(control_plane.client("admin"))
    with (
        serve(control_plane, tmp_path / "one", *args) as one,
        serve(control_plane, tmp_path / "two", *args) as two,
    ):
        holder = wait_for(
            lambda: leases.read_namespaced_lease(LEASE, NAMESPACE).spec.holder_identity,
            what="a holder of the audit Lease",
        )
        wait_for(
            lambda: runs(one) + runs(two), until=lambda n: n >= 2, what="two audits by the holder"
        )
        first, second = (one, two) if server_of(holder) == one.process.pid else (two, one)
        assert server_of(holder) == first.process.pid
        assert runs(second) == 0, "the server without the Lease audited"
        began = time.monotonic()
        first.process.stop(grace=20)  # SIGTERM: the holder gives the Lease up as it stops
        taken = wait_for(
            lambda: leases.read_namespaced_lease(LEASE, NAMESPACE).spec.holder_identity,
            until=lambda who: who and server_of(who) == second.process.pid,
            what="the other server to take the Lease",
            timeout=40,
        )
        wait_for(lambda: runs(second), until=lambda n: n >= 1, what="the new holder to audit")
        record_property("takeover-seconds", round(time.monotonic() - began, 2))
        assert taken != holder


def runs(hook: Webhook) -> int:
    """argo_admission_audit_runs_total{result="ok"} of one server (0 once it has stopped)."""
    try:
        text = requests.get(f"{hook.url}/metrics", verify=hook.ca, timeout=10).text
    except requests.RequestException:
        return 0
    match = re.search(r'^argo_admission_audit_runs_total\{result="ok"\} (\S+)$', text, re.M)
    return int(float(match[1])) if match else 0


def server_of(identity: str) -> int:
    """The serve process (gunicorn's master) whose worker holds `identity` (HOST_PID)."""
    pid = identity.rsplit("_", 1)[-1]
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return int(re.search(r"^PPid:\s+(\d+)$", status, re.M)[1])  # type: ignore[index]
