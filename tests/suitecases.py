"""The policy suites' cases (tests/fixtures/suites/*.yaml) as data: the policy of a suite, who
sends a case, and the object it sends. Shared by the unit suites and the e2e equivalence test."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from admission.core.config import Config
from admission.core.policyfile import parse_config
from admission.files.policy import load_config
from support import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((FIXTURES / "suites").glob("*.yaml"))
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
