"""The exported ValidatingAdmissionPolicy decides as the webhook does, on the real API server.

Every policy-suite case that is a Workflow or CronWorkflow CREATE is sent (dry-run, as the case's
user and groups) through the policy exported from the suite's own Config, bound with the Warn
action so the API server hands back both the object it admitted and the policy's verdict. The
webhook's verdict comes from the core (`webhook.handle`) on that same object. In both
directions: what the webhook admits the policy never refuses; what the webhook refuses by a rule
the policy claims (vap.RULES says "cel"), the policy refuses with the webhook's first line.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from admission.core.config import Config
from admission.core.vap import RULES, WEBHOOK_STATUS
from admission.core.vapindex import library_index
from admission.core.webhook import handle
from admission.files.templates import FileTemplateSource
from controlplane import ControlPlane
from harness.processes import wait_for
from identities import ADMIN, ALICE, WEBHOOK, user_subject
from policyvap import (
    LIBRARY,
    PLAIN,
    PLAIN_WRONG,
    Answer,
    allow_creates,
    create,
    ensure_namespace,
    install,
    probe,
    remove,
    revoke_creates,
)
from suitecases import SUITES, USERNAMES, USERS, case_object, suite_config
from support import FIXTURES, load_yaml, make_review
from test_kube_source import serve
from workflows import make_ref_workflow, make_template, unique

WARNING = re.compile(
    r"Validation failed for ValidatingAdmissionPolicy '([^']+)' with binding '[^']+': (.*)", re.S
)
CLAIMED = frozenset(rule for rule, why in RULES.items() if why.startswith("cel"))


def creates(suite: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's Workflow and CronWorkflow CREATEs sent to the validating webhook."""
    out = []
    for case in suite["cases"]:
        if "raw" in case or case.get("operation", "CREATE") != "CREATE":
            continue
        if case.get("endpoint", "validate") != "validate":
            continue
        obj = case_object(case)
        if isinstance(obj, dict) and obj.get("kind") in ("Workflow", "CronWorkflow"):
            out.append(case)
    return out


SUITE_PARAMS = [pytest.param(path, id=path.stem) for path in SUITES if creates(load_yaml(path))]


def index_for(config: Config, suite: dict[str, Any], namespaces: set[str]) -> dict[str, str]:
    """The library index the server would keep for the suite's templates.

    A fixture template without a namespace stands for one in every namespace (as
    FileTemplateSource finds it), so it is indexed in each namespace the cases use.
    """
    source = FileTemplateSource.from_paths(FIXTURES / p for p in suite.get("templates", []))
    templates = []
    for template in source.templates():
        meta = template.get("metadata") or {}
        if template.get("kind") == "WorkflowTemplate" and not meta.get("namespace"):
            for namespace in sorted(namespaces):
                placed = copy.deepcopy(dict(template))
                placed["metadata"] = {**meta, "namespace": namespace}
                templates.append(placed)
        else:
            templates.append(template)
    return library_index(config, templates, source)


def send(plane: ControlPlane, case: dict[str, Any]) -> tuple[str, str, list[str], Answer]:
    """(namespace, user, groups, answer) of the case's CREATE, dry-run."""
    user = case.get("user", "alice")
    username = USERNAMES.get(user, user)
    groups = case.get("groups", USERS.get(user, ["system:authenticated"]))
    namespace = case.get("namespace", "team-a")
    obj = copy.deepcopy(case_object(case))
    meta = obj.setdefault("metadata", {}) if isinstance(obj.get("metadata"), dict) else {}
    meta["namespace"] = namespace
    if not meta.get("name") and not meta.get("generateName"):
        meta["generateName"] = "case-"
    ensure_namespace(plane, namespace)
    return (
        namespace,
        username,
        groups,
        create(plane, obj, namespace=namespace, user=username, groups=groups),
    )


def webhook_says(
    config: Config,
    source: FileTemplateSource,
    obj: dict[str, Any],
    *,
    namespace: str,
    user: str,
    groups: list[str],
) -> Any:
    """The webhook's Decision for the object as the API server admitted it (enforce mode)."""
    review = make_review(
        json.loads(json.dumps(obj, sort_keys=True)),
        namespace=namespace,
        operation="CREATE",
        username=user,
        groups=groups,
    )
    enforce = dataclasses.replace(config, mode="enforce")
    return handle(review, endpoint="validate", config=enforce, templates=source).decision


def left_to_webhook(obj: dict[str, Any]) -> bool:
    """A CREATE whose status carries what the policy's matchConditions leave to the webhook."""
    status = obj.get("status")
    return isinstance(status, dict) and any(
        status.get(f) not in (None, "", [], {}) for f in WEBHOOK_STATUS
    )


@pytest.fixture(scope="module")
def policy(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The policy stays installed for the module (updated per test), and is removed after."""
    try:
        yield control_plane
    finally:
        remove(control_plane)


LAG_POLICY = """workflowRestrictions: {templateReferencing: Strict}
templateLibrary: {selector: {matchLabels: {argo-admission.io/library: approved}}}
"""


def grant_index_writer(plane: ControlPlane) -> Callable[[], None]:
    """What the webhook's user needs to keep the index: its Lease and its ConfigMap."""
    rbac = k8s.RbacAuthorizationV1Api(plane.client(ADMIN))
    rules = [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        },
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "create", "update", "patch"],
        },
    ]
    name = "argo-admission-library-e2e"
    ensure_namespace(plane, LIBRARY[0])
    rbac.create_namespaced_role(LIBRARY[0], {"metadata": {"name": name}, "rules": rules})
    rbac.create_namespaced_role_binding(
        LIBRARY[0],
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [user_subject(WEBHOOK)],
        },
    )

    def revoke() -> None:
        rbac.delete_namespaced_role_binding(name, LIBRARY[0])
        rbac.delete_namespaced_role(name, LIBRARY[0])

    return revoke


def test_the_server_keeps_the_library_index_and_a_template_taken_out_is_refused_soon(
    policy: ControlPlane, tmp_path: Path
) -> None:
    """serve --library-configmap writes the index the policy reads; a template unlabelled out
    of the library is refused by the policy a moment later (the lag is printed, not asserted).

    First in the module: once a policy named the same lost its paramKind and got it back
    (the suites' policies differ), kube-apiserver v1.36.3 was seen to keep reading the index
    as it was then, missing the server's later writes."""
    plane = policy
    (tmp_path / "policy.yaml").write_text(LAG_POLICY)
    config = suite_config({"config": yaml.safe_load(LAG_POLICY)})
    objects = k8s.CustomObjectsApi(plane.client(ADMIN))
    template = make_template(unique("lag"), "team-a")
    template["metadata"]["labels"] = {"argo-admission.io/library": "approved"}
    objects.create_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "team-a", "workflowtemplates", template
    )
    name = template["metadata"]["name"]
    workflow = make_ref_workflow("", "team-a", name)
    workflow["metadata"] = {"generateName": "lag-"}
    revoke = grant_index_writer(plane)
    allow_creates(plane, {"probe", ALICE})
    target = f"{LIBRARY[0]}/{LIBRARY[1]}"
    try:
        with serve(
            plane,
            tmp_path,
            "--config",
            str(tmp_path / "policy.yaml"),
            "--library-configmap",
            target,
        ) as hook:
            wait_for(lambda: index_key(plane, name), what="the server to write the index")
            install(plane, config, library=None, param=True)
            wait_for(  # the API server's informer of the index catches up a moment later
                lambda: create(plane, workflow, namespace="team-a", user=ALICE, groups=["team"]),
                until=lambda answer: answer.status == 201,
                what="the policy to admit a ref to a library template",
            )
            watched = [measure_lag(plane, objects, name, workflow) for _ in range(LAG_ROUNDS)]
            plane.register_webhooks(TEMPLATE_WEBHOOK, url=hook.url, ca_bundle=hook.ca.read_bytes())
            try:
                marked = [measure_lag(plane, objects, name, workflow) for _ in range(LAG_ROUNDS)]
            finally:
                plane.delete_webhooks(TEMPLATE_WEBHOOK)
            for how, lags in (("the watch alone", watched), ("marked by the webhook", marked)):
                lags.sort()
                print(
                    f"library index lag, {how}, {LAG_ROUNDS} unlabels: min "
                    f"{lags[0] * 1000:.0f} ms, median {lags[len(lags) // 2] * 1000:.0f} ms, "
                    f"max {lags[-1] * 1000:.0f} ms"
                )
            assert max(marked) < 0.5, marked  # the first CREATE after the unlabel is refused
    finally:
        revoke()
        revoke_creates(plane)
        objects.delete_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "team-a", "workflowtemplates", name
        )


# (shape, spec beside the ref, labels, whether the plain path admits it, whether a check
# refuses it): what kubectl, Argo Events' sensors and the cron controller send takes the plain
# path; the rest goes through every check.
INSTANCE = {"workflows.argoproj.io/controller-instanceid": "x"}
PLAIN_SHAPES = [
    ("a bare ref", {}, {}, True, False),
    (
        "an entrypoint of the template (the chain checks it)",
        {"entrypoint": "main"},
        {},
        False,
        False,
    ),
    ("a cluster-scoped ref", {"clusterScope": True}, {}, True, False),
    ("an entrypoint the template lacks", {"entrypoint": "other"}, {}, False, True),
    ("a field off the allowlist", {"serviceAccountName": "x"}, {}, False, True),
    (
        "artifactGC, whose nested fields are checked",
        {"artifactGC": {"strategy": ""}},
        {},
        False,
        False,
    ),
    ("a ref to no template", {"name": "missing"}, {}, False, True),
    ("another controller's instance id", {}, INSTANCE, False, True),
]


@pytest.mark.parametrize(
    "shape, beside, labels, plain, refused", PLAIN_SHAPES, ids=[s[0] for s in PLAIN_SHAPES]
)
def test_the_plain_path_takes_the_shapes_users_send_and_nothing_else(
    policy: ControlPlane,
    shape: str,
    beside: dict[str, Any],
    labels: dict[str, str],
    plain: bool,
    refused: bool,
) -> None:
    """`variables.plain` spares the chain of checks for the common ref Workflow: traced with a
    warning, it is taken for those shapes only, and never against the checks' verdict.

    Right after the lag test, while the policy still reads an index (see that test)."""
    config = suite_config({"policy": "strict"})
    cluster = make_template("etl", "")
    cluster["kind"] = "ClusterWorkflowTemplate"
    del cluster["metadata"]["namespace"]
    templates = [make_template("etl", "team-a"), cluster]
    library = library_index(config, templates, FileTemplateSource(templates))
    allow_creates(policy, {ALICE, "probe"})
    install(policy, config, actions=["Warn"], library=library, trace=True)
    on_ref = {k: v for k, v in beside.items() if k in ("clusterScope", "name")}
    spec = {k: v for k, v in beside.items() if k not in on_ref}
    workflow = make_ref_workflow("", "team-a", "etl", **spec)
    workflow["spec"]["workflowTemplateRef"].update(on_ref)
    workflow["spec"]["arguments"] = {"parameters": [{"name": "date", "value": "2026-12-04"}]}
    workflow["metadata"] = {"generateName": "plain-", "labels": labels}
    bare = make_ref_workflow("", "team-a", "etl")
    bare["metadata"] = {"generateName": "bare-"}
    try:
        wait_for(  # the API server's informer of the index catches up a moment later
            lambda: create(policy, bare, namespace="team-a", user=ALICE, groups=["team"]),
            until=lambda answer: not any("[template-ref]" in w for w in answer.warnings),
            what="the policy to read this index",
        )
        answer = create(policy, workflow, namespace="team-a", user=ALICE, groups=["team"])
    finally:
        revoke_creates(policy)
    ours = [m.group(2) for w in answer.warnings if (m := WARNING.fullmatch(w))]
    assert answer.status == 201, answer
    assert not [w for w in ours if w.startswith(PLAIN_WRONG)], ours
    assert (PLAIN in ours) == plain, (shape, ours)
    assert bool([w for w in ours if w != PLAIN]) == refused, (shape, ours)


@pytest.mark.parametrize("path", SUITE_PARAMS)
def test_the_policy_decides_every_suite_create_as_the_webhook_does(
    policy: ControlPlane, path: Any
) -> None:
    """Both directions, case by case; a mismatch names the case and both verdicts."""
    control_plane = policy
    suite = load_yaml(path)
    config = suite_config(suite)
    cases = creates(suite)
    namespaces = {c.get("namespace", "team-a") for c in cases} | {"team-a"}
    source = FileTemplateSource.from_paths(FIXTURES / p for p in suite.get("templates", []))
    library = index_for(config, suite, namespaces) if config.strict else None
    users = {USERNAMES.get(c.get("user", "alice"), c.get("user", "alice")) for c in cases}
    allow_creates(control_plane, users | {"probe"})
    install(control_plane, config, actions=["Warn"], library=library, trace=True)
    mismatches, seen = [], Counter[str]()
    try:
        for case in cases:
            namespace, user, groups, answer = send(control_plane, case)
            if answer.status >= 400:  # refused before the policy had a say (e.g. the schema)
                seen["refused by the API server's own checks"] += 1
                if "ValidatingAdmissionPolicy" in answer.message:
                    mismatches.append(f"{case['name']}: the policy failed: {answer.message}")
                continue
            ours = [m.group(2) for w in answer.warnings if (m := WARNING.fullmatch(w))]
            seen["the plain path"] += ours.count(PLAIN)
            mismatches += [f"{case['name']}: {w}" for w in ours if w.startswith(PLAIN_WRONG)]
            ours = [w for w in ours if w != PLAIN and not w.startswith(PLAIN_WRONG)]
            decision = webhook_says(
                config, source, answer.body, namespace=namespace, user=user, groups=groups
            )
            problem, label = compare(decision, ours, left_to_webhook(answer.body))
            seen[label] += 1
            if problem:
                mismatches.append(f"{case['name']}: {problem}")
    finally:
        revoke_creates(control_plane)
    print(f"{path.stem}: {dict(seen)}")
    assert not mismatches, "\n".join(mismatches)


def compare(decision: Any, ours: list[str], webhook_only: bool) -> tuple[str, str]:
    """(why the policy disagrees with the webhook on what it claims or "", a label to count)."""
    first = decision.violations[0] if decision.violations else None
    if decision.allowed or first is None:
        if ours:
            return f"the webhook admits, the policy refuses: {ours[0]}", "disagree"
        return "", "both admit" + (" (exempt)" if decision.exempt else "")
    if first.rule not in CLAIMED or webhook_only:
        return "", f"the webhook's: {first.rule}"  # a lookup, a join: not claimed
    if not ours:
        return f"the webhook refuses ({first.message()}), the policy admits", "disagree"
    if ours[0] != first.message():
        return f"different lines:\n  webhook: {first.message()}\n  policy:  {ours[0]}", "disagree"
    return "", f"both refuse: {first.rule}"


def test_the_deny_action_refuses_with_the_webhooks_line(policy: ControlPlane) -> None:
    """mode: enforce binds Deny: the API server's error carries the rule's line as is."""
    control_plane = policy
    config = suite_config({"policy": "strict"})
    allow_creates(control_plane, {"probe"})
    install(control_plane, config)
    try:
        assert "[spelling]" in probe(control_plane).message
        inline = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": "inline-"},
            "spec": {"entrypoint": "main", "templates": [{"name": "main"}]},
        }
        answer = create(control_plane, inline, namespace="team-a", user=ALICE, groups=["team"])
        assert answer.status == 403, answer
        assert (
            "ValidatingAdmissionPolicy 'argo-admission' with binding 'argo-admission' "
            "denied request: [strict] workflows must use workflowTemplateRef" in answer.message
        )
    finally:
        revoke_creates(control_plane)


LAG_ROUNDS = 5
# The validating webhook for template writes, as the chart registers it (the marker runs there).
TEMPLATE_WEBHOOK: dict[str, Any] = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "argo-admission-templates-e2e"},
    "webhooks": [
        {
            "name": "templates.argo-admission.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "NoneOnDryRun",
            "failurePolicy": "Fail",
            "clientConfig": {"service": {"name": "x", "namespace": "x", "path": "/validate"}},
            "rules": [
                {
                    "apiGroups": ["argoproj.io"],
                    "apiVersions": ["*"],
                    "operations": ["UPDATE", "DELETE"],
                    "resources": ["workflowtemplates"],
                }
            ],
        }
    ],
}
LIBRARY_LABEL = "argo-admission.io/library"


def measure_lag(
    plane: ControlPlane, objects: k8s.CustomObjectsApi, name: str, workflow: dict[str, Any]
) -> float:
    """Label the template into the library (until the policy admits a ref to it), take the
    label off, and time until the policy refuses the ref (a dry-run CREATE every 20 ms)."""

    def label(value: str | None) -> None:
        objects.patch_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            "team-a",
            "workflowtemplates",
            name,
            {"metadata": {"labels": {LIBRARY_LABEL: value}}},
        )

    def send() -> Answer:
        return create(plane, workflow, namespace="team-a", user=ALICE, groups=["team"])

    label("approved")
    wait_for(lambda: send().status == 201, what="the policy to admit the ref again")
    label(None)
    began = time.monotonic()
    while True:
        refused = send()
        lag = time.monotonic() - began
        if refused.status == 403 or lag > 30:
            break
        time.sleep(0.02)
    assert (
        f"[template-library] WorkflowTemplate team-a/{name} is not in the template "
        "library: it lacks the library labels" in refused.message
    ), refused
    return lag


def index_key(plane: ControlPlane, name: str) -> bool:
    """Whether the index ConfigMap lists WorkflowTemplate team-a/`name` as in the library."""
    core = k8s.CoreV1Api(plane.client(ADMIN))
    try:
        data = core.read_namespaced_config_map(LIBRARY[1], LIBRARY[0]).data or {}
    except k8s.ApiException:
        return False
    return data.get(f"wt.team-a.{name}", "").startswith(("ok\n", "ready\n"))
