"""argo-admission in front of a real kube-apiserver: what users see at the door.

The server runs as a process with a policy the Helm chart renders, and the API server calls it
through the chart's own webhook configurations. Users act through the `kubernetes` client with
their own tokens; every assertion is on what the API server answers or stores. No Argo
controller runs here (tests/e2e/test_argo_with_webhook.py adds it): where a test needs a running
Workflow, the controller's identity writes the stored spec, as the controller would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s

from admission.core.merge import DEFAULT_OVERRIDE_ALLOWLIST, join_workflow_spec, sanitize_user_spec
from argocontroller import WorkflowController
from chart_render import deep_merge
from controlplane import ControlPlane
from expect import (
    CONTAINER_BASELINE,
    EVIL,
    NS,
    POD_BASELINE,
    REF_REQUIRED,
    SPEC_CHANGED,
    STATUS_IS_ARGOS,
    STORED_IS_ARGOS,
    refused,
)
from identities import ALICE, CONTROLLER
from webhook import DENIED, MUTATE_WEBHOOK, VALIDATE_WEBHOOK, Door, chart_values
from workflows import (
    GROUP,
    VERSION,
    container,
    create,
    create_cluster_template,
    create_with_warnings,
    custom,
    exists,
    get_workflow,
    make_cluster_template,
    make_cron_workflow,
    make_inline_workflow,
    make_ref_workflow,
    make_steps_template,
    make_template,
    unique,
    update_workflow,
    warning_texts,
    with_stored,
)

pytestmark = pytest.mark.e2e

TTL = {"secondsAfterCompletion": 3600}
DEFAULTS = {
    "spec": {
        "ttlStrategy": TTL,
        "podGC": {"strategy": "OnPodSuccess"},
        "serviceAccountName": "workflow-runner",
    }
}
# Beside a ref only ttlStrategy may be defaulted; podGC and serviceAccountName stay for plain
# Workflows (serviceAccountName is outside Argo's allowlist: Argo would refuse the Workflow).
POLICY = {"workflowDefaults": DEFAULTS, "mutation": {"refDefaults": ["ttlStrategy"]}}
STRICT = chart_values("Strict", **POLICY)
SECURE = chart_values("Secure", **POLICY)
OPEN = chart_values("", **POLICY)
WARN = chart_values("Strict", mode="warn", **POLICY)


# -- fixtures: one door per policy, switched only when a test needs another ---------------------


@pytest.fixture(scope="module", autouse=True)
def no_controller(workflow_controller: WorkflowController) -> None:
    """Stop the session's Argo controller if an earlier module started it: here the
    controller identity's writes are the tests' own, and nothing else may touch the Workflows."""
    workflow_controller.stop()


@pytest.fixture
def strict(door: Door, clean_namespaces: None) -> Door:
    """The door enforcing `templateReferencing: Strict` with the module's defaults."""
    door.configure(STRICT)
    return door


@pytest.fixture
def secure(door: Door, clean_namespaces: None) -> Door:
    """The door enforcing `templateReferencing: Secure` with the module's defaults."""
    door.configure(SECURE)
    return door


@pytest.fixture
def open_door(door: Door, clean_namespaces: None) -> Door:
    """The door without template referencing: it mutates and checks status, nothing more."""
    door.configure(OPEN)
    return door


@pytest.fixture
def warn(door: Door, clean_namespaces: None) -> Door:
    """The door with the Strict policy in warn mode: violations admitted with warnings."""
    door.configure(WARN)
    return door


@pytest.fixture
def controller(control_plane: ControlPlane) -> k8s.ApiClient:
    """A client acting as Argo's controller identity (exempt by the policy)."""
    return control_plane.client(CONTROLLER)


def library(admin: k8s.ApiClient, **options: Any) -> dict[str, Any]:
    """A steps WorkflowTemplate in team-a created by admin, as the API server stored it."""
    body = make_steps_template(unique("library"), NS)
    body["spec"].update(options)
    return create(admin, body)


def started_by_controller(
    controller: k8s.ApiClient, name: str, template: dict[str, Any]
) -> dict[str, Any]:
    """Do what Argo's controller does first: store the joined spec and mark the Workflow Running.

    The join is our own (admission/core/merge.py); the Argo test module proves it equals Argo's.
    """

    def start(workflow: dict[str, Any]) -> None:
        user = sanitize_user_spec(workflow["spec"], DEFAULT_OVERRIDE_ALLOWLIST)
        stored = join_workflow_spec(user, template["spec"], DEFAULTS["spec"])
        workflow["status"] = {"phase": "Running", "storedWorkflowTemplateSpec": stored}

    return update_workflow(controller, NS, name, start)


def running(alice: k8s.ApiClient, admin: k8s.ApiClient, controller: k8s.ApiClient) -> str:
    """Alice submits a ref Workflow; the controller identity starts it. Returns its name."""
    template = library(admin)
    name = unique("wf")
    create(alice, make_ref_workflow(name, NS, template["metadata"]["name"]))
    started_by_controller(controller, name, template)
    return name


def set_msg(value: str, *, suspend: bool | None = None) -> Callable[[dict[str, Any]], None]:
    """An edit of spec.arguments (parameter `msg`), and of spec.suspend when given."""

    def change(workflow: dict[str, Any]) -> None:
        workflow["spec"]["arguments"] = {"parameters": [{"name": "msg", "value": value}]}
        if suspend is not None:
            workflow["spec"]["suspend"] = suspend

    return change


def exempt_values(values: dict[str, Any], skip_exempt: bool) -> dict[str, Any]:
    """`values` with the chart's webhook.skipExempt set: who skips exempt requests, the API
    server (matchConditions, namespaceSelector) or argo-admission's own exemptions."""
    return deep_merge(values, {"webhook": {"skipExempt": skip_exempt}})


# -- 1, 2: Strict at the door -------------------------------------------------------------------


def test_strict_denies_a_workflow_without_ref_and_alice_reads_why(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    body = make_inline_workflow(unique("inline"), NS)
    message = refused(lambda: create(alice, body))
    assert message == (
        f"{DENIED}[strict] {REF_REQUIRED}: set spec.workflowTemplateRef to a WorkflowTemplate "
        "or ClusterWorkflowTemplate of the library instead of inline templates "
        "(templateReferencing: Strict); e.g. `argo submit --from workflowtemplate/NAME`"
    )
    assert not exists(admin, body)


def test_strict_admits_a_ref_workflow_with_only_allowlisted_defaults_beside_the_ref(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    template = library(admin)["metadata"]["name"]
    name = unique("wf")
    answered = create(alice, make_ref_workflow(name, NS, template))
    assert answered["spec"] == {"workflowTemplateRef": {"name": template}, "ttlStrategy": TTL}
    assert get_workflow(admin, NS, name)["spec"] == answered["spec"]


def test_strict_leaves_a_default_the_template_sets_to_the_template(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    """The template outranks workflowDefaults in Argo's join: no default beside the ref."""
    template = library(admin, ttlStrategy={"secondsAfterSuccess": 60})["metadata"]["name"]
    answered = create(alice, make_ref_workflow(unique("wf"), NS, template))
    assert answered["spec"] == {"workflowTemplateRef": {"name": template}}


# -- 3: mutation: the baseline in the library, defaults on plain Workflows ----------------------


def baseline_template(name: str) -> dict[str, Any]:
    """A template with a container, a script, a sidecar and one securityContext of its own."""
    own = {**container("alpine:3.20"), "securityContext": {"runAsUser": 1000}}
    templates = [
        {
            "name": "main",
            "steps": [[{"name": "a", "template": "work"}, {"name": "b", "template": "script"}]],
        },
        {
            "name": "work",
            "container": own,
            "sidecars": [{"name": "proxy", "image": "envoy:1", "command": ["envoy"]}],
        },
        {
            "name": "script",
            "script": {"image": "python:3", "command": ["python"], "source": "print(1)"},
        },
    ]
    return make_template(name, NS, templates=templates)


def test_a_workflow_template_comes_back_with_the_security_context_baseline(
    strict: Door, admin: k8s.ApiClient
) -> None:
    stored = create(admin, baseline_template(unique("library")))
    spec = stored["spec"]
    assert spec["securityContext"] == POD_BASELINE
    work, script = spec["templates"][1], spec["templates"][2]
    assert work["container"]["securityContext"] == {"runAsUser": 1000, **CONTAINER_BASELINE}
    assert work["sidecars"][0]["securityContext"] == CONTAINER_BASELINE
    assert script["script"]["securityContext"] == CONTAINER_BASELINE
    assert "securityContext" not in spec["templates"][0]  # a steps template runs no container


def test_an_update_of_a_template_adds_no_baseline(strict: Door, admin: k8s.ApiClient) -> None:
    """Mutated at CREATE only: re-applying a file without the baseline stores it as written, so
    the first write after the door never changes the spec running Workflows joined."""
    body = baseline_template(unique("library"))
    stored = create(admin, body)
    assert stored["spec"]["securityContext"] == POD_BASELINE
    again = {
        **body,
        "metadata": {**body["metadata"], "resourceVersion": stored["metadata"]["resourceVersion"]},
    }
    updated = dict(
        custom(admin).replace_namespaced_custom_object(
            GROUP, VERSION, NS, "workflowtemplates", body["metadata"]["name"], again
        )
    )
    assert "securityContext" not in updated["spec"]
    assert updated["spec"]["templates"][1]["container"]["securityContext"] == {"runAsUser": 1000}


def test_a_cluster_workflow_template_comes_back_with_the_security_context_baseline(
    strict: Door, admin: k8s.ApiClient, cluster_templates: list[str]
) -> None:
    name = unique("cluster-library")
    cluster_templates.append(name)
    spec = create_cluster_template(admin, make_cluster_template(name))["spec"]
    assert spec["securityContext"] == POD_BASELINE
    assert spec["templates"][0]["container"]["securityContext"] == CONTAINER_BASELINE


def test_without_strict_a_plain_workflow_comes_back_with_defaults_and_the_baseline(
    open_door: Door, alice: k8s.ApiClient
) -> None:
    spec = create(alice, make_inline_workflow(unique("plain"), NS))["spec"]
    assert spec["ttlStrategy"] == TTL
    assert spec["podGC"] == {"strategy": "OnPodSuccess"}
    assert spec["serviceAccountName"] == "workflow-runner"
    assert spec["securityContext"] == POD_BASELINE
    assert spec["templates"][0]["container"]["securityContext"] == CONTAINER_BASELINE


def test_without_strict_a_workflow_keeps_what_it_sets_over_the_defaults(
    open_door: Door, alice: k8s.ApiClient
) -> None:
    body = make_inline_workflow(unique("plain"), NS)
    body["spec"]["serviceAccountName"] = "own-runner"
    body["spec"]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000}
    spec = create(alice, body)["spec"]
    assert spec["serviceAccountName"] == "own-runner"
    assert spec["securityContext"] == {**POD_BASELINE, "runAsUser": 1000}


def test_without_strict_a_workflow_carrying_status_is_still_denied(
    open_door: Door, alice: k8s.ApiClient
) -> None:
    body = with_stored(make_inline_workflow(unique("forged"), NS), {"entrypoint": "main"})
    message = refused(lambda: create(alice, body))
    assert message.startswith(f"{DENIED}{STATUS_IS_ARGOS}")


# -- 4: what may not come beside a ref, nor into status -----------------------------------------


@pytest.mark.parametrize(
    ("field", "go_name", "value"),
    [
        ("podSpecPatch", "PodSpecPatch", '{"containers":[{"name":"main","image":"evil:latest"}]}'),
        ("serviceAccountName", "ServiceAccountName", "cluster-admin"),
        ("templates", "Templates", [{"name": "main", "container": container(EVIL)}]),
    ],
    ids=["podSpecPatch", "serviceAccountName", "templates"],
)
def test_strict_denies_a_field_beside_the_ref_in_argos_words(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient, field: str, go_name: str, value: Any
) -> None:
    body = make_ref_workflow(
        unique("override"), NS, library(admin)["metadata"]["name"], **{field: value}
    )
    message = refused(lambda: create(alice, body))
    assert message.startswith(
        f"{DENIED}[overrides] fields [{go_name}] are not permitted when using "
        f"workflowTemplateRef with templateReferencing restriction: remove spec.{field}: "
    )
    assert not exists(admin, body)


@pytest.mark.parametrize("phase", [None, "Running"], ids=["no-phase", "phase-running"])
def test_a_create_carrying_a_stored_spec_is_denied(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient, phase: str | None
) -> None:
    body = with_stored(
        make_ref_workflow(unique("forged"), NS, library(admin)["metadata"]["name"]),
        {"entrypoint": "main", "templates": [{"name": "main", "container": container(EVIL)}]},
        phase=phase,
    )
    message = refused(lambda: create(alice, body))
    fields = ", ".join(f"status.{f}" for f in sorted(body["status"]))
    assert message == f"{DENIED}{STATUS_IS_ARGOS}: remove {fields} from the new Workflow"
    assert not exists(admin, body)


def test_a_users_update_changing_the_stored_spec_is_denied_with_the_diff(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient, controller: k8s.ApiClient
) -> None:
    name = running(alice, admin, controller)

    def swap_image(workflow: dict[str, Any]) -> None:
        stored = workflow["status"]["storedWorkflowTemplateSpec"]
        stored["templates"][1]["container"]["image"] = EVIL

    message = refused(lambda: update_workflow(alice, NS, name, swap_image))
    assert message.startswith(f"{DENIED}{STORED_IS_ARGOS}: only `argo retry` may change it")
    assert (
        "status.storedWorkflowTemplateSpec.templates[name=work].container.image: "
        f"'alpine:3.20' -> '{EVIL}'"
    ) in message
    stored = get_workflow(admin, NS, name)["status"]["storedWorkflowTemplateSpec"]
    assert stored["templates"][1]["container"]["image"] == "alpine:3.20"


# -- 5: Secure: the running spec stays; day-2 operations pass -----------------------------------


@pytest.mark.parametrize("suspend", [None, False], ids=["plain", "beside-suspend-false"])
def test_secure_denies_an_update_changing_the_merged_spec_with_the_diff(
    secure: Door,
    alice: k8s.ApiClient,
    admin: k8s.ApiClient,
    controller: k8s.ApiClient,
    suspend: bool | None,
) -> None:
    """`suspend: false` beside the change is where Argo's own compare looks away."""
    name = running(alice, admin, controller)
    message = refused(lambda: update_workflow(alice, NS, name, set_msg("changed", suspend=suspend)))
    assert message == (
        f"{DENIED}[secure] {SPEC_CHANGED}: the spec joined from this Workflow, its template and "
        "workflowDefaults differs from status.storedWorkflowTemplateSpec:\n"
        "  spec.arguments.parameters[name=msg].value: 'hello' -> 'changed'"
    )
    assert "arguments" not in get_workflow(admin, NS, name)["spec"]


def stop(workflow: dict[str, Any]) -> None:
    """What `argo stop` writes."""
    workflow["spec"]["shutdown"] = "Stop"


def suspend(workflow: dict[str, Any]) -> None:
    """What `argo suspend` writes."""
    workflow["spec"]["suspend"] = True


def label(workflow: dict[str, Any]) -> None:
    """A metadata-only edit."""
    workflow["metadata"].setdefault("labels", {})["team"] = "a"


@pytest.mark.parametrize("edit", [stop, suspend, label], ids=["stop", "suspend", "label"])
def test_secure_admits_day_two_updates_of_a_running_workflow(
    secure: Door,
    alice: k8s.ApiClient,
    admin: k8s.ApiClient,
    controller: k8s.ApiClient,
    edit: Callable[[dict[str, Any]], None],
) -> None:
    name = running(alice, admin, controller)
    updated = update_workflow(alice, NS, name, edit)
    expected = get_workflow(admin, NS, name)
    edit(expected)
    assert updated["spec"] == expected["spec"]
    assert updated["metadata"].get("labels") == expected["metadata"].get("labels")


def test_secure_editing_a_template_warns_naming_the_running_workflows_that_use_it(
    secure: Door, alice: k8s.ApiClient, admin: k8s.ApiClient, controller: k8s.ApiClient
) -> None:
    name = running(alice, admin, controller)
    template = get_workflow(admin, NS, name)["spec"]["workflowTemplateRef"]["name"]
    body = custom(admin).get_namespaced_custom_object(
        GROUP, VERSION, NS, "workflowtemplates", template
    )
    step = next(t for t in body["spec"]["templates"] if "container" in t)
    step["container"]["image"] = "alpine:3.21"
    response = custom(admin).replace_namespaced_custom_object(
        GROUP, VERSION, NS, "workflowtemplates", template, body, _preload_content=False
    )
    warnings = " ".join(warning_texts(response.headers.getlist("Warning")))
    assert "editing this template fails the running Workflows that reference it" in warnings
    assert f"{NS}/{name}" in warnings


@pytest.mark.parametrize(
    "skip_exempt", [True, False], ids=["skipped-by-the-api-server", "exempted-by-argo-admission"]
)
def test_secure_admits_the_controllers_update_of_the_spec_and_the_stored_spec(
    door: Door,
    clean_namespaces: None,
    alice: k8s.ApiClient,
    admin: k8s.ApiClient,
    controller: k8s.ApiClient,
    skip_exempt: bool,
) -> None:
    door.configure(exempt_values(SECURE, skip_exempt))
    name = running(alice, admin, controller)
    before = door.server.request_counts(decision="exempt")

    def rewrite(workflow: dict[str, Any]) -> None:
        set_msg("from-the-controller")(workflow)
        workflow["status"]["storedWorkflowTemplateSpec"]["arguments"] = workflow["spec"][
            "arguments"
        ]

    updated = update_workflow(controller, NS, name, rewrite)
    assert updated["spec"]["arguments"]["parameters"] == [
        {"name": "msg", "value": "from-the-controller"}
    ]
    after = door.server.request_counts(decision="exempt")
    assert after["validate"] - before["validate"] == (0 if skip_exempt else 1)


# -- 6: CronWorkflows, and the exempt namespace -------------------------------------------------


def test_strict_denies_a_cron_workflow_without_ref(strict: Door, alice: k8s.ApiClient) -> None:
    body = make_cron_workflow(unique("cron"), NS, make_inline_workflow("x", NS)["spec"])
    message = refused(lambda: create(alice, body))
    assert message.startswith(
        f"{DENIED}[strict] {REF_REQUIRED}: set "
        "spec.workflowSpec.workflowTemplateRef to a WorkflowTemplate"
    )


def test_strict_admits_a_cron_workflow_with_a_ref(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    template = library(admin)["metadata"]["name"]
    body = make_cron_workflow(unique("cron"), NS, {"workflowTemplateRef": {"name": template}})
    stored = create(alice, body)
    assert stored["spec"]["workflowSpec"] == {
        "workflowTemplateRef": {"name": template},
        "ttlStrategy": TTL,
    }


@pytest.mark.parametrize(
    "skip_exempt", [True, False], ids=["skipped-by-the-api-server", "exempted-by-argo-admission"]
)
def test_strict_admits_anything_in_the_exempt_namespace(
    door: Door, clean_namespaces: None, alice: k8s.ApiClient, skip_exempt: bool
) -> None:
    door.configure(exempt_values(STRICT, skip_exempt))
    before = door.server.request_counts(decision="exempt")
    body = make_cron_workflow(unique("cron"), "exempt", make_inline_workflow("x", "exempt")["spec"])
    stored = create(alice, body)
    assert stored["spec"]["workflowSpec"] == body["spec"]["workflowSpec"]  # nor mutated
    after = door.server.request_counts(decision="exempt")
    called = 0 if skip_exempt else 1
    assert (after["validate"] - before["validate"], after["mutate"] - before["mutate"]) == (
        called,
        called,
    )


# -- 7: dry runs, and warn mode -----------------------------------------------------------------


def test_a_server_side_dry_run_is_evaluated_and_audited_as_a_dry_run(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    body = make_inline_workflow(unique("dry"), NS)
    message = refused(lambda: create_with_warnings(alice, body, dry_run=True))
    assert message.startswith(f"{DENIED}[strict] {REF_REQUIRED}")
    assert not exists(admin, body)
    lines = [
        line for line in strict.server.audit_lines() if line["name"] == body["metadata"]["name"]
    ]
    assert [(line["decision"], line["rule"], line["user"], line["dry_run"]) for line in lines] == [
        ("deny", "strict", ALICE, True)
    ]


def test_a_server_side_dry_run_answers_the_mutated_object_and_stores_nothing(
    strict: Door, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    template = library(admin)["metadata"]["name"]
    body = make_ref_workflow(unique("dry"), NS, template)
    answered, _ = create_with_warnings(alice, body, dry_run=True)
    assert answered["spec"] == {"workflowTemplateRef": {"name": template}, "ttlStrategy": TTL}
    assert not exists(admin, body)


def test_warn_mode_admits_with_the_reasons_as_warnings(
    warn: Door, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    body = make_inline_workflow(unique("warned"), NS)
    _, warnings = create_with_warnings(alice, body)
    assert exists(admin, body)
    strict_warnings = [w for w in warnings if w.startswith("[strict]")]
    assert len(strict_warnings) == 1
    assert strict_warnings[0].startswith(
        f"[strict] {REF_REQUIRED}: set spec.workflowTemplateRef to a WorkflowTemplate"
    )
    # The API server cuts each warning at 256 characters: a long one continues on more lines.
    assert all(len(w) <= 256 for w in warnings)
    assert "argo submit --from workflowtemplate/NAME" in " ".join(warnings)
    lines = [
        line
        for line in warn.server.audit_lines()
        if line["name"] == body["metadata"]["name"] and line["endpoint"] == "validate"
    ]
    assert [(line["decision"], line["rule"], line["mode"]) for line in lines] == [
        ("warn", "strict", "warn")
    ]


def test_warn_mode_warnings_reach_kubectl(warn: Door, control_plane: ControlPlane) -> None:
    """What a person sees: kubectl prints the API server's warnings on stderr."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # not one of the binaries setup.sh builds; the test above covers warnings
        pytest.skip("kubectl is not on PATH")
    name = unique("warned")
    manifest = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
        f"metadata: {{name: {name}, namespace: {NS}}}\n"
        "spec: {entrypoint: main, templates: [{name: main, container: "
        "{image: 'alpine:3.20', command: [echo]}}]}\n"
    )
    result = subprocess.run(
        [kubectl, "--kubeconfig", str(control_plane.kubeconfig(ALICE)), "create", "-f", "-"],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Warning: [strict] {REF_REQUIRED}" in result.stderr
    assert f"workflow.argoproj.io/{name} created" in result.stdout


# -- 8: the webhook down ------------------------------------------------------------------------

FAIL_OPEN = {
    "webhook": {
        "validating": {"failurePolicy": "Ignore", "acknowledgeFailOpen": True},
        "mutating": {"failurePolicy": "Ignore"},
    }
}
VALIDATING_ONLY = {"webhook": {"mutating": {"enabled": False}}}


@pytest.mark.parametrize(
    ("values", "first_called"),
    [
        (STRICT, MUTATE_WEBHOOK),
        (deep_merge(STRICT, VALIDATING_ONLY), VALIDATE_WEBHOOK),
    ],
    ids=["both-webhooks", "validating-only"],
)
def test_webhook_down_with_failure_policy_fail_refuses_with_a_connection_error(
    door: Door,
    clean_namespaces: None,
    alice: k8s.ApiClient,
    admin: k8s.ApiClient,
    values: dict[str, Any],
    first_called: str,
) -> None:
    """The API server calls mutating webhooks first: the first to fail names itself."""
    door.configure(values)
    body = make_ref_workflow(unique("door-down"), NS, library(admin)["metadata"]["name"])
    with door.down():
        message = refused(lambda: create(alice, body), status=500)
    assert message.startswith(f'Internal error occurred: failed calling webhook "{first_called}"')
    assert f"{door.server.url}/" in message
    assert "connect: connection refused" in message
    assert not exists(admin, body)


def test_webhook_down_with_failure_policy_ignore_admits(
    door: Door, clean_namespaces: None, alice: k8s.ApiClient, admin: k8s.ApiClient
) -> None:
    """Failing open: with nobody at the door, even what Strict refuses is stored."""
    door.configure(deep_merge(STRICT, FAIL_OPEN))
    body = make_inline_workflow(unique("fail-open"), NS)
    with door.down():
        stored = create(alice, body)
    assert "ttlStrategy" not in stored["spec"]  # nor mutated
    assert exists(admin, body)
