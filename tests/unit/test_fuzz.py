"""Fuzzing the core with random and malformed input (hypothesis).

Whatever the body: `webhook.handle` answers HTTP 400 with a JSON error or HTTP 200 with a
well-formed AdmissionReview response carrying the request's uid - never an exception. The join,
the semantic compare, the diff and mutation never raise anything but their own errors.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import jsonpatch
from hypothesis import given, settings
from hypothesis import strategies as st

from admission.core.diff import diff_lines, equivalent, normalise
from admission.core.merge import MergeError, apply_workflow_defaults, join_workflow_spec
from admission.core.policy.source import TemplateKey
from admission.core.policyfile import parse_config
from admission.core.webhook import handle
from admission.files.templates import FileTemplateSource
from support import make_review

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None)

CONFIGS = [
    parse_config(text)
    for text in (
        "workflowRestrictions: {templateReferencing: Secure}\n"
        "workflowDefaults: {spec: {ttlStrategy: {secondsAfterCompletion: 5}}}\n"
        "securityContext: {mode: mutate, pod: {runAsNonRoot: true},"
        " container: {allowPrivilegeEscalation: false}, restricted: true}",
        "workflowRestrictions: {templateReferencing: Strict}\nmode: warn",
        "workflowDefaults: {spec: {serviceAccountName: x, volumes: [{name: v, emptyDir: {}}]}}",
    )
]

FIELD_NAMES = [
    "spec",
    "status",
    "metadata",
    "templates",
    "workflowTemplateRef",
    "name",
    "entrypoint",
    "arguments",
    "parameters",
    "value",
    "container",
    "image",
    "storedWorkflowTemplateSpec",
    "suspend",
    "shutdown",
    "podSpecPatch",
    "clusterScope",
    "steps",
    "dag",
    "tasks",
    "volumes",
    "securityContext",
    "labels",
    "hooks",
    "artifactGC",
    "metrics",
    "prometheus",
    "PodSpecPatch",
    "workflowSpec",
    "storedTemplates",
    "nodes",
    "phase",
    "templateRef",
    "env",
    "sidecars",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["main", "hello", "Running", "Failed", "", "evil"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6)), inner, max_size=5
        ),
    ),
    max_leaves=30,
)
objects = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6)
kinds = st.sampled_from(
    [
        "Workflow",
        "CronWorkflow",
        "WorkflowTemplate",
        "ClusterWorkflowTemplate",
        "workflow",
        "Pod",
        "",
    ]
)
LIBRARY = FileTemplateSource(
    [
        {
            "kind": "WorkflowTemplate",
            "metadata": {"name": "hello", "namespace": "team-a"},
            "spec": {
                "entrypoint": "main",
                "templates": [{"name": "main", "container": {"image": "a"}}],
            },
        },
    ]
)


def check_response(result: Any, uid: str | None) -> None:
    """HTTP 400 with an error, or a complete AdmissionReview response."""
    assert result.status in (200, 400)
    json.dumps(result.body)  # serialisable
    if result.status == 400:
        assert result.body["error"] and result.body["message"]
        return
    response = result.body["response"]
    assert result.body["kind"] == "AdmissionReview" and response["uid"] == uid
    assert isinstance(response["allowed"], bool)
    if not response["allowed"]:
        assert response["status"]["code"] in (400, 403, 500) and response["status"]["message"]
    if "patch" in response:
        ops = json.loads(base64.b64decode(response["patch"]))
        assert isinstance(ops, list) and response["patchType"] == "JSONPatch"


@FUZZ
@given(body=st.one_of(json_values, st.binary(max_size=64), st.text(max_size=64)))
def test_any_body_is_answered_never_raised(body: Any) -> None:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    check_response(handle(raw, endpoint="validate", config=CONFIGS[0], templates=LIBRARY), None)


@FUZZ
@given(
    obj=objects,
    old=st.one_of(st.none(), objects),
    kind=kinds,
    op=st.sampled_from(["CREATE", "UPDATE", "DELETE"]),
    endpoint=st.sampled_from(["validate", "mutate"]),
    config=st.sampled_from(CONFIGS),
    user=st.sampled_from(["alice", "system:serviceaccount:argo:argo"]),
)
def test_random_objects_get_a_well_formed_review(
    obj: dict[str, Any], old: Any, kind: str, op: str, endpoint: str, config: Any, user: str
) -> None:
    review = make_review(
        {**obj, "kind": kind}, namespace="team-a", operation=op, old=old, username=user
    )
    result = handle(json.dumps(review), endpoint=endpoint, config=config, templates=LIBRARY)
    check_response(result, review["request"]["uid"])
    response = result.body.get("response", {})
    if "patch" in response:  # a patch always applies to the object it was made for
        jsonpatch.apply_patch(
            review["request"]["object"], json.loads(base64.b64decode(response["patch"]))
        )


@FUZZ
@given(user=objects, template=st.one_of(st.none(), objects), defaults=st.one_of(st.none(), objects))
def test_the_join_raises_only_merge_errors(
    user: dict[str, Any], template: Any, defaults: Any
) -> None:
    try:
        merged = join_workflow_spec(user, template, defaults)
    except MergeError:
        return
    json.dumps(merged)
    assert equivalent(merged, merged)


@FUZZ
@given(workflow=objects, defaults=objects)
def test_applying_defaults_raises_only_merge_errors(
    workflow: dict[str, Any], defaults: dict[str, Any]
) -> None:
    try:
        apply_workflow_defaults(workflow, defaults)
    except MergeError:
        pass


@FUZZ
@given(left=json_values, right=json_values)
def test_compare_and_diff_take_anything(left: Any, right: Any) -> None:
    same = equivalent(left, right)
    lines = diff_lines(left, right)
    assert same == (normalise(left) == normalise(right))
    assert (not lines) == same


def test_the_template_source_answers_unknown_keys_with_none() -> None:
    assert LIBRARY.get(TemplateKey("WorkflowTemplate", "team-a", "nope")) is None
