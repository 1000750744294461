"""A policy read out of a ConfigMap: Argo's workflow-controller ConfigMap, or the chart's own.

Argo's controller ConfigMap holds `workflowRestrictions` and `workflowDefaults` as YAML strings
under `data` (or both inside the legacy `data.config`), read as YAML 1.1 as the controller
reads them; the chart's policy ConfigMap holds our whole policy file under `data.policy.yaml`.
A ConfigMap with neither is no policy (policyfile.py refuses it). Pure; errors are collected as
`dotted.path: reason`, as policyfile.py collects them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import yaml

from admission.core import yamldoc
from admission.core.config import ConfigError

CHART_POLICY_KEY: Final = "policy.yaml"
"""The data key of the chart's policy ConfigMap (templates/configmap-policy.yaml)."""
ARGO_KEYS: Final = ("workflowRestrictions", "workflowDefaults", "config")


def chart_policy(doc: Mapping[str, Any], source: str) -> str | None:
    """The policy text of the chart's ConfigMap (data["policy.yaml"]); None for another one."""
    data = doc.get("data")
    if not isinstance(data, dict) or CHART_POLICY_KEY not in data:
        return None
    if any(key in data for key in ARGO_KEYS):
        raise ConfigError(
            source,
            [
                f"data: holds both {CHART_POLICY_KEY} (a policy) and Argo's keys; "
                "give one or the other"
            ],
        )
    text = data[CHART_POLICY_KEY]
    if not isinstance(text, str):
        raise ConfigError(source, [f"data.{CHART_POLICY_KEY}: must be a YAML string"])
    return text


def no_policy_keys(data: Any) -> str:
    """Why a ConfigMap is no policy, naming the keys it has."""
    found = sorted(str(k) for k in data) if isinstance(data, dict) else []
    shown = ", ".join(f"data.{k}" for k in found) or "no data"
    return (
        f"a ConfigMap with no policy in it ({shown}); expected Argo's workflow-controller "
        f"ConfigMap (data.workflowRestrictions, data.workflowDefaults or data.config) or the "
        f"chart's policy ConfigMap (data.{CHART_POLICY_KEY})"
    )


def argo_keys(doc: Mapping[str, Any], errors: list[str]) -> dict[str, Any]:
    """Argo's controller ConfigMap: data values are YAML strings; `config` is the legacy form."""
    data = doc.get("data") or {}
    if not isinstance(data, dict):
        errors.append("data: must be a mapping of strings")
        return {}
    out: dict[str, Any] = {}
    if "config" in data:
        legacy = _yaml_value(data["config"], "data.config", errors)
        if isinstance(legacy, dict):
            for key in ("workflowRestrictions", "workflowDefaults"):
                if key in legacy:
                    out[key] = legacy[key]
    for key in ("workflowRestrictions", "workflowDefaults"):
        if key in data:
            out[key] = _yaml_value(data[key], f"data.{key}", errors)
    return out


def _yaml_value(value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, str):
        errors.append(f"{path}: must be a YAML string, as in a ConfigMap")
        return None
    try:
        doc, duplicates = yamldoc.load(value)
    except yaml.YAMLError as exc:
        errors.append(f"{path}: not valid YAML: {exc}")
        return None
    errors.extend(duplicate.describe(within=path) for duplicate in duplicates)
    return doc
