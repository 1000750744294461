"""Fields beside a ref: only Argo's newest allowlist (plus the policy's additions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.core.merge import WORKFLOW_SPEC_FIELDS, override_violations, overrides_message
from admission.core.policy import rules
from admission.core.policy.context import Context

_JSON_NAMES = {go: name for name, (go, _) in WORKFLOW_SPEC_FIELDS.items()}


def check(ctx: Context, spec: Mapping[str, Any], where: str) -> None:
    """Deny fields Argo's ValidateUserOverrides refuses (3.7.3 ran some of them; 3.7.18 errors)."""
    if not ctx.config.strict or not isinstance(spec.get("workflowTemplateRef"), dict):
        return
    fields = override_violations(spec, ctx.config.override_allowlist)
    if not fields:
        return
    paths = [f"{where}.{_json_path(go)}" for go in fields]
    ctx.deny(
        rules.OVERRIDES,
        overrides_message(fields),
        f"remove {', '.join(paths)}: beside workflowTemplateRef a Workflow may set only "
        f"{', '.join(sorted(ctx.config.override_allowlist))}; put the rest in the template",
        paths[0],
    )


def _json_path(go_name: str) -> str:
    if go_name.startswith("ArtifactGC."):
        nested = go_name.split(".", 1)[1]
        return "artifactGC." + nested[0].lower() + nested[1:]
    return _JSON_NAMES.get(go_name, go_name)
