"""Argo's own workflow-controller ConfigMap as the source of Strict/Secure and workflowDefaults.

An admin who points the server at the ConfigMap Argo's controller reads gets one source of truth:
`workflowRestrictions` and `workflowDefaults` come from it as it is now (read as the controller
reads it: YAML 1.1 strings under `data`, or the legacy `data.config`), every other key of the
policy from the policy file. Pure; the watch that feeds it lives in
admission/cluster/argoconfigmap.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from admission.core.config import Config
from admission.core.policyfile import parse_config


def overlay(base: Config, data: Mapping[str, Any] | None, *, source: str) -> Config:
    """`base` with the restrictions and defaults of a controller ConfigMap's `data`.

    Raises ConfigError (naming `source`) when the ConfigMap's values are not what Argo reads.
    A ConfigMap without the keys means what it means to Argo: no restriction, no defaults.
    """
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "data": dict(data or {})}
    argo = parse_config(yaml.safe_dump(manifest), source=source, keyless=True)
    return dataclasses.replace(
        base,
        template_referencing=argo.template_referencing,
        workflow_defaults=argo.workflow_defaults,
        source=f"{base.source} + {source}",
    )
