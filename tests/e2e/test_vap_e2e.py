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
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from admission.core.config import Config
from admission.core.vap import RULES, WEBHOOK_STATUS
from admission.core.vapindex import library_index
from admission.core.webhook import handle
from admission.files.templates import FileTemplateSource
from controlplane import ControlPlane
from identities import ALICE
from policyvap import (
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
    install(control_plane, config, actions=["Warn"], library=library)
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
