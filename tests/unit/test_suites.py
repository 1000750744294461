"""Policy suites: tests/fixtures/suites/<topic>.yaml, each case a request and its expected verdict.

Gatekeeper-style (`gator verify`): a suite names a policy (a file of policies/ or an inline
`config`) and template files; each case gives the object (and old object for an UPDATE), who
sends it, and what must come back. Every case goes through `webhook.handle`, the code path of
the server and of `argo-admission review`. A case's `why` says what the row proves.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from admission.core.config import Config
from admission.core.policyfile import load_config, parse_config
from admission.core.review import POD_NAME, POD_UID
from admission.core.webhook import handle
from admission.files.templates import FileTemplateSource
from support import FIXTURES, load_yaml, make_review

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted((FIXTURES / "suites").glob("*.yaml"))
CASE_KEYS = {
    "name",
    "why",
    "operation",
    "user",
    "groups",
    "namespace",
    "object",
    "old",
    "change",
    "endpoint",
    "expect",
    "dryRun",
    "raw",
    "pod",
}
EXPECT_KEYS = {
    "allowed",
    "code",
    "rule",
    "message",
    "not_message",
    "warnings",
    "no_warnings",
    "patched",
    "absent",
    "no_patch",
    "http",
    "annotations",
}
USERS = {
    "alice": ["team", "system:authenticated"],
    "controller": ["system:serviceaccounts", "system:serviceaccounts:argo", "system:authenticated"],
}
USERNAMES = {"controller": "system:serviceaccount:argo:argo"}


def suite_config(suite: dict[str, Any]) -> Config:
    """The suite's policy: policies/<name>.yaml, plus inline overrides."""
    if "config" in suite:
        base = (
            yaml.safe_load(
                (ROOT / "policies" / f"{suite.get('policy', 'default')}.yaml").read_text()
            )
            if "policy" in suite
            else {}
        )
        return parse_config(yaml.safe_dump({**base, **suite["config"]}), source="suite")
    return load_config(ROOT / "policies" / f"{suite['policy']}.yaml")


def load_cases() -> list[Any]:
    """Every case of every suite, with its suite's policy and templates."""
    params = []
    for path in SUITES:
        suite = load_yaml(path)
        config = suite_config(suite)
        source = FileTemplateSource.from_paths(FIXTURES / p for p in suite.get("templates", []))
        for case in suite["cases"]:
            params.append(pytest.param(config, source, case, id=f"{path.stem}: {case['name']}"))
    return params


def merge_patch(target: Any, change: Any) -> Any:
    """RFC 7386 JSON merge patch: how a case says "the old object, but with this changed"."""
    if not isinstance(change, dict):
        return copy.deepcopy(change)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def case_object(case: dict[str, Any]) -> Any:
    """The case's object: given, or the old object with `change` merged in."""
    if "change" in case:
        return merge_patch(case["old"], case["change"])
    return case["object"]


def run_case(config: Config, source: FileTemplateSource, case: dict[str, Any]) -> dict[str, Any]:
    """The AdmissionReview response (or HTTP error body) for one case."""
    user = case.get("user", "alice")
    if "raw" in case:
        body: Any = case["raw"] if isinstance(case["raw"], str) else json.dumps(case["raw"])
    else:
        operation = case.get("operation", "CREATE")
        review = make_review(
            copy.deepcopy(case["old"] if operation == "DELETE" else case_object(case)),
            namespace=case.get("namespace", "team-a"),
            operation=operation,
            old=copy.deepcopy(case.get("old")),
            username=USERNAMES.get(user, user),
            groups=case.get("groups", USERS.get(user, ["system:authenticated"])),
        )
        review["request"]["dryRun"] = bool(case.get("dryRun", False))
        if "pod" in case:  # a token bound to this pod (its name and a UID, as the API server adds)
            review["request"]["userInfo"]["extra"] = {
                POD_NAME: [case["pod"]],
                POD_UID: ["0a1b2c3d-0000-4000-8000-000000000000"],
            }
        if operation == "DELETE":  # the API server sends the object being deleted as oldObject
            review["request"]["object"] = None
        body = json.dumps(review)
    result = handle(
        body, endpoint=case.get("endpoint", "validate"), config=config, templates=source
    )
    return {"http": result.status, **result.body}


@pytest.mark.parametrize(("config", "source", "case"), load_cases())
def test_suite_case(config: Config, source: FileTemplateSource, case: dict[str, Any]) -> None:
    """The case's expectations hold for the response."""
    expect = case["expect"]
    got = run_case(config, source, case)
    if "http" in expect:
        assert got["http"] == expect["http"], got
        if got["http"] != 200:
            assert re.search(expect.get("message", ""), got.get("message", "")), got
            return
    response = got["response"]
    status = response.get("status", {})
    message = status.get("message", "")
    warnings = "\n".join(response.get("warnings", []))
    if "allowed" in expect:
        assert response["allowed"] is expect["allowed"], message or response
    if "code" in expect:
        assert status.get("code") == expect["code"], response
    if "rule" in expect:
        assert response.get("auditAnnotations", {}).get("rule") == expect["rule"], response
    if "message" in expect:
        assert re.search(expect["message"], message, re.S), message
    if "not_message" in expect:
        assert not re.search(expect["not_message"], message, re.S), message
    if "warnings" in expect:
        assert re.search(expect["warnings"], warnings, re.S), warnings
    if expect.get("no_warnings"):
        assert not warnings, warnings
    for key, value in (expect.get("annotations") or {}).items():
        assert response.get("auditAnnotations", {}).get(key) == value, response
    check_patch(config, source, case, response)


def check_patch(
    config: Config, source: FileTemplateSource, case: dict[str, Any], response: dict[str, Any]
) -> None:
    """Apply the JSONPatch and check the paths the case names; a second pass must be empty."""
    expect = case["expect"]
    if expect.get("no_patch"):
        assert "patch" not in response, base64.b64decode(response.get("patch", "")).decode()
    if "patched" not in expect and "absent" not in expect:
        return
    ops = json.loads(base64.b64decode(response["patch"])) if "patch" in response else []
    mutated = jsonpatch.apply_patch(case_object(case), ops)
    for pointer, value in (expect.get("patched") or {}).items():
        assert jsonpatch.JsonPointer(pointer).resolve(mutated, None) == value, (pointer, mutated)
    for pointer in expect.get("absent") or []:
        assert jsonpatch.JsonPointer(pointer).resolve(mutated, None) is None, (pointer, mutated)
    again = dict(case, object=mutated)
    again.pop("change", None)
    second = run_case(config, source, again)["response"]
    assert "patch" not in second, "mutation is not idempotent: a second pass patched again"


def test_every_suite_case_is_well_formed() -> None:
    """Unknown keys in a case would be expectations silently not checked."""
    assert SUITES, "no suites"
    for path in SUITES:
        suite = load_yaml(path)
        assert set(suite) <= {"policy", "config", "templates", "cases", "description", "bases"}, (
            path
        )
        for case in suite["cases"]:
            assert set(case) <= CASE_KEYS, (path.name, case["name"], set(case) - CASE_KEYS)
            assert set(case["expect"]) <= EXPECT_KEYS, (path.name, case["name"])
            # a case that names neither can pass whatever the verdict is
            assert {"allowed", "http"} & set(case["expect"]), (
                f"{path.name}: {case['name']}: expect names neither `allowed` nor `http`"
            )
            assert case.get("why"), f"{path.name}: {case['name']}: every case says why"
