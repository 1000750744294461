"""Keys spelled like a field Argo reads, in another case (`PodSpecPatch`, `Status`).

Go's encoding/json matches object keys to struct fields case-insensitively, so a key our rules
would not look at may still reach Argo's types. No client of Argo writes such keys; refuse them
rather than guess which spelling a reader picks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from admission.core.merge import WORKFLOW_SPEC_FIELDS
from admission.core.policy import rules
from admission.core.policy.context import Context

OBJECT_FIELDS: Final = ("apiVersion", "kind", "metadata", "spec", "status")
STATUS_FIELDS: Final = ("storedWorkflowTemplateSpec", "storedTemplates", "phase", "nodes")
REF_FIELDS: Final = ("name", "clusterScope")
ARTIFACT_GC_FIELDS: Final = (
    "strategy",
    "podMetadata",
    "serviceAccountName",
    "forceFinalizerRemoval",
    "podSpecPatch",
)
CRON_FIELDS: Final = ("workflowSpec", "workflowMetadata")


def check_workflow_spec(ctx: Context, spec: Mapping[str, Any], where: str) -> None:
    """A Workflow spec (or a CronWorkflow's workflowSpec) and the nested fields we police."""
    check_keys(ctx, spec, WORKFLOW_SPEC_FIELDS, where)
    for field, known in (("workflowTemplateRef", REF_FIELDS), ("artifactGC", ARTIFACT_GC_FIELDS)):
        nested = spec.get(field)
        if isinstance(nested, dict):
            check_keys(ctx, nested, known, f"{where}.{field}")


def check_object(ctx: Context, obj: Mapping[str, Any], *, status: bool) -> None:
    """The object's top level, and its status when the kind's status matters."""
    check_keys(ctx, obj, OBJECT_FIELDS, "")
    if status and isinstance(obj.get("status"), dict):
        check_keys(ctx, obj["status"], STATUS_FIELDS, "status")


def check_keys(ctx: Context, doc: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    """Deny keys that equal a known field name but for case, and keys repeated but for case."""
    canonical = {name.lower(): name for name in known}
    seen: dict[str, str] = {}
    for key in doc:
        if not isinstance(key, str):
            continue
        folded = key.lower()
        path = f"{where}.{key}" if where else key
        if folded in canonical and key != canonical[folded]:
            ctx.deny(
                rules.SPELLING,
                f"field {path!r} is a case variant of {canonical[folded]!r}",
                "Argo's Go decoder may read it as that field; spell it exactly",
                path,
            )
        elif folded in seen:
            ctx.deny(
                rules.SPELLING,
                f"fields {seen[folded]!r} and {key!r} differ only in case",
                "a Go reader would take one for the other",
                path,
            )
        seen[folded] = key
