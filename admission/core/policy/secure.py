"""Secure: the spec Argo stored when the Workflow started is the spec it keeps running.

Argo re-joins the Workflow spec over the current template over `workflowDefaults` on every
reconcile and fails the Workflow when the result differs from `status.storedWorkflowTemplateSpec`
(operator.go setStoredWfSpec). It skips that compare whenever `spec.suspend` is set at all, even
to false, and then stores the user's new spec instead: that hole is closed here, the compare runs
regardless. `shutdown` and `suspend` are refreshed by Argo and stay free to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from admission.core.diff import diff_normalised, equivalent, normalise
from admission.core.merge import MergeError, join_workflow_spec, sanitize_user_spec
from admission.core.objects import STORED_SPEC, ref_key, spec_of, status_of
from admission.core.policy import rules
from admission.core.policy.context import Context

# Argo's wording (operator.go setStoredWfSpec).
SECURE_MESSAGE: Final = (
    "WorkflowSpec may not change during execution when the controller is set "
    "`templateReferencing: Secure`"
)
REFRESHED: Final = ("shutdown", "suspend")  # Argo re-stores these; not a change of the spec


def check_update(ctx: Context) -> None:
    """Deny an UPDATE whose merged spec differs from the stored one; warn on edited templates."""
    stored = status_of(ctx.obj).get(STORED_SPEC)
    if not ctx.config.secure or not isinstance(stored, dict):
        return
    old_spec, new_spec = spec_of(ctx.old), spec_of(ctx.obj)
    user_changed = not equivalent(_without_refreshed(old_spec), _without_refreshed(new_spec))
    key = ref_key(new_spec, ctx.namespace)
    if key is None:
        return  # Strict denies the missing ref; nothing to merge
    ok, template = ctx.lookup(key)
    if not ok:
        return
    if template is None:
        if user_changed:
            ctx.deny(
                "secure",
                SECURE_MESSAGE,
                f"{key} no longer exists, so the changed spec cannot be checked",
                "spec.workflowTemplateRef",
            )
        else:
            ctx.warn(rules.SECURE, f"{key} no longer exists", "Argo will fail this Workflow")
        return
    try:
        merged_new = normalise(_without_refreshed(_merged(ctx, new_spec, template)))
        merged_old = (
            normalise(_without_refreshed(_merged(ctx, old_spec, template)))
            if user_changed
            else merged_new
        )
    except MergeError as exc:
        ctx.deny("secure", SECURE_MESSAGE, f"the new spec cannot be joined: {exc}", "spec")
        return
    stored_now = normalise(_without_refreshed(stored))
    if merged_new == stored_now:
        return
    lines = diff_normalised(stored_now, merged_new)
    if user_changed and merged_old != merged_new:
        ctx.deny(
            "secure",
            SECURE_MESSAGE,
            "the spec joined from this Workflow, its template and workflowDefaults differs "
            f"from status.{STORED_SPEC}:",
            "spec",
        )
        ctx.findings.diff.extend(lines)
        return
    ctx.warn(
        rules.SECURE,
        f"{key} changed after this Workflow started; Argo will fail it "
        "(templateReferencing: Secure)",
        "; ".join(lines[:5]),
    )


def _merged(ctx: Context, spec: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    user = sanitize_user_spec(spec, ctx.config.override_allowlist)
    return join_workflow_spec(user, spec_of(template), spec_of(ctx.config.workflow_defaults))


def _without_refreshed(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in REFRESHED}
