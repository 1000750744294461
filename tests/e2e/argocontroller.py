"""The real Argo workflow-controller as a local process against the e2e control plane.

It acts as `system:serviceaccount:argo:argo` through a kubeconfig, reads its ConfigMap in
namespace `argo`, and runs Workflows in every namespace. Pods it creates stay Pending (there is
no kubelet): tests assert on the stored spec, the pods' specs and the Workflow's phase/message.
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from harness.processes import Process, Supervised, find_binary, wait_for
from identities import ADMIN, ARGO_NAMESPACE, CONTROLLER

if TYPE_CHECKING:
    from controlplane import ControlPlane

DEFAULT_VERSION = "v3.7.18"
CONFIGMAP = "workflow-controller-configmap"
RESTRICTIONS = (None, "Strict", "Secure")
# What the controller logs once a configuration it (re)loaded is in force.
CONFIG_LOADED = "Configuration updated"
READY_TIMEOUT = 60.0
# Argo v4 outlives SIGTERM: its logging package catches the signal to flush start-up logs and
# never exits (initSignalHandlers in util/logging/init.go, v4.0.5). Nothing of a controller or
# server here needs a graceful end; SIGKILL follows soon.
ARGO_STOP_GRACE = 1.0
_canaries = itertools.count()


def argo_version() -> str:
    """The Argo version under test: $ARGO_VERSION, else the default."""
    return os.environ.get("ARGO_VERSION", DEFAULT_VERSION)


# v4.0.5 queues a new Workflow before it tells its throttler about it (the informer's AddFunc,
# workflow/controller/controller.go): on a loaded machine a worker can take the key first, find
# it not admitted and mark the Workflow Pending ("postponed because too many workflows are
# already running"), and a Workflow submitted suspended then stays Pending for good. A short
# initialDelay lets the throttler hear of it first; it changes nothing else the tests look at.
INITIAL_DELAY = "200ms"


def render_config(
    restrictions: str | None, defaults: dict[str, Any] | None = None
) -> dict[str, str]:
    """The controller ConfigMap's `data`: one YAML document per top-level key.

    Every value ends in a newline: Argo joins the keys into one document and indents only
    multi-line values, so a one-line `enabled: false` would become `metricsConfig: enabled: false`
    (config/controller.go, parseConfigMap, v3.7.18).
    """
    if restrictions not in RESTRICTIONS:
        raise ValueError(f"restrictions must be one of {RESTRICTIONS}, not {restrictions!r}")
    data: dict[str, Any] = {
        "metricsConfig": {"enabled": False},
        "telemetryConfig": {"enabled": False},
        "initialDelay": INITIAL_DELAY,
    }
    if restrictions:
        data["workflowRestrictions"] = {"templateReferencing": restrictions}
    if defaults:
        data["workflowDefaults"] = defaults
    return {
        key: f"{value}\n"
        if isinstance(value, str)
        else yaml.safe_dump(value, default_flow_style=False)
        for key, value in data.items()
    }


def argo_env(**extra: str) -> dict[str, str]:
    """Our environment for an Argo process: without ARGO_* and KUBECONFIG, plus `extra`.

    Argo's programs bind every ARGO_<FLAG> variable to the flag of that name (viper.AutomaticEnv
    in cmd/workflow-controller/main.go and cmd/argo/commands/server.go), and the CLI takes
    ARGO_SERVER, ARGO_TOKEN, ARGO_NAMESPACE from the environment: the test run's own settings
    must not leak in. Whatever an Argo process is to use is passed in `extra`.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGO_") and k != "KUBECONFIG"}
    return {**env, **extra}


def controller_env() -> dict[str, str]:
    """The environment for the controller: argo_env() without leader election, and requeued
    after a second rather than ten.

    DEFAULT_REQUEUE_TIME is Argo's knob for how soon a Workflow is looked at again (workflow/
    controller/rate_limiters.go). v4.0.5 looks at a Workflow a user changed only on that requeue
    (v3.7.18 at once): with Argo's 10 s, every step of a test on v4 waits 10 s, and a check that
    something does *not* happen within a few seconds would pass before the controller looked.
    """
    return argo_env(LEADER_ELECTION_DISABLE="true", DEFAULT_REQUEUE_TIME="1s")


class WorkflowController(Supervised):
    """Argo's workflow-controller process, with its ConfigMap under the test's control."""

    label = "the workflow-controller"
    stop_grace = ARGO_STOP_GRACE

    def __init__(self, plane: ControlPlane, *, version: str | None = None) -> None:
        self.plane = plane
        self.version = version or argo_version()
        self.binary = find_binary(f"workflow-controller-{self.version}")
        self.log_path = plane.workdir / f"workflow-controller-{self.version}.log"
        self.process: Process | None = None
        self.config: dict[str, str] | None = None
        self._core = k8s.CoreV1Api(plane.client(ADMIN))

    def __enter__(self) -> WorkflowController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(
        self, restrictions: str | None = "Strict", *, defaults: dict[str, Any] | None = None
    ) -> WorkflowController:
        """Write the ConfigMap, start the controller and wait until it processes Workflows."""
        self.stop()
        self.write_configmap(render_config(restrictions, defaults))
        argv = [
            self.binary,
            "--kubeconfig",
            self.plane.kubeconfig(CONTROLLER),
            "--namespace",
            ARGO_NAMESPACE,
            "--configmap",
            CONFIGMAP,
            # Never pulled (no kubelet); pinned so pod specs name a real image.
            "--executor-image",
            f"quay.io/argoproj/argoexec:{self.version}",
        ]
        self.process = Process(
            "workflow-controller", argv, log_path=self.log_path, env=controller_env()
        ).start()
        try:
            self.wait_until_working()
        except BaseException:
            self.stop()
            raise
        return self

    def set_config(
        self, restrictions: str | None, *, defaults: dict[str, Any] | None = None
    ) -> None:
        """Apply a new configuration by restarting the controller; a no-op when already in force.

        Both versions reload their ConfigMap live (v3.7.18 an informer on it,
        newControllerConfigMapInformer; v4.0.5 a watch, runConfigMapWatcher; in
        workflow/controller/controller.go), and config_loads() tells when; but the cron
        controller keeps the workflowDefaults it was built with. A restart takes about half a
        second, and its canary shows the restriction (or none) is applied.
        """
        if self.alive() and render_config(restrictions, defaults) == self.config:
            return
        self.start(restrictions, defaults=defaults)

    def write_configmap(self, data: dict[str, str]) -> None:
        """Create or replace the controller's ConfigMap in namespace argo."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP, "namespace": ARGO_NAMESPACE},
            "data": data,
        }
        try:
            self._core.replace_namespaced_config_map(CONFIGMAP, ARGO_NAMESPACE, body)
        except ApiException as error:
            if error.status != 404:
                raise
            self._core.create_namespaced_config_map(ARGO_NAMESPACE, body)
        self.config = data

    def config_loads(self) -> int:
        """How many times the controller has said a configuration is in force: twice at start
        (read, then delivered by its watch), then once for every edit of its ConfigMap.

        Both versions log CONFIG_LOADED right after the new configuration replaced the old
        (updateConfig in workflow/controller/config.go), within milliseconds of an edit; the
        log is kept across restarts.
        """
        try:
            return self.log_path.read_text(errors="replace").count(CONFIG_LOADED)
        except FileNotFoundError:
            return 0

    def wait_until_working(self) -> None:
        """Wait until the controller gives a fresh Workflow a phase that matches its config.

        The canary has a lone `suspend` template, so it never creates a pod: Strict and Secure
        fail it at once for lacking a ref, no restriction leaves it Running.
        """
        custom = k8s.CustomObjectsApi(self.plane.client(ADMIN))
        name = f"canary-{os.getpid()}-{next(_canaries)}"
        body = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": ARGO_NAMESPACE},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
        }
        custom.create_namespaced_custom_object(
            "argoproj.io", "v1alpha1", ARGO_NAMESPACE, "workflows", body
        )
        try:
            canary = wait_for(
                lambda: custom.get_namespaced_custom_object(
                    "argoproj.io", "v1alpha1", ARGO_NAMESPACE, "workflows", name
                ),
                until=lambda wf: (wf.get("status") or {}).get("phase"),
                what=f"the workflow-controller to give Workflow argo/{name} a "
                f"phase ({self.log_path})",
                timeout=READY_TIMEOUT,
                check=self.check_alive,
            )
        finally:
            custom.delete_namespaced_custom_object(
                "argoproj.io", "v1alpha1", ARGO_NAMESPACE, "workflows", name
            )
        expected = "Error" if self.config and "workflowRestrictions" in self.config else "Running"
        if canary["status"]["phase"] != expected:
            raise RuntimeError(
                f"the workflow-controller is not running the config it was given: "
                f"canary phase {canary['status']['phase']}, expected {expected} "
                f"({self.log_path})"
            )
