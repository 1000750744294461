"""A real `helm install` of the chart on the e2e API server, where no pod ever becomes Ready.

There is no kube-controller-manager and no kubelet here: the chart's Deployment never gets a
ReplicaSet, let alone a Ready pod — an install whose pods never come up. With the default
`webhook.registration: server` the webhook configurations take effect only once a server is
Ready, so `helm install --wait` fails on the wait, Argo's writes keep working, and
`helm uninstall` leaves nothing of the release behind. helm runs as the cluster admin with the
chart's defaults, as the chart's README installs it, with helm 4.

Nothing is left: every resource type the API server serves is listed (discovery), so whatever
the chart renders — today or tomorrow — is covered.

The PolicyReport CRDs the chart installs when the cluster has none stay the release's across
`helm upgrade` (the chart looks them up and renders them again) with the reports in them; CRDs
another tool installed first are left to it, through install and uninstall.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import pytest
import yaml
from kubernetes import client as k8s

from chart_render import CHART_DIR, KUBE_VERSION, render
from controlplane import ControlPlane
from harness.processes import find_binary, wait_for
from identities import ADMIN
from workflows import create, custom, make_inline_workflow, unique

pytestmark = pytest.mark.e2e

RELEASE = NAMESPACE = "argo-admission"
WAIT = "10s"  # nothing can become Ready here; a longer wait proves no more
INSTANCE_LABEL = "app.kubernetes.io/instance"
RELEASE_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
# What helm says when its wait times out: helm 4 waits with kstatus and names what is not
# ready, and why (helm 3 said only "context deadline exceeded").
WAIT_ERROR = (
    f"resource Deployment/{NAMESPACE}/{RELEASE} not ready. "
    "status: InProgress, message: Replicas: 0/2\ncontext deadline exceeded"
)
REPORTS = ("wgpolicyk8s.io", "v1alpha2")
REPORT_CRDS = ("policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io")
# Records of what happened, not objects anyone installs.
EVENTS = {"events", "events.events.k8s.io"}
WEBHOOK_CONFIGURATIONS = {
    f"{kind}webhookconfigurations.admissionregistration.k8s.io"
    for kind in ("validating", "mutating")
}


class ObjectId(NamedTuple):
    """An object on the API server: `resource.group` (`deployments.apps`), namespace, name."""

    resource: str
    namespace: str
    name: str


class Helm:
    """helm (built by setup.sh) as the cluster admin on the e2e API server, with its own empty
    home."""

    def __init__(self, plane: ControlPlane, home: Path) -> None:
        self.wait_error = WAIT_ERROR
        self.binary = find_binary("helm")
        self.env = {
            **os.environ,
            "KUBECONFIG": str(plane.kubeconfig(ADMIN)),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`helm ARGS... --namespace argo-admission`; never raises on helm's exit code."""
        return subprocess.run(
            [str(self.binary), *args, "--namespace", NAMESPACE],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=self.env,
        )

    def manifest(self) -> list[dict[str, Any]]:
        """The objects of the release's current revision (`helm get manifest`)."""
        result = self("get", "manifest", RELEASE)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class Cluster:
    """Every object the API server holds, found through discovery, as the admin sees it."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def get(self, path: str, **query: str) -> dict[str, Any]:
        """GET an API path as the admin; the JSON body."""
        url = f"{self.plane.api_url}{path}" + (f"?{urlencode(query)}" if query else "")
        return dict(json.loads(self.plane.http_get(url, user=ADMIN)))

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every listable resource by `resource.group`, at the first version that serves it
        (the group's preferred version first): its path and kind. Asked anew each time: the
        chart may bring CRDs."""
        versions = [f"/api/{v}" for v in self.get("/api")["versions"]]
        for group in self.get("/apis")["groups"]:
            preferred = group["preferredVersion"]["groupVersion"]
            versions += [
                f"/apis/{v['groupVersion']}"
                for v in sorted(group["versions"], key=lambda v: v["groupVersion"] != preferred)
            ]
        found: dict[str, dict[str, Any]] = {}
        for path in versions:
            group = path.removeprefix("/api/").removeprefix("/apis/").rpartition("/")[0]
            for resource in self.get(path)["resources"]:
                key = f"{resource['name']}.{group}".rstrip(".")
                if "/" in resource["name"] or "list" not in resource["verbs"] or key in found:
                    continue
                found[key] = {
                    "path": f"{path}/{resource['name']}",
                    "kind": resource["kind"],
                    "group": group,
                    "namespaced": resource["namespaced"],
                }
        return found

    def objects(self) -> dict[ObjectId, dict[str, Any]]:
        """Every object of every listable resource, in every namespace: its metadata."""
        found: dict[ObjectId, dict[str, Any]] = {}
        for key, resource in self.resources().items():
            query = {"limit": "500"}
            while True:
                page = self.get(resource["path"], **query)
                for item in page["items"]:
                    meta = item["metadata"]
                    found[ObjectId(key, meta.get("namespace", ""), meta["name"])] = meta
                if not page["metadata"].get("continue"):
                    break
                query["continue"] = page["metadata"]["continue"]
        return found

    def identify(self, manifest: dict[str, Any]) -> ObjectId:
        """The ObjectId of an object as a chart renders it (release namespace by default)."""
        group = manifest["apiVersion"].rpartition("/")[0]
        for key, resource in self.resources().items():
            if resource["kind"] == manifest["kind"] and resource["group"] == group:
                namespace = (
                    manifest["metadata"].get("namespace", NAMESPACE)
                    if resource["namespaced"]
                    else ""
                )
                return ObjectId(key, namespace, manifest["metadata"]["name"])
        raise AssertionError(
            f"the API server serves no {manifest['apiVersion']} {manifest['kind']}"
        )


def of_release(objects: dict[ObjectId, dict[str, Any]]) -> set[ObjectId]:
    """The objects that name the release: its instance label, helm's release annotation or
    helm's own release record (a Secret labelled owner=helm, name=<release>)."""

    def named(meta: dict[str, Any]) -> bool:
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        return (
            labels.get(INSTANCE_LABEL) == RELEASE
            or annotations.get(RELEASE_ANNOTATION) == RELEASE
            or (labels.get("owner") == "helm" and labels.get("name") == RELEASE)
        )

    return {object_id for object_id, meta in objects.items() if named(meta)}


def without_events(ids: Iterable[ObjectId]) -> set[ObjectId]:
    """The ids, Events left out."""
    return {object_id for object_id in ids if object_id.resource not in EVENTS}


def owner(meta: dict[str, Any]) -> tuple[str, str] | None:
    """The release helm's annotations say owns an object (name, namespace), or None."""
    annotations = meta.get("annotations") or {}
    if RELEASE_ANNOTATION not in annotations:
        return None
    return annotations[RELEASE_ANNOTATION], annotations.get(RELEASE_NAMESPACE_ANNOTATION, "")


def report_crds(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """The PolicyReport CRDs the API server holds, by name: their metadata."""
    listed = cluster.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
    return {
        crd["metadata"]["name"]: crd["metadata"]
        for crd in listed
        if crd["metadata"]["name"] in REPORT_CRDS
    }


class Install(NamedTuple):
    """What `helm install --wait` said, and the cluster's objects before it."""

    result: subprocess.CompletedProcess[str]
    before: set[ObjectId]


@pytest.fixture(scope="module")
def helm(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm as the cluster admin."""
    return Helm(control_plane, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane) -> Cluster:
    """The API server's resource types and objects."""
    return Cluster(control_plane)


@pytest.fixture(scope="module")
def install(helm: Helm, cluster: Cluster) -> Iterator[Install]:
    """`helm install --wait` of the chart with its defaults, as the README says; the release is
    uninstalled after the module if a test has not done so."""
    objects = cluster.objects()
    assert of_release(objects) == set(), "objects of the release exist before it is installed"
    result = helm(
        "install", RELEASE, str(CHART_DIR), "--create-namespace", "--wait", "--timeout", WAIT
    )
    yield Install(result, set(objects))
    if helm("status", RELEASE).returncode == 0:
        helm("uninstall", RELEASE, "--wait")


def release_status(helm: Helm) -> dict[str, Any]:
    """`helm status -o json` of the release."""
    result = helm("status", RELEASE, "--output", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_apiserver_says_its_version_for_the_charts_kube_version_check(cluster: Cluster) -> None:
    """setup.sh stamps it into kube-apiserver; unstamped it says v0.0.0-master, which the
    chart's `kubeVersion: >=1.28.0-0` refuses."""
    assert cluster.get("/version")["gitVersion"] == f"v{KUBE_VERSION}"


def test_install_fails_waiting_for_the_deployment_that_never_becomes_ready(
    install: Install, helm: Helm, cluster: Cluster
) -> None:
    # helm names the Deployment and its replicas.
    assert install.result.returncode == 1
    assert install.result.stderr.strip() == f"Error: INSTALLATION FAILED: {helm.wait_error}"
    status = release_status(helm)  # not refused before it began (kubeVersion, values)
    assert status["info"]["status"] == "failed"
    assert status["info"]["description"] == f'Release "{RELEASE}" failed: {helm.wait_error}'
    assert "registered by the server once one of its pods is Ready" in status["info"]["notes"]
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}")
    assert "readyReplicas" not in deployment.get("status", {})
    assert cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"] == []


def test_no_webhook_configuration_exists_until_a_server_is_ready(
    install: Install, cluster: Cluster
) -> None:
    objects = cluster.objects()
    hooks = {o for o in objects if o.resource in WEBHOOK_CONFIGURATIONS}
    assert hooks & of_release(objects) == set()
    assert [o for o in hooks if o.name == RELEASE] == []  # as the server would name them
    # They wait in a ConfigMap for a server to register them.
    waiting = cluster.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/{RELEASE}-webhooks")
    kinds = [doc["kind"] for doc in yaml.safe_load_all(waiting["data"]["webhooks.yaml"]) if doc]
    assert kinds == ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]


def test_argo_writes_still_work_after_the_install(
    install: Install, alice: k8s.ApiClient, clean_namespaces: None
) -> None:
    """An inline Workflow, which the chart's default policy (Secure) refuses, is stored as sent:
    neither validated nor mutated. (As the create answers it: a controller running in the same
    session may write the Workflow back a moment later, with Go's zero values filled in.)"""
    body = make_inline_workflow(unique("inline"), "team-a")
    stored = create(alice, body)
    assert stored["spec"] == body["spec"]


def test_auto_keeps_the_policy_in_the_api_server_that_serves_it(
    install: Install, cluster: Cluster
) -> None:
    """validatingAdmissionPolicy.enabled=auto, read from the API server's discovery (helm's
    Capabilities), not from a guess: kube-apiserver 1.36 serves the policy API, the defaults
    are Secure in enforce mode, so the servers are told to keep the policy."""
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--register-policy" in args
    assert args[args.index("--library-configmap") + 1] == f"{NAMESPACE}/{RELEASE}-library"


def test_auto_keeps_the_mutating_policy_in_the_api_server_that_serves_it(
    install: Install, cluster: Cluster
) -> None:
    """mutatingAdmissionPolicy.enabled=auto, read from helm's Capabilities too: kube-apiserver
    1.36 serves admissionregistration.k8s.io/v1 MutatingAdmissionPolicy and the defaults mutate
    a baseline in enforce mode, so the servers are told to keep it, and may write only it."""
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--register-mutating-policy" in args
    lease = args[args.index("--mutating-policy-lease") + 1]
    assert lease == f"{NAMESPACE}/argo-admission-mutating-policy"
    role = cluster.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{RELEASE}:{NAMESPACE}")
    named = [r for r in role["rules"] if "mutatingadmissionpolicies" in r["resources"]]
    assert [r.get("resourceNames") for r in named] == [None, [RELEASE]]


def test_every_object_the_chart_installed_names_the_release(
    install: Install, helm: Helm, cluster: Cluster
) -> None:
    """So the uninstall check below finds whatever the chart renders."""
    rendered = {cluster.identify(doc) for doc in helm.manifest()}
    assert ObjectId("deployments.apps", NAMESPACE, RELEASE) in rendered
    assert rendered - of_release(cluster.objects()) == set()


def test_upgrade_keeps_the_policyreport_crds_it_installed_and_their_reports(
    install: Install, helm: Helm, cluster: Cluster, admin: k8s.ApiClient
) -> None:
    """The CRDs were absent, so the release installed them and owns them; the upgrade finds them
    (`lookup`) and renders them again, or helm would delete them and every report with them.
    The report is left to the uninstall, which must take it with the CRDs."""
    crds = report_crds(cluster)
    assert {name: owner(meta) for name, meta in crds.items()} == dict.fromkeys(
        REPORT_CRDS, (RELEASE, NAMESPACE)
    )
    reports = custom(admin)
    report = reports.create_namespaced_custom_object(
        *REPORTS,
        "team-a",
        "policyreports",
        {
            "apiVersion": "/".join(REPORTS),
            "kind": "PolicyReport",
            "metadata": {"name": unique("report"), "namespace": "team-a"},
            "results": [],
        },
    )
    result = helm("upgrade", RELEASE, str(CHART_DIR), "--reuse-values")
    assert result.returncode == 0, result.stderr
    assert release_status(helm)["info"]["status"] == "deployed"
    assert {
        doc["metadata"]["name"]
        for doc in helm.manifest()
        if doc["kind"] == "CustomResourceDefinition"
    } == set(REPORT_CRDS)
    assert {name: meta["uid"] for name, meta in report_crds(cluster).items()} == {
        name: meta["uid"] for name, meta in crds.items()
    }
    kept = reports.get_namespaced_custom_object(
        *REPORTS, "team-a", "policyreports", report["metadata"]["name"]
    )
    assert kept["metadata"]["uid"] == report["metadata"]["uid"]


def test_uninstall_leaves_nothing_behind(install: Install, helm: Helm, cluster: Cluster) -> None:
    result = helm("uninstall", RELEASE, "--wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f'release "{RELEASE}" uninstalled'
    # Unlabelled objects too (a hook, what the API server made for the release's objects: a
    # ClusterIP's IPAddress, a CRD group's APIService, removed a moment after them): only the
    # namespace helm created for the release remains, as helm never deletes a namespace (and
    # nothing here would finish deleting it: that is kube-controller-manager's job).
    namespace = {ObjectId("namespaces", "", NAMESPACE)} - install.before
    wait_for(
        lambda: without_events(set(cluster.objects()) - install.before),
        interval=1.0,
        timeout=15,
        until=lambda new: new == namespace,
        what="the objects made since the install to be gone, but the namespace",
    )
    assert of_release(cluster.objects()) == set()
    assert report_crds(cluster) == {}


@pytest.fixture
def foreign_report_crds(
    control_plane: ControlPlane, cluster: Cluster, helm: Helm
) -> Iterator[dict[str, dict[str, Any]]]:
    """The PolicyReport CRDs as another tool installed them before the release: the chart's
    definitions with nothing of helm's; deleted after the test. Their metadata by name."""
    assert helm("status", RELEASE).returncode != 0, "the release is still installed"
    crds = [
        {**doc, "metadata": {"name": doc["metadata"]["name"]}}
        for doc in render()
        if doc["kind"] == "CustomResourceDefinition"
    ]
    control_plane.create_crds(crds)
    try:
        yield report_crds(cluster)
    finally:
        control_plane.delete_crds(REPORT_CRDS)


def test_policyreport_crds_another_tool_installed_are_left_to_it(
    helm: Helm, cluster: Cluster, foreign_report_crds: dict[str, dict[str, Any]]
) -> None:
    assert sorted(foreign_report_crds) == sorted(REPORT_CRDS)
    result = helm("install", RELEASE, str(CHART_DIR), "--create-namespace")  # no Ready pod
    try:
        assert result.returncode == 0, result.stderr
        assert [doc for doc in helm.manifest() if doc["kind"] == "CustomResourceDefinition"] == []
        assert report_crds(cluster) == foreign_report_crds  # not taken over, not even touched
    finally:
        uninstalled = helm("uninstall", RELEASE, "--wait")
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert report_crds(cluster) == foreign_report_crds
