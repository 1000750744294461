"""Fixtures for the e2e suite: one control plane per session, the Argo controller per config.

Binaries come from tests/e2e/setup.sh. When one is missing the fixtures fail — a skipped e2e
suite is not a pass. Run the suite inside tests/e2e/netns.sh; with ARGO_ADMISSION_REQUIRE_NETNS=1
it refuses to run anywhere else.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from argocli import ArgoCLI
from argocontroller import WorkflowController
from argoserver import ArgoServer
from controlplane import ControlPlane
from expect import NS
from identities import (
    ADMIN,
    ALICE,
    BOB,
    CONTROLLER,
    EXECUTOR,
    NAMESPACES,
    TEMPLATE_ACCOUNT,
)
from kubelet import PodExecutor
from webhook import SECURE, STRICT, Door
from workflows import delete_all, delete_cluster_template, unique

REQUIRE_NETNS = "ARGO_ADMISSION_REQUIRE_NETNS"
KEEP = "ARGO_ADMISSION_E2E_KEEP"
STARTUP = pytest.StashKey[float]()


def network_problem() -> str | None:
    """Why this process is not in a loopback-only network namespace, or None if it is."""
    names = sorted(name for _, name in socket.if_nameindex())
    if names != ["lo"]:
        return f"network interfaces {names}, expected only ['lo']"
    try:
        with (
            socket.create_server(("127.0.0.1", 0)) as server,
            socket.create_connection(server.getsockname()[:2], timeout=2),
        ):
            pass
    except OSError as error:
        return f"loopback does not work ({error}); is `lo` up?"
    return None


def check_netns() -> None:
    """Fail when ARGO_ADMISSION_REQUIRE_NETNS=1 and we are not in a loopback-only netns."""
    if os.environ.get(REQUIRE_NETNS) != "1":
        return
    problem = network_problem()
    if problem:
        pytest.fail(
            f"{REQUIRE_NETNS}=1 but this is not a loopback-only network namespace: "
            f"{problem}. Run the suite as `tests/e2e/netns.sh .venv/bin/pytest tests/e2e`.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver with users, RBAC and Argo's CRDs, shared by the whole session."""
    check_netns()
    plane = ControlPlane(keep=os.environ.get(KEEP) == "1")
    plane.start()
    request.config.stash[STARTUP] = plane.startup_seconds
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def workflow_controller(control_plane: ControlPlane) -> Iterator[WorkflowController]:
    """The Argo workflow-controller; started (or restarted) by the config fixtures below."""
    controller = WorkflowController(control_plane)
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def argo_server(control_plane: ControlPlane) -> Iterator[ArgoServer]:
    """`argo server --auth-mode=client` on loopback, for the tests that call Argo through it."""
    server = ArgoServer(control_plane).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_namespaces(control_plane: ControlPlane) -> Iterator[None]:
    """After the test, delete the Workflows, templates and pods it left in every namespace."""
    yield
    admin = control_plane.client(ADMIN)
    for namespace in NAMESPACES:
        delete_all(admin, namespace)


@pytest.fixture
def argo_strict(
    workflow_controller: WorkflowController, clean_namespaces: None
) -> WorkflowController:
    """The controller running with `templateReferencing: Strict`."""
    workflow_controller.set_config("Strict")
    return workflow_controller


@pytest.fixture
def argo_secure(
    workflow_controller: WorkflowController, clean_namespaces: None
) -> WorkflowController:
    """The controller running with `templateReferencing: Secure`."""
    workflow_controller.set_config("Secure")
    return workflow_controller


@pytest.fixture(scope="module")
def door(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    """argo-admission in front of the API server for one test module, configured by its tests.

    Module-scoped: the next module (e.g. the control runs without a webhook) finds the API
    server calling nobody, and the server process stopped.
    """
    door = Door(control_plane, tmp_path_factory.mktemp("door"))
    try:
        yield door
    finally:
        door.close()


@pytest.fixture
def strict(door: Door, argo_strict: WorkflowController) -> WorkflowController:
    """Argo with `templateReferencing: Strict`, argo-admission enforcing the same."""
    door.configure(STRICT)
    return argo_strict


@pytest.fixture
def secure(door: Door, argo_secure: WorkflowController) -> WorkflowController:
    """Argo with `templateReferencing: Secure`, argo-admission enforcing the same."""
    door.configure(SECURE)
    return argo_secure


@pytest.fixture
def controller_is_never_refused(door: Door) -> Iterator[None]:
    """After the test: argo-admission refused or warned about no request of the controller."""
    yield
    lines = [line for line in door.server.audit_lines() if line["user"] == CONTROLLER]
    assert lines == [], f"argo-admission stood in the controller's way: {lines}"


@pytest.fixture
def admin(control_plane: ControlPlane) -> k8s.ApiClient:
    """A client acting as the cluster admin (system:masters)."""
    return control_plane.client(ADMIN)


@pytest.fixture
def alice(control_plane: ControlPlane) -> k8s.ApiClient:
    """A client acting as alice: workflows in team-a and exempt, nothing else."""
    return control_plane.client(ALICE)


@pytest.fixture
def executor(control_plane: ControlPlane) -> PodExecutor:
    """Argo's executor in team-a's pods: each write with a token bound to the node's pod."""
    return PodExecutor(control_plane.client(ADMIN), control_plane.token_client)


@pytest.fixture
def executor_account(control_plane: ControlPlane) -> k8s.ApiClient:
    """The executor's account (team-a's default) with a token bound to no pod: a token Secret,
    or an impersonation of the account."""
    return control_plane.client(EXECUTOR)


@pytest.fixture
def template_account(control_plane: ControlPlane) -> k8s.ApiClient:
    """A client acting as team-a's account `builder`, which a step template names as its own."""
    return control_plane.client(TEMPLATE_ACCOUNT)


@pytest.fixture
def argo(control_plane: ControlPlane) -> ArgoCLI:
    """Argo's CLI as alice in team-a, talking to the API server directly."""
    return ArgoCLI(control_plane, ALICE, NS)


@pytest.fixture
def bob(control_plane: ControlPlane) -> k8s.ApiClient:
    """A client acting as bob: workflows in team-b, nothing else."""
    return control_plane.client(BOB)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On a failed test that used the controller, argo-server or the door, attach the tails of
    their logs."""
    report = yield
    if report.failed:
        for title, process in processes_used(getattr(item, "funcargs", {})).items():
            report.sections.append((f"{title} log (last lines)", process.tail(40)))
    return report


def processes_used(funcargs: dict[str, Any]) -> dict[str, Any]:
    """The controller, argo-server (also behind an ArgoCLI) and door a test used, by title."""
    found: dict[str, Any] = {}
    for value in funcargs.values():
        if isinstance(value, WorkflowController):
            found["workflow-controller"] = value
        elif isinstance(value, ArgoServer):
            found["argo-server"] = value
        elif isinstance(value, ArgoCLI) and value.server is not None:
            found["argo-server"] = value.server
        elif isinstance(value, Door):
            found["argo-admission"] = value
    return found


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say how long the control plane took to start (a figure, never asserted)."""
    if STARTUP in config.stash:
        terminalreporter.write_line(f"e2e control plane ready in {config.stash[STARTUP]:.1f}s")


@pytest.fixture
def cluster_templates(admin: k8s.ApiClient) -> Iterator[list[str]]:
    """Names of ClusterWorkflowTemplates the test creates; deleted after it."""
    names: list[str] = []
    yield names
    for name in names:
        delete_cluster_template(admin, name)


@pytest.fixture
def secret(admin: k8s.ApiClient) -> Iterator[str]:
    """A Secret with credentials in team-a, made by the admin (alice may not read it); its name."""
    core, name = k8s.CoreV1Api(admin), unique("credentials")
    core.create_namespaced_secret(
        NS,
        {
            "metadata": {"name": name},
            "stringData": {"accesskey": "AKIAEXAMPLE", "secretkey": "example-secret-key"},
        },
    )
    yield name
    core.delete_namespaced_secret(name, NS)


@pytest.fixture
def claim(admin: k8s.ApiClient) -> Iterator[str]:
    """A PersistentVolumeClaim in team-a, made by the admin; its name.

    The API server gives it the `kubernetes.io/pvc-protection` finalizer, which only a
    kube-controller-manager would remove: the cleanup removes it and deletes the claim.
    """
    core, name = k8s.CoreV1Api(admin), unique("data")
    core.create_namespaced_persistent_volume_claim(
        NS,
        {
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    yield name
    try:
        core.patch_namespaced_persistent_volume_claim(name, NS, {"metadata": {"finalizers": None}})
        core.delete_namespaced_persistent_volume_claim(name, NS)
    except ApiException as error:
        if error.status != 404:
            raise
