"""Argo's own clients as an ordinary user, behind argo-admission, on the Argo version under test.

Every operation a user of Argo's CLI, UI or API makes runs by each of the CLI's paths: straight
to the API server, and through `argo server --auth-mode=client` by gRPC (the CLI's way) and by
the JSON API (the way of Argo's UI). The server acts with the caller's token, so the door sees
the user, not the server. Alice works in
team-a; the library is the admin's. The controller and the door run Strict, or Secure for the
operations on running Workflows, where Secure compares. Each operation must be admitted and
carried out: the assertions are on what the controller did — phase, nodes, stored spec, pods.

Then the forgeries: status fields and objects the controller trusts beyond the stored spec,
written by alice through the Kubernetes API. The door refuses each with a message naming the
field, and the controller shows no effect; test_argo_without_webhook.py shows the effect of
each without the door.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from argocli import ArgoCLI
from argocontroller import WorkflowController
from chart_render import deep_merge
from controlplane import ControlPlane
from expect import EVIL, NS, POD_BASELINE, TEMPLATE_IMAGE, refused
from forgeries import (
    claim_state,
    claim_volume,
    evil_produce,
    forge_succeeded_step,
    list_as_active,
    make_replacing_cron,
    patch_cron,
    point_artifacts_at,
    secret_volumes,
    stored_template_key,
    tamper_stored_template,
    with_stored_templates,
)
from harness.processes import stays, wait_for
from identities import ADMIN, ALICE, PATCHED_ACCOUNT, TEMPLATE_ACCOUNT, account_subject
from kubelet import (
    PodExecutor,
    complete_outputs,
    finish_pod,
    finish_step,
    patch_task_result,
    report_outputs,
    step_node_name,
    step_pod,
    wait_for_step_pod,
)
from library import create_library, start_relay, submit_to_approval
from webhook import DENIED, SECURE, STRICT, Door
from workflows import (
    container,
    create,
    create_cluster_template,
    error_message,
    exists,
    find_node,
    get_cron_workflow,
    get_workflow,
    list_pods,
    main_args,
    make_cluster_template,
    make_cron_workflow,
    make_inline_workflow,
    make_ref_workflow,
    make_steps_template,
    make_template,
    pod_images,
    status,
    stored_spec,
    unique,
    update_workflow,
    wait_for_node,
    wait_for_phase,
    wait_for_pods,
    wait_for_workflow,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.argo,
    pytest.mark.usefixtures("controller_is_never_refused"),
]

# The library has an author, as a Strict installation names one: the admin.
AUTHORS = {"policy": {"templateLibrary": {"authors": {"users": [ADMIN]}}}}
PATHS = ["kube", "argo-server-grpc", "argo-server-http"]
QUIET = 3.0  # seconds a refused forgery must show no effect where nothing else would show one


# -- fixtures: the door with the library's author, the CLI by either path -----------------------


@pytest.fixture
def strict(door: Door, argo_strict: WorkflowController) -> WorkflowController:
    """Argo with `templateReferencing: Strict`, argo-admission enforcing the same."""
    door.configure(deep_merge(STRICT, AUTHORS))
    return argo_strict


@pytest.fixture
def secure(door: Door, argo_secure: WorkflowController) -> WorkflowController:
    """Argo with `templateReferencing: Secure`, argo-admission enforcing the same."""
    door.configure(deep_merge(SECURE, AUTHORS))
    return argo_secure


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> str:
    """The CLI's path under test."""
    return str(request.param)


@pytest.fixture
def argo(request: pytest.FixtureRequest, control_plane: ControlPlane, path: str) -> ArgoCLI:
    """Argo's CLI as alice in team-a, by the path under test."""
    return cli_by(request, control_plane, ALICE, path)


@pytest.fixture
def librarian(request: pytest.FixtureRequest, control_plane: ControlPlane, path: str) -> ArgoCLI:
    """Argo's CLI as the admin, who owns the library, by the path under test."""
    return cli_by(request, control_plane, ADMIN, path)


@pytest.fixture
def kube_argo(control_plane: ControlPlane) -> ArgoCLI:
    """Argo's CLI as alice, straight to the API server (the forgeries' day-2 operations)."""
    return ArgoCLI(control_plane, ALICE, NS)


# -- helpers ------------------------------------------------------------------------------------


def cli_by(request: pytest.FixtureRequest, plane: ControlPlane, user: str, path: str) -> ArgoCLI:
    """Argo's CLI as `user` in team-a by `path`; argo-server started when the path needs it."""
    if path == "kube":
        return ArgoCLI(plane, user, NS)
    server = request.getfixturevalue("argo_server")
    return ArgoCLI(plane, user, NS, server=server, http1=path == "argo-server-http")


def hello(admin: k8s.ApiClient, argo: ArgoCLI | None = None) -> str:
    """A library template running one pod that echoes the Workflow's `msg`; its name. With
    `argo`, once Argo serves it by that CLI's path."""
    name = unique("hello")
    create(admin, make_steps_template(name, NS, image=TEMPLATE_IMAGE))
    if argo:
        served(argo, "template", name)
    return name


def served(
    argo: ArgoCLI, kind: str, name: str, until: Callable[[dict[str, Any]], Any] = bool
) -> dict[str, Any]:
    """Wait until Argo, by the CLI's path, serves (cluster-)template `name` as `until` wants.

    argo-server validates what it submits against its own watch of the templates
    (server/workflowtemplate/informer.go), which follows the API server a moment behind.
    """
    return wait_for(
        lambda: json.loads(argo(kind, "get", name, "-o", "json")),
        until=until,
        what=f"{argo.path} to serve {kind} {name}",
    )


def write_yaml(path: Path, body: dict[str, Any]) -> str:
    """Write `body` as YAML to `path`; the path as the CLI takes it."""
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


def runs_hello(
    admin: k8s.ApiClient, name: str, *, args: list[str] | None = None, template: str | None = None
) -> dict[str, Any]:
    """Assert the controller runs Workflow `name` from its library template: Running with a
    stored spec of the template, and the pod of step `a` echoing `args` (default: hello)."""
    workflow = wait_for_workflow(
        admin,
        NS,
        name,
        lambda wf: status(wf).get("phase") == "Running" and stored_spec(wf),
        what="to be Running with a stored spec",
    )
    if template:
        assert stored_spec(workflow)["workflowTemplateRef"]["name"] == template
    pods = wait_for_pods(admin, NS, name, bool, what="to include step a's pod")
    assert pod_images(pods) == {TEMPLATE_IMAGE}
    assert main_args(pods) == [args or ["hello"]]
    return workflow


def created_name(output: str) -> str:
    """The Workflow name `argo ... -o name` printed."""
    return output.strip().splitlines()[-1].strip()


def terminated_hello(argo: ArgoCLI, admin: k8s.ApiClient, alice: k8s.ApiClient) -> str:
    """A Workflow of a hello template, run until its pod exists, then terminated: Failed."""
    name = unique("wf")
    create(alice, make_ref_workflow(name, NS, hello(admin)))
    wait_for_pods(admin, NS, name, bool, what="to include step a's pod")
    argo("terminate", name)
    wait_for_phase(admin, NS, name, ["Failed"])
    return name


def patched_relay(admin: k8s.ApiClient, account: str) -> str:
    """A library template: produce, a pod of a template naming its own account (`builder`) and
    a podSpecPatch naming `account`, writes its output `out`; consume echoes it. Its name."""
    name = unique("patched")
    produce = {
        "name": "produce",
        "serviceAccountName": account_subject(TEMPLATE_ACCOUNT)["name"],
        "podSpecPatch": json.dumps({"serviceAccountName": account}),
        "container": {
            "image": TEMPLATE_IMAGE,
            "command": ["sh", "-c"],
            "args": ["echo produced > /tmp/out"],
        },
        "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]},
    }
    consume = {
        "name": "consume",
        "inputs": {"parameters": [{"name": "out"}]},
        "container": container(TEMPLATE_IMAGE, "{{inputs.parameters.out}}"),
    }
    out = {"parameters": [{"name": "out", "value": "{{steps.produce.outputs.parameters.out}}"}]}
    main = {
        "name": "main",
        "steps": [
            [{"name": "produce", "template": "produce"}],
            [{"name": "consume", "template": "consume", "arguments": out}],
        ],
    }
    create(admin, make_template(name, NS, templates=[main, produce, consume]))
    return name


def refusal_of(field: str, message: str) -> None:
    """Assert the door refused, naming `field`."""
    assert message.startswith(DENIED), message
    assert field in message, f"the refusal does not name {field}: {message}"


# -- Argo's operations by both paths: admitted and carried out ----------------------------------


def test_argo_submit_of_a_file_with_a_ref_runs_the_library_template(
    strict: WorkflowController, admin: k8s.ApiClient, argo: ArgoCLI, tmp_path: Path
) -> None:
    """Argo's client validates the Workflow and sends `status.storedTemplates` with it."""
    template = hello(admin, argo)
    body = make_ref_workflow(unique("wf"), NS, template)
    name = created_name(argo("submit", write_yaml(tmp_path / "wf.yaml", body), "-o", "name"))
    assert name == body["metadata"]["name"]
    runs_hello(admin, name, template=template)


def test_argo_submit_from_a_workflow_template_runs_it_with_the_parameter(
    strict: WorkflowController, admin: k8s.ApiClient, argo: ArgoCLI
) -> None:
    template = hello(admin, argo)
    name = created_name(
        argo(
            "submit",
            "--from",
            f"workflowtemplate/{template}",
            "-p",
            "msg=from-the-cli",
            "-o",
            "name",
        )
    )
    workflow = runs_hello(admin, name, args=["from-the-cli"], template=template)
    assert workflow["spec"]["workflowTemplateRef"] == {"name": template}


def test_argo_submit_from_a_cluster_workflow_template_runs_it(
    strict: WorkflowController, admin: k8s.ApiClient, argo: ArgoCLI, cluster_templates: list[str]
) -> None:
    template = unique("cluster-hello")
    cluster_templates.append(template)
    body = make_cluster_template(template)
    body["spec"] = make_steps_template(template, NS, image=TEMPLATE_IMAGE)["spec"]
    create_cluster_template(admin, body)
    served(argo, "cluster-template", template)
    name = created_name(
        argo("submit", "--from", f"clusterworkflowtemplate/{template}", "-o", "name")
    )
    workflow = runs_hello(admin, name)
    assert stored_spec(workflow)["workflowTemplateRef"] == {"name": template, "clusterScope": True}


def test_argo_submit_from_a_cron_workflow_runs_its_ref(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    template = hello(admin, argo)
    cron = create(
        alice, make_cron_workflow(unique("cron"), NS, {"workflowTemplateRef": {"name": template}})
    )
    name = created_name(
        argo("submit", "--from", f"cronwf/{cron['metadata']['name']}", "-o", "name")
    )
    runs_hello(admin, name, template=template)


def test_argo_resubmit_of_a_failed_workflow_runs_a_new_one(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    failed = terminated_hello(argo, admin, alice)
    name = created_name(argo("resubmit", failed, "-o", "name"))
    assert name != failed
    runs_hello(admin, name)


def test_argo_resubmit_memoized_reuses_the_steps_that_succeeded(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """A Failed Workflow whose produce step succeeded: the new one skips produce (no pod) and
    hands its outputs, carried in the new Workflow's nodes, to consume."""
    library = create_library(admin, NS, "relay", "toolbox")
    first = submit_to_approval(alice, admin, NS, library["relay"])
    argo("resume", first)
    produce = wait_for_step_pod(admin, NS, first, "produce")
    result = report_outputs(
        executor,
        get_workflow(admin, NS, first),
        step_node_name(first, 1, "produce"),
        {"parameters": [{"name": "out", "value": "first-run"}]},
    )
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    wait_for_step_pod(admin, NS, first, "consume")
    argo("terminate", first)
    wait_for_phase(admin, NS, first, ["Failed"])

    name = created_name(argo("resubmit", "--memoized", first, "-o", "name"))
    wait_for_node(admin, NS, name, "approve", ["Running"])
    argo("resume", name)
    consume = wait_for_step_pod(admin, NS, name, "consume")
    assert main_args([consume]) == [["first-run"]]
    workflow = get_workflow(admin, NS, name)
    assert find_node(workflow, "produce")["phase"] == "Skipped"
    assert step_pod(list_pods(admin, NS, name), "produce") is None


def test_argo_retry_with_a_parameter_runs_a_failed_workflow_again_with_it(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    name = terminated_hello(argo, admin, alice)
    old_pods = {p["metadata"]["uid"] for p in list_pods(admin, NS, name)}
    argo("retry", name, "-p", "msg=again")
    retried = wait_for_workflow(
        admin,
        NS,
        name,
        lambda wf: status(wf).get("phase") == "Running" and not wf["spec"].get("shutdown"),
        what="to run again after the retry",
    )
    assert stored_spec(retried)["arguments"] == {"parameters": [{"name": "msg", "value": "again"}]}
    pods = wait_for_pods(
        admin,
        NS,
        name,
        lambda pods: [p for p in pods if p["metadata"]["uid"] not in old_pods],
        what="to include a pod created after the retry",
    )
    assert main_args([p for p in pods if p["metadata"]["uid"] not in old_pods]) == [["again"]]


def test_argo_retry_restarting_a_succeeded_step_runs_it_again_with_the_parameter(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    """`--restart-successful --node-field-selector` on a Succeeded Workflow of suspend nodes."""
    name = submit_to_approval(alice, admin, NS, create_library(admin, NS, "gate")["gate"])
    argo("resume", name)
    wait_for_phase(admin, NS, name, ["Succeeded"])
    argo(
        "retry",
        name,
        "--restart-successful",
        "--node-field-selector",
        "displayName=approve",
        "-p",
        "msg=again",
    )
    workflow = wait_for_workflow(
        admin,
        NS,
        name,
        lambda wf: (
            status(wf).get("phase") == "Running"
            and (find_node(wf, "approve") or {}).get("phase") == "Running"
        ),
        what="to wait at approve again",
    )
    approve = find_node(workflow, "approve")
    assert approve["inputs"]["parameters"] == [{"name": "msg", "value": "again"}]
    assert stored_spec(workflow)["arguments"] == {"parameters": [{"name": "msg", "value": "again"}]}


def test_argo_retry_restarting_a_succeeded_container_step_resets_the_root_and_the_step(
    secure: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: k8s.ApiClient,
    argo: ArgoCLI,
) -> None:
    """A Succeeded steps Workflow whose step runs a container: FormulateRetryWorkflow deletes
    the selected step's pod node and resets the root and step group (Running, a new startedAt,
    finishedAt and the emptied outboundNodes cleared); the step runs again with the parameter."""
    name = unique("wf")
    create(alice, make_ref_workflow(name, NS, hello(admin)))
    finish_step(executor, admin, NS, name, 0, "a")
    wait_for_phase(admin, NS, name, ["Succeeded"])
    old_pods = {p["metadata"]["uid"] for p in list_pods(admin, NS, name)}
    argo(
        "retry",
        name,
        "--restart-successful",
        "--node-field-selector",
        "displayName=a",
        "-p",
        "msg=again",
    )
    pods = wait_for_pods(
        admin,
        NS,
        name,
        lambda pods: [p for p in pods if p["metadata"]["uid"] not in old_pods],
        what="to include a pod of step a created after the retry",
    )
    assert main_args([p for p in pods if p["metadata"]["uid"] not in old_pods]) == [["again"]]


def test_argo_cron_create_and_update_of_a_cron_workflow_that_has_run(
    strict: WorkflowController, admin: k8s.ApiClient, argo: ArgoCLI, tmp_path: Path
) -> None:
    """`argo cron create FILE` sends Go's zero status (no omitempty: `failed: 0`, `phase: ""`);
    once the cron controller has run it and written its status, `argo cron update FILE` sends
    the file's object with a zero status again (cron/update.go), and the controller rewrites
    its status."""
    name = unique("cron")
    body = make_cron_workflow(name, NS, {"workflowTemplateRef": {"name": hello(admin, argo)}})
    body["spec"]["schedules"] = ["* * * * *"]
    argo("cron", "create", write_yaml(tmp_path / "cron.yaml", body))
    wait_for(
        lambda: get_cron_workflow(admin, NS, name).get("status") or {},
        until=lambda s: s.get("lastScheduledTime"),
        timeout=90.0,
        what=f"the cron controller to run {name}",
    )
    body["spec"]["workflowSpec"]["arguments"] = {"parameters": [{"name": "msg", "value": "new"}]}
    argo("cron", "update", write_yaml(tmp_path / "cron.yaml", body))
    updated = get_cron_workflow(admin, NS, name)
    assert updated["spec"]["workflowSpec"]["arguments"]["parameters"][0]["value"] == "new"


@pytest.mark.parametrize(("command", "strategy"), [("stop", "Stop"), ("terminate", "Terminate")])
def test_argo_stop_and_terminate_end_the_workflow(
    secure: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    argo: ArgoCLI,
    command: str,
    strategy: str,
) -> None:
    name = unique("wf")
    create(alice, make_ref_workflow(name, NS, hello(admin)))
    wait_for_pods(admin, NS, name, bool, what="to include step a's pod")
    argo(command, name)
    workflow = wait_for_phase(admin, NS, name, ["Failed"])
    assert workflow["spec"]["shutdown"] == strategy
    assert status(workflow)["message"] == f"Stopped with strategy '{strategy}'"


def test_argo_suspend_holds_the_workflow_and_resume_releases_it(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    """Suspended, the Workflow does not finish even once its only step is resumed alone;
    resumed, it succeeds."""
    name = submit_to_approval(alice, admin, NS, create_library(admin, NS, "gate")["gate"])
    argo("suspend", name)
    wait_for_workflow(
        admin, NS, name, lambda wf: wf["spec"].get("suspend") is True, what="to be suspended"
    )
    argo("resume", name, "--node-field-selector", "displayName=approve")
    wait_for_node(admin, NS, name, "approve", ["Succeeded"])
    stays(
        lambda: get_workflow(admin, NS, name),
        holds=lambda wf: status(wf).get("phase") == "Running",
        duration=QUIET,
        what=f"Workflow {name} held while suspended",
    )
    argo("resume", name)
    assert not wait_for_phase(admin, NS, name, ["Succeeded"])["spec"].get("suspend")


def test_argo_node_set_supplies_the_output_of_a_suspend_node(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    name = start_relay(alice, admin, NS)
    argo(
        "node",
        "set",
        name,
        "--output-parameter",
        "answer=yes",
        "--message",
        "checked",
        "--node-field-selector",
        "displayName=approve",
    )
    workflow = wait_for_workflow(
        admin,
        NS,
        name,
        lambda wf: (find_node(wf, "approve") or {}).get("message") == "checked",
        what="to carry the message of approve",
    )
    assert find_node(workflow, "approve")["outputs"]["parameters"][0]["value"] == "yes"
    argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    assert main_args([produce]) == [["echo yes > /tmp/out"]]


def test_argo_cron_suspend_and_resume_switch_the_cron_workflow(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    cron = create(
        alice,
        make_cron_workflow(unique("cron"), NS, {"workflowTemplateRef": {"name": hello(admin)}}),
    )
    name = cron["metadata"]["name"]
    argo("cron", "suspend", name)
    assert get_cron_workflow(admin, NS, name)["spec"].get("suspend") is True
    argo("cron", "resume", name)
    assert not get_cron_workflow(admin, NS, name)["spec"].get("suspend")


def test_argo_template_create_and_update_by_the_library_owner_change_what_runs(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    argo: ArgoCLI,
    librarian: ArgoCLI,
    tmp_path: Path,
) -> None:
    """The admin writes the library with Argo's CLI; what alice then runs follows, with the
    securityContext baseline the door adds to templates."""
    template = unique("hello")
    body = make_steps_template(template, NS, image=TEMPLATE_IMAGE)
    librarian("template", "create", write_yaml(tmp_path / "template.yaml", body))
    served(argo, "template", template)
    first = created_name(argo("submit", "--from", f"workflowtemplate/{template}", "-o", "name"))
    pods = wait_for_pods(admin, NS, first, bool, what="to include step a's pod")
    assert main_args(pods) == [["hello"]]
    assert pods[0]["spec"]["securityContext"] == POD_BASELINE

    body["spec"]["arguments"]["parameters"][0]["value"] = "updated"
    librarian("template", "update", write_yaml(tmp_path / "template.yaml", body))
    served(
        argo,
        "template",
        template,
        until=lambda t: t["spec"]["arguments"]["parameters"][0]["value"] == "updated",
    )
    second = created_name(argo("submit", "--from", f"workflowtemplate/{template}", "-o", "name"))
    runs_hello(admin, second, args=["updated"], template=template)


def test_a_workflow_without_a_ref_is_refused_as_alice(
    strict: WorkflowController, door: Door, argo: ArgoCLI, tmp_path: Path
) -> None:
    """Through argo-server too, the door sees alice and refuses with its own message."""
    body = make_inline_workflow(unique("inline"), NS, image=EVIL)
    result = argo.run("submit", write_yaml(tmp_path / "wf.yaml", body))
    assert result.returncode != 0
    assert "[strict] workflows must use workflowTemplateRef" in result.stderr
    users = {
        line["user"]
        for line in door.server.audit_lines()
        if line["name"] == body["metadata"]["name"]
    }
    assert users == {ALICE}


# -- forgeries by alice: refused, no effect -----------------------------------------------------


def test_an_artifact_repository_ref_rewritten_to_a_secret_is_refused(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    kube_argo: ArgoCLI,
    secret: str,
) -> None:
    """Control run: without the door, the next pod mounts the Secret."""
    name = start_relay(alice, admin, NS)
    message = refused(lambda: update_workflow(alice, NS, name, point_artifacts_at(secret)))
    refusal_of("status.artifactRepositoryRef", message)
    kube_argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    assert secret not in secret_volumes([produce])


def test_a_forged_succeeded_node_is_refused_and_its_step_runs(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, kube_argo: ArgoCLI
) -> None:
    """Control run: without the door, produce is skipped and consume gets the forged output."""
    name = start_relay(alice, admin, NS)
    forged = {"parameters": [{"name": "out", "value": "forged"}]}
    message = refused(
        lambda: update_workflow(alice, NS, name, forge_succeeded_step(1, "produce", forged))
    )
    refusal_of("status.nodes", message)
    kube_argo("resume", name)
    wait_for_step_pod(admin, NS, name, "produce")
    workflow = wait_for_node(admin, NS, name, "produce", ["Pending", "Running"])
    assert find_node(workflow, "consume") is None


def test_a_claim_added_to_persistent_volume_claims_is_refused_and_kept(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    kube_argo: ArgoCLI,
    claim: str,
) -> None:
    """Control run: without the door, the claim is deleted when the Workflow succeeds."""
    name = submit_to_approval(alice, admin, NS, create_library(admin, NS, "gate")["gate"])
    message = refused(lambda: update_workflow(alice, NS, name, claim_volume(claim)))
    refusal_of("status.persistentVolumeClaims", message)
    kube_argo("resume", name)
    wait_for_phase(admin, NS, name, ["Succeeded"])
    stays(
        lambda: claim_state(admin, NS, claim),
        holds=lambda state: state == "kept",
        duration=QUIET,
        what=f"claim {claim} kept after Workflow {name} succeeded",
    )


def test_tampered_stored_templates_in_a_new_workflow_are_refused(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run: without the door, the tampered template runs in place of the library's."""
    library = create_library(admin, NS, "relay", "toolbox")
    key = stored_template_key(library["toolbox"], "produce")
    body = with_stored_templates(
        make_ref_workflow(unique("wf"), NS, library["relay"]), {key: evil_produce(EVIL)}
    )
    message = refused(lambda: create(alice, body))
    refusal_of("status.storedTemplates", message)
    assert not exists(admin, body)


def test_tampered_stored_templates_of_a_running_workflow_are_refused(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, kube_argo: ArgoCLI
) -> None:
    """Control run: without the door, the next step runs the tampered template."""
    library = create_library(admin, NS, "relay", "toolbox")
    name = submit_to_approval(alice, admin, NS, library["relay"])
    key = stored_template_key(library["toolbox"], "produce")
    message = refused(
        lambda: update_workflow(alice, NS, name, tamper_stored_template(key, evil_produce(EVIL)))
    )
    refusal_of("status.storedTemplates", message)
    kube_argo("resume", name)
    assert pod_images([wait_for_step_pod(admin, NS, name, "produce")]) == {TEMPLATE_IMAGE}


def test_a_patched_task_result_is_refused_and_the_next_step_gets_the_executors_output(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    kube_argo: ArgoCLI,
) -> None:
    """Control run: without the door, consume gets alice's value."""
    name = start_relay(alice, admin, NS)
    kube_argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    result = report_outputs(
        executor,
        get_workflow(admin, NS, name),
        step_node_name(name, 1, "produce"),
        {"parameters": [{"name": "out", "value": "from-the-executor"}]},
    )
    forged = {"outputs": {"parameters": [{"name": "out", "value": "forged"}]}}
    message = refused(lambda: patch_task_result(alice, NS, result, forged))
    refusal_of("[task-result]", message)
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    assert main_args([wait_for_step_pod(admin, NS, name, "consume")]) == [["from-the-executor"]]


def test_a_task_result_written_before_its_node_exists_is_asked_to_retry_then_taken(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    executor_account: k8s.ApiClient,
    kube_argo: ArgoCLI,
) -> None:
    """The controller creates a step's pod, then writes its node into the Workflow: the
    executor's first write can come before the node. The door answers 429 with Retry-After,
    which Argo's executor retries, and admits the write once the controller has the node.
    (That gap cannot be held open here, so the early write is made before the step's pod
    exists too, as the executor's account: the door asks for the node before the pod.)"""
    name = start_relay(alice, admin, NS)
    workflow = get_workflow(admin, NS, name)
    node = step_node_name(name, 1, "produce")
    outputs = {"parameters": [{"name": "out", "value": "from-the-executor"}]}
    with pytest.raises(ApiException) as early:
        report_outputs(executor_account, workflow, node, outputs, retry=False)
    assert (early.value.status, early.value.headers.get("Retry-After")) == (429, "1")
    refusal_of("[task-result]", error_message(early.value))
    assert "(yet)" in error_message(early.value)
    kube_argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    result = report_outputs(executor, workflow, node, outputs)
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    assert main_args([wait_for_step_pod(admin, NS, name, "consume")]) == [["from-the-executor"]]


def workflow_lookups(door: Door) -> dict[str, float]:
    """The door's Workflow lookups so far, by result (hit: its watch cache; the rest GET)."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(door.server.get("/metrics")):
        if family.name == "argo_admission_workflow_lookups":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    result = sample.labels["result"]
                    counts[result] = counts.get(result, 0.0) + sample.value
    return counts


def lookups_since(door: Door, before: dict[str, float]) -> dict[str, float]:
    now = workflow_lookups(door)
    return {k: now.get(k, 0.0) - before.get(k, 0.0) for k in ("hit", "miss", "fresh", "error")}


def test_task_results_of_a_running_workflow_are_decided_from_the_watch_without_a_get(
    strict: WorkflowController,
    door: Door,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    executor_account: k8s.ApiClient,
    kube_argo: ArgoCLI,
) -> None:
    """The door keeps running Workflows from a watch. The early write finds the Workflow
    there without its node: a fresh GET confirms before the 429, never the cache alone. The
    node the controller writes after the cache was filled comes through the watch, and the
    executor's writes are taken; the last, with the node long in the cache, costs no GET."""
    name = start_relay(alice, admin, NS)
    workflow = get_workflow(admin, NS, name)
    node = step_node_name(name, 1, "produce")
    outputs = {"parameters": [{"name": "out", "value": "from-the-executor"}]}
    before = workflow_lookups(door)
    with pytest.raises(ApiException) as early:
        report_outputs(executor_account, workflow, node, outputs, retry=False)
    assert early.value.status == 429
    assert lookups_since(door, before) == {"hit": 1, "miss": 0, "fresh": 1, "error": 0}
    kube_argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    result = report_outputs(executor, workflow, node, outputs)
    before = workflow_lookups(door)
    complete_outputs(executor, NS, result)
    assert lookups_since(door, before) == {"hit": 1, "miss": 0, "fresh": 0, "error": 0}
    finish_pod(admin, produce)
    assert main_args([wait_for_step_pod(admin, NS, name, "consume")]) == [["from-the-executor"]]


def test_a_task_result_as_the_account_of_a_pod_spec_patch_is_taken_and_the_replaced_refused(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    template_account: k8s.ApiClient,
    executor: PodExecutor,
) -> None:
    """Argo's controller gives produce's pod its template's account, then applies the
    template's podSpecPatch: the pod runs as `patched`, and so does its executor. The write as
    `builder`, the account the patch replaced, is refused; the one from produce's pod, with a
    token of `patched` bound to it, is taken and consume gets its output."""
    patched = account_subject(PATCHED_ACCOUNT)["name"]
    name = unique("wf")
    create(alice, make_ref_workflow(name, NS, patched_relay(admin, patched)))
    produce = wait_for_step_pod(admin, NS, name, "produce")
    assert produce["spec"]["serviceAccountName"] == patched
    workflow = wait_for_node(admin, NS, name, "produce", ["Pending", "Running"])
    node = step_node_name(name, 0, "produce")
    outputs = {"parameters": [{"name": "out", "value": "from-the-patched-account"}]}
    message = refused(
        lambda: report_outputs(template_account, workflow, node, outputs, retry=False)
    )
    refusal_of("[task-result]", message)
    assert f"not by {TEMPLATE_ACCOUNT}" in message
    result = report_outputs(executor, workflow, node, outputs)
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    consume = wait_for_step_pod(admin, NS, name, "consume")
    assert main_args([consume]) == [["from-the-patched-account"]]


def test_a_cron_workflow_listing_another_workflow_as_active_is_refused(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run: without the door, the cron controller terminates the listed Workflow."""
    library = create_library(admin, NS, "relay", "toolbox")
    victim = get_workflow(admin, NS, submit_to_approval(admin, admin, NS, library["relay"]))
    cron = create(alice, make_replacing_cron(NS, library["relay"]))
    message = refused(
        lambda: patch_cron(alice, NS, cron["metadata"]["name"], list_as_active(victim))
    )
    refusal_of("status.active", message)
    stays(
        lambda: get_workflow(admin, NS, victim["metadata"]["name"]),
        holds=lambda wf: status(wf).get("phase") == "Running" and not wf["spec"].get("shutdown"),
        duration=QUIET,
        what=f"Workflow {victim['metadata']['name']} running",
    )
