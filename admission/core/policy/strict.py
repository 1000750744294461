"""Strict: a Workflow runs only from a template of the library (`spec.workflowTemplateRef`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.core.policy import rules
from admission.core.policy.context import Context

# Argo's own wording (workflow/controller/operator.go setExecWorkflow).
STRICT_MESSAGE = (
    "workflows must use workflowTemplateRef to be executed when the controller is in reference mode"
)


def check(ctx: Context, spec: Mapping[str, Any], where: str) -> None:
    """Deny a Workflow spec without a ref under Strict/Secure, and a ref without a name."""
    ref = spec.get("workflowTemplateRef")
    if ctx.config.strict and ref is None:
        ctx.deny(
            rules.STRICT,
            STRICT_MESSAGE,
            f"set {where}.workflowTemplateRef to a WorkflowTemplate or ClusterWorkflowTemplate "
            f"of the library instead of inline templates "
            f"(templateReferencing: {ctx.config.template_referencing}); "
            "e.g. `argo submit --from workflowtemplate/NAME`",
            f"{where}.workflowTemplateRef",
        )
        return
    if ref is None:
        return
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref["name"]:
        ctx.deny(
            rules.STRICT,
            f"{where}.workflowTemplateRef.name must name a template",
            "set workflowTemplateRef.name (and clusterScope: true for a ClusterWorkflowTemplate)",
            f"{where}.workflowTemplateRef.name",
        )
    elif "clusterScope" in ref and not isinstance(ref["clusterScope"], bool):
        ctx.deny(
            rules.STRICT,
            f"{where}.workflowTemplateRef.clusterScope must be true or false",
            f"got {ref['clusterScope']!r}",
            f"{where}.workflowTemplateRef.clusterScope",
        )
