"""The audit line: its keys, named once, and what one decided request writes."""

from __future__ import annotations

import datetime as dt

from admission.core.decision import Decision, Outcome, Violation
from admission.core.review import make_review, parse_review
from admission.server import audit

WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "hello-", "namespace": "team-a"},
    "spec": {"entrypoint": "main"},
}


def test_the_audit_line_keys_are_stable_and_in_order() -> None:
    assert audit.LOG_KEYS == (
        "event", "time", "endpoint", "uid", "user", "groups", "operation", "kind", "namespace",
        "name", "rule", "paths", "mode", "decision", "code", "message", "warnings", "diff",
        "dry_run", "exempt",
    )  # fmt: skip


def test_a_denial_line_holds_every_key_with_the_first_rule_and_the_generate_name() -> None:
    request = parse_review(make_review(WORKFLOW, namespace="team-a", username="mallory"))
    decision = Decision(
        False,
        Outcome.FAIL,
        403,
        (Violation("strict", "no ref"), Violation("spelling", "PodSpecPatch")),
    )
    line = audit.entry(
        request, decision, endpoint="validate", now=dt.datetime(2025, 1, 2, 3, 4, 5, 6000, dt.UTC)
    )
    assert tuple(line) == audit.LOG_KEYS
    assert line["time"] == "2025-01-02T03:04:05.006Z"
    assert (line["user"], line["name"], line["rule"]) == ("mallory", "hello-", "strict")
    assert (line["decision"], line["code"]) == ("deny", 403)
    assert line["message"] == "[strict] no ref\n[spelling] PodSpecPatch"
