"""The audit lines the real server writes (stdout and the rotated --audit-file)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from admission.server import audit
from tests.integration.conftest import Server, load, review_of, wait_for

pytestmark = pytest.mark.integration


def line_for(server: Server, uid: str) -> dict[str, Any]:
    """The audit line of request `uid` (waiting for it to be flushed)."""
    wait_for(
        lambda: any(line["uid"] == uid for line in server.audit_lines()),
        seconds=10,
        what=f"the audit line of {uid}",
    )
    return next(line for line in server.audit_lines() if line["uid"] == uid)


def secure_update(**kwargs: Any) -> dict[str, Any]:
    old = load("running-workflow")
    new = copy.deepcopy(old)
    new["spec"]["arguments"]["parameters"][0]["value"] = "changed"
    return review_of(new, operation="UPDATE", old=old, **kwargs)


def test_denial_line_names_user_rule_message_and_diff(server: Server) -> None:
    review = secure_update(username="mallory", groups=["dev", "system:authenticated"])
    server.admit(review)
    line = line_for(server, review["request"]["uid"])
    assert set(audit.LOG_KEYS) <= set(line)
    assert line["user"] == "mallory"
    assert line["groups"] == ["dev", "system:authenticated"]
    assert line["rule"] == "secure"
    assert line["decision"] == "deny"
    assert line["code"] == 403
    assert line["operation"] == "UPDATE"
    assert (line["namespace"], line["name"]) == ("team-a", "hello-running")
    assert line["message"].startswith("[secure] WorkflowSpec may not change")
    assert line["diff"] == ["spec.arguments.parameters[name=greeting].value: 'hi' -> 'changed'"]
    assert line["dry_run"] is False
    assert line["time"].endswith("Z")


def test_dry_run_line_says_so_and_gets_the_same_verdict(server: Server) -> None:
    review = secure_update()
    review["request"]["dryRun"] = True
    response = server.admit(review)
    assert response["allowed"] is False
    assert line_for(server, review["request"]["uid"])["dry_run"] is True


def test_allowed_requests_are_not_written_at_info_level(server: Server) -> None:
    review = review_of(load("ref-workflow"))
    server.admit(review)
    marker = review_of(load("plain-workflow"))  # a denial written after it
    server.admit(marker)
    line_for(server, marker["request"]["uid"])
    assert all(line["uid"] != review["request"]["uid"] for line in server.audit_lines())


def test_audit_file_gets_the_same_lines(server: Server) -> None:
    review = review_of(load("plain-workflow"))
    server.admit(review)
    stdout_line = line_for(server, review["request"]["uid"])
    path = server.stdout.parent / "audit.log"
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    assert stdout_line in lines
