"""The real Argo workflow-controller (each version under test) behind argo-admission: the control
runs, repeated with the door in front.

tests/e2e/test_argo_without_webhook.py shows what alice gets past Argo alone. Here the same
attacks meet the webhook first: the API server refuses them with our message, nothing is
stored, and no pod runs. And Argo keeps working behind the door: the controller's own updates,
Argo's CLI as alice (stop, suspend, resume, retry, terminate) and CronWorkflows pass, and for
many shapes of ref Workflows `argo-admission merge` computes exactly the spec the controller
stored.

The door here runs with the chart's `webhook.skipExempt: false`: the API server then sends the
controller's own requests to argo-admission too (as on Kubernetes < 1.30, which has no
matchConditions), and the policy's exemption is what lets them through. After every test, the
audit log must show no request of the controller refused or warned about.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from admission.core.diff import diff_lines
from argocli import ArgoCLI
from argocontroller import CONFIGMAP, WorkflowController
from chart_render import deep_merge
from controlplane import ControlPlane
from expect import (
    CONTAINER_BASELINE,
    EVIL,
    NS,
    POD_BASELINE,
    SPEC_CHANGED,
    STATUS_IS_ARGOS,
    STORED_IS_ARGOS,
    TEMPLATE_IMAGE,
    refused,
)
from forgeries import swap_stored
from identities import ADMIN, ARGO_NAMESPACE
from library import library, start_running
from webhook import DENIED, EVERY_REQUEST, STRICT, Door, chart_values
from workflows import (
    container,
    create,
    create_cluster_template,
    exists,
    get_workflow,
    list_pods,
    main_args,
    make_cluster_template,
    make_cron_workflow,
    make_inline_workflow,
    make_ref_workflow,
    make_template,
    pod_images,
    set_arguments,
    status,
    stored_spec,
    unique,
    update_workflow,
    wait_for_phase,
    wait_for_pods,
    wait_for_workflow,
    with_stored,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.argo,
    pytest.mark.usefixtures("controller_is_never_refused"),
]

CLI = Path(sys.executable).parent / "argo-admission"


# -- helpers ------------------------------------------------------------------------------------


def assert_untouched(admin: k8s.ApiClient, name: str, before: dict[str, Any]) -> None:
    """The refused UPDATE changed nothing: same spec and stored spec, still Running, no evil pod."""
    after = get_workflow(admin, NS, name)
    assert after["spec"] == before["spec"]
    assert stored_spec(after) == stored_spec(before)
    assert status(after).get("phase") == "Running"
    assert EVIL not in pod_images(list_pods(admin, NS, name))


# -- the attacks of the control runs, with the door ---------------------------------------------


@pytest.mark.parametrize("phase", [None, "Running"], ids=["no-phase", "phase-running"])
def test_strict_create_with_a_user_written_stored_spec_is_refused(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, phase: str | None
) -> None:
    """Control run (a): without the door, the controller runs the forged spec."""
    body = with_stored(
        make_ref_workflow(unique("forged"), NS, library(admin, steps=False)),
        {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": container(EVIL, "pwned")}],
        },
        phase=phase,
    )
    message = refused(lambda: create(alice, body))
    fields = ", ".join(f"status.{f}" for f in sorted(body["status"]))
    assert message == f"{DENIED}{STATUS_IS_ARGOS}: remove {fields} from the new Workflow"
    assert not exists(admin, body)
    assert list_pods(admin, NS, body["metadata"]["name"]) == []


def test_strict_update_swapping_the_stored_spec_of_a_running_workflow_is_refused(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (b): without the door, the added step runs."""
    name = start_running(alice, admin, library(admin, steps=True))
    before = get_workflow(admin, NS, name)
    message = refused(lambda: update_workflow(alice, NS, name, swap_stored()))
    assert message.startswith(f"{DENIED}{STORED_IS_ARGOS}: only `argo retry` may change it")
    assert (
        "  status.storedWorkflowTemplateSpec.templates[name=main].steps[0][1]: (absent) -> "
        '{"name": "b", "template": "extra"}'
    ) in message.splitlines()
    assert_untouched(admin, name, before)


def set_entrypoint(workflow: dict[str, Any]) -> None:
    """An edit starting the Workflow at another template of its library."""
    workflow["spec"]["entrypoint"] = "work"


@pytest.mark.parametrize(
    ("edit", "diff"),
    [
        (
            set_arguments("changed"),
            "spec.arguments.parameters[name=msg].value: 'hello' -> 'changed'",
        ),
        (set_entrypoint, "spec.entrypoint: 'main' -> 'work'"),
    ],
    ids=["arguments", "entrypoint"],
)
def test_secure_update_changing_the_spec_is_refused_instead_of_failing_the_workflow(
    secure: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    edit: Callable[[dict[str, Any]], None],
    diff: str,
) -> None:
    """Without the door, Argo stores the change and then errors the running Workflow."""
    name = start_running(alice, admin, library(admin, steps=True))
    before = get_workflow(admin, NS, name)
    message = refused(lambda: update_workflow(alice, NS, name, edit))
    assert message.startswith(f"{DENIED}[secure] {SPEC_CHANGED}")
    assert message.splitlines()[1:] == [f"  {diff}"]
    assert_untouched(admin, name, before)


def test_secure_update_swapping_the_stored_spec_is_refused_instead_of_failing_the_workflow(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    name = start_running(alice, admin, library(admin, steps=True))
    before = get_workflow(admin, NS, name)
    message = refused(lambda: update_workflow(alice, NS, name, swap_stored()))
    assert message.startswith(f"{DENIED}{STORED_IS_ARGOS}: only `argo retry` may change it")
    assert_untouched(admin, name, before)


def test_secure_update_with_suspend_false_and_changed_arguments_is_refused(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (c): without the door, `suspend: false` skips Argo's compare."""
    name = start_running(alice, admin, library(admin, steps=True))
    before = get_workflow(admin, NS, name)
    message = refused(
        lambda: update_workflow(alice, NS, name, set_arguments("smuggled", suspend=False))
    )
    assert message == (
        f"{DENIED}[secure] {SPEC_CHANGED}: the spec joined from this Workflow, its template and "
        "workflowDefaults differs from status.storedWorkflowTemplateSpec:\n"
        "  spec.arguments.parameters[name=msg].value: 'hello' -> 'smuggled'"
    )
    assert_untouched(admin, name, before)


def test_secure_resume_with_changed_arguments_is_refused_and_runs_nothing(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (c): without the door, the resumed pods run the smuggled arguments."""
    name = start_running(alice, admin, library(admin, steps=True), suspend=True)
    message = refused(
        lambda: update_workflow(alice, NS, name, set_arguments("smuggled", suspend=False))
    )
    assert message.startswith(f"{DENIED}[secure] {SPEC_CHANGED}")
    assert get_workflow(admin, NS, name)["spec"]["suspend"] is True
    assert list_pods(admin, NS, name) == []


def test_secure_update_with_suspend_false_swapping_the_stored_spec_is_refused(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (b) under Secure: without the door, the swapped spec is joined and run."""
    name = start_running(alice, admin, library(admin, steps=True))
    before = get_workflow(admin, NS, name)
    message = refused(lambda: update_workflow(alice, NS, name, swap_stored(suspend=False)))
    assert message.startswith(f"{DENIED}{STORED_IS_ARGOS}: only `argo retry` may change it")
    assert_untouched(admin, name, before)


@pytest.mark.parametrize(
    ("field", "go_name", "value"),
    [
        ("podSpecPatch", "PodSpecPatch", '{"containers":[{"name":"main","image":"evil:latest"}]}'),
        ("serviceAccountName", "ServiceAccountName", "cluster-admin"),
        ("templates", "Templates", [{"name": "main", "container": container(EVIL)}]),
    ],
    ids=["podSpecPatch", "serviceAccountName", "templates"],
)
def test_strict_fields_beside_a_ref_are_refused_before_they_are_stored(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    field: str,
    go_name: str,
    value: Any,
) -> None:
    """Control run (d): without the door, Argo stores the Workflow and errors it afterwards."""
    body = make_ref_workflow(unique("override"), NS, library(admin, steps=False), **{field: value})
    message = refused(lambda: create(alice, body))
    assert message.startswith(
        f"{DENIED}[overrides] fields [{go_name}] are not permitted when using "
        f"workflowTemplateRef with templateReferencing restriction: remove spec.{field}: "
    )
    assert not exists(admin, body)
    assert list_pods(admin, NS, body["metadata"]["name"]) == []


def test_strict_workflow_without_ref_is_refused_instead_of_errored(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    body = make_inline_workflow(unique("inline"), NS, image=EVIL)
    message = refused(lambda: create(alice, body))
    assert message.startswith(f"{DENIED}[strict] workflows must use workflowTemplateRef")
    assert not exists(admin, body)


# -- Argo keeps working behind the door ---------------------------------------------------------


@pytest.mark.parametrize(
    "skip_exempt",
    [True, False],
    ids=["controller-skipped-by-the-api-server", "controller-exempted-by-argo-admission"],
)
def test_a_ref_workflow_runs_behind_the_door_with_the_librarys_baseline(
    door: Door,
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    skip_exempt: bool,
) -> None:
    """The controller's own UPDATEs pass: stored spec, rewritten spec, phase, pods.

    With the chart's default skipExempt the API server never sends them (matchConditions);
    without it argo-admission sees each one and exempts it.
    """
    door.configure(deep_merge(STRICT, {"webhook": {"skipExempt": skip_exempt}}))
    before = door.server.request_counts(decision="exempt")
    template = library(admin, steps=False)
    name = unique("wf")
    answered = create(alice, make_ref_workflow(name, NS, template))
    assert answered["spec"] == {"workflowTemplateRef": {"name": template}}
    workflow = wait_for_workflow(
        admin,
        NS,
        name,
        lambda wf: status(wf).get("phase") == "Running" and stored_spec(wf),
        what="to be Running with a stored spec",
    )
    assert workflow["spec"] == {"workflowTemplateRef": {"name": template}, "arguments": {}}
    assert stored_spec(workflow)["securityContext"] == POD_BASELINE
    pods = wait_for_pods(admin, NS, name, bool, what="to be created")
    assert pod_images(pods) == {TEMPLATE_IMAGE}
    assert pods[0]["spec"]["securityContext"] == POD_BASELINE
    main = next(c for c in pods[0]["spec"]["containers"] if c["name"] == "main")
    assert main["securityContext"] == CONTAINER_BASELINE
    after = door.server.request_counts(decision="exempt")
    exempted = after["validate"] - before["validate"]
    assert (exempted > 0) == (not skip_exempt), f"{exempted} UPDATEs exempted by argo-admission"


def wait_for_stored(
    admin: k8s.ApiClient, name: str, until: Callable[[dict[str, Any]], Any], what: str
) -> dict[str, Any]:
    """Wait until the Workflow's stored spec satisfies `until`."""
    return wait_for_workflow(
        admin, NS, name, lambda wf: until(stored_spec(wf) or {}), what=f"to store a spec {what}"
    )


def test_argo_cli_day_two_operations_pass_the_door_and_the_controller_acts_on_them(
    secure: WorkflowController,
    door: Door,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    argo: ArgoCLI,
) -> None:
    """suspend, resume, stop, retry (with a new parameter), terminate as alice, under Secure."""
    name = start_running(alice, admin, library(admin, steps=True))
    argo("suspend", name)
    wait_for_stored(admin, name, lambda s: s.get("suspend") is True, "with suspend: true")
    argo("resume", name)
    wait_for_stored(admin, name, lambda s: not s.get("suspend"), "without suspend")
    argo("stop", name)
    stopped = wait_for_phase(admin, NS, name, ["Failed"])
    assert status(stopped)["message"] == "Stopped with strategy 'Stop'"
    old_pods = {p["metadata"]["uid"] for p in list_pods(admin, NS, name)}
    # A retry with a new parameter writes it into the stored spec too: as the user.
    argo("retry", name, "--parameter", "msg=again")
    retried = wait_for_workflow(
        admin,
        NS,
        name,
        lambda wf: status(wf).get("phase") == "Running" and not wf["spec"].get("shutdown"),
        what="to run again after the retry",
    )
    assert "shutdown" not in stored_spec(retried)
    assert stored_spec(retried)["arguments"] == {"parameters": [{"name": "msg", "value": "again"}]}
    new_pods = wait_for_pods(
        admin,
        NS,
        name,
        lambda pods: [p for p in pods if p["metadata"]["uid"] not in old_pods],
        what="to include a pod created after the retry",
    )
    assert main_args([p for p in new_pods if p["metadata"]["uid"] not in old_pods]) == [["again"]]
    argo("terminate", name)
    terminated = wait_for_phase(admin, NS, name, ["Failed"])
    assert status(terminated)["message"] == "Stopped with strategy 'Terminate'"
    denials = [
        line
        for line in door.server.audit_lines()
        if line["name"] == name and line["decision"] == "deny"
    ]
    assert denials == []


def test_a_cron_workflow_with_a_ref_is_admitted_and_one_without_is_refused(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    template = library(admin, steps=True)
    with_ref = make_cron_workflow(unique("cron"), NS, {"workflowTemplateRef": {"name": template}})
    assert create(alice, with_ref)["spec"]["workflowSpec"] == {
        "workflowTemplateRef": {"name": template}
    }
    without = make_cron_workflow(unique("cron"), NS, make_inline_workflow("x", NS)["spec"])
    message = refused(lambda: create(alice, without))
    assert message.startswith(f"{DENIED}[strict] workflows must use workflowTemplateRef")
    assert not exists(admin, without)


# -- the same merge as Argo ---------------------------------------------------------------------

SHAPES_FILE = Path(__file__).parents[1] / "fixtures" / "e2e" / "merge-shapes.yaml"
PARAMS_CONFIGMAP = "params"  # the ConfigMap the shapes' `valueFrom` parameters read


@dataclass(frozen=True)
class Shape:
    """One ref Workflow shape (see the fixture file): the template's spec, what the Workflow
    sets beside the ref, and the workflowDefaults the controller (and the door) run with."""

    name: str
    defaults: dict[str, Any]
    template: dict[str, Any]
    workflow: dict[str, Any] = field(default_factory=dict)
    cluster: bool = False


def load_shapes(path: Path = SHAPES_FILE) -> list[Shape]:
    """The shapes of the fixture file, each template completed from the file's base."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = {"entrypoint": "main", "templates": [doc["base"]["main"], doc["base"]["work"]]}
    return [
        Shape(
            name,
            doc["defaults"][shape.get("defaults", "none")],
            {**base, **shape.get("template", {})},
            shape.get("workflow", {}),
            shape.get("cluster", False),
        )
        for name, shape in doc["shapes"].items()
    ]


SHAPES = load_shapes()


@pytest.fixture(scope="module")
def params_configmap(control_plane: ControlPlane) -> Iterator[None]:
    """The ConfigMap `valueFrom` parameters read, in team-a."""
    core = k8s.CoreV1Api(control_plane.client(ADMIN))
    # Argo reads parameters only from ConfigMaps labelled for it (v3.7.x).
    body = {
        "metadata": {
            "name": PARAMS_CONFIGMAP,
            "labels": {"workflows.argoproj.io/configmap-type": "Parameter"},
        },
        "data": {"c": "from-configmap", "d": "from-configmap"},
    }
    core.create_namespaced_config_map(NS, body)
    yield
    core.delete_namespaced_config_map(PARAMS_CONFIGMAP, NS)


def create_library_template(
    admin: k8s.ApiClient, shape: Shape, cluster_templates: list[str]
) -> dict[str, Any]:
    """The shape's (Cluster)WorkflowTemplate, created by admin, as the API server stored it."""
    name = unique(shape.name[:40])
    if shape.cluster:
        cluster_templates.append(name)
        body = make_cluster_template(name)
        body["spec"] = copy.deepcopy(shape.template)
        return create_cluster_template(admin, body)
    return create(admin, make_template(name, NS, spec=copy.deepcopy(shape.template)))


def write_json(path: Path, value: Any) -> Path:
    """Write `value` as JSON to `path`; returns `path`."""
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def controller_configmap(admin: k8s.ApiClient) -> dict[str, Any]:
    """The workflow-controller ConfigMap as the controller reads it."""
    response = k8s.CoreV1Api(admin).read_namespaced_config_map(
        CONFIGMAP, ARGO_NAMESPACE, _preload_content=False
    )
    return dict(json.loads(response.data))


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
def test_argo_admission_merge_equals_the_spec_the_controller_stored(
    door: Door,
    workflow_controller: WorkflowController,
    clean_namespaces: None,
    params_configmap: None,
    cluster_templates: list[str],
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    tmp_path: Path,
    shape: Shape,
) -> None:
    defaults = shape.defaults
    door.configure(deep_merge(chart_values("Strict", workflowDefaults=defaults), EVERY_REQUEST))
    workflow_controller.set_config("Strict", defaults=defaults)
    template = create_library_template(admin, shape, cluster_templates)
    ref = {
        "name": template["metadata"]["name"],
        **({"clusterScope": True} if shape.cluster else {}),
    }
    name = unique("shape")
    body = make_ref_workflow(name, NS, ref["name"], **copy.deepcopy(shape.workflow))
    body["spec"]["workflowTemplateRef"] = ref
    answered = create(alice, body)
    stored = wait_for_workflow(admin, NS, name, stored_spec, what="to get a stored spec")
    configmap = controller_configmap(admin)
    # `merge --defaults` refuses a ConfigMap without workflowDefaults: the controller then
    # joins none, and neither does merge without the option.
    defaults = (
        ["--defaults", str(write_json(tmp_path / "configmap.json", configmap))]
        if "workflowDefaults" in configmap["data"]
        else []
    )
    argv = [
        str(CLI),
        "merge",
        "--workflow",
        str(write_json(tmp_path / "workflow.json", answered)),
        "--template",
        str(write_json(tmp_path / "template.json", template)),
        *defaults,
        "--config",
        str(door.server.policy_path),
        "--expect",
        str(write_json(tmp_path / "stored.json", stored)),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    merged = json.loads(result.stdout) if result.stdout.startswith("{") else None
    assert result.returncode == 0, (
        f"argo-admission merge exited {result.returncode} ({result.stderr.strip()}); "
        f"stored -> merged: {diff_lines(stored_spec(stored), merged) if merged else '-'}"
    )
