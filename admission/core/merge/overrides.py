"""Fields beside a ref: what a Workflow with workflowTemplateRef may set, and what Argo keeps.

Under Strict/Secure Argo refuses a ref Workflow that sets a field outside its allowlist (newest
versions, after storing it) and joins only the allowlisted fields of the user's spec. Pure; no
I/O.

Mirrors workflow/util/merge.go (argoproj/argo-workflows v3.7.18): allowedUserOverrideFields,
ValidateUserOverrides, SanitizeUserWorkflowSpec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from admission.core.merge.gojson import canonical_spec_keys, go_roundtrip, strip_nulls
from admission.core.merge.gotypes import JSON, WORKFLOW_SPEC_FIELDS, Spec
from admission.core.merge.strategic import clone

# Argo's newest allowlist of fields a user may set beside `workflowTemplateRef` under
# Strict/Secure (merge.go allowedUserOverrideFields), as json names.
DEFAULT_OVERRIDE_ALLOWLIST: Final = frozenset(
    {
        "arguments",
        "entrypoint",
        "shutdown",
        "suspend",
        "activeDeadlineSeconds",
        "priority",
        "ttlStrategy",
        "podGC",
        "volumeClaimGC",
        "archiveLogs",
        "workflowMetadata",
        "workflowTemplateRef",
        "metrics",
        "artifactGC",
    }
)

# artifactGC is allowlisted, but these nested fields reach the GC pod and are always refused.
ARTIFACT_GC_SENSITIVE: Final = (
    ("podSpecPatch", "ArtifactGC.PodSpecPatch"),
    ("serviceAccountName", "ArtifactGC.ServiceAccountName"),
    ("podMetadata", "ArtifactGC.PodMetadata"),
)


def is_set(field: str, value: JSON) -> bool:
    """Whether a WorkflowSpec field differs from its Go zero value once read by the controller."""
    if value is None:
        return False
    kind = WORKFLOW_SPEC_FIELDS.get(field, ("", "unknown"))[1]
    if kind == "string":
        return bool(value != "")
    if kind == "struct":
        return bool(strip_nulls(value)) if isinstance(value, dict) else True
    return kind != "unknown"


def override_violations(spec: Mapping[str, JSON], allowlist: Iterable[str]) -> list[str]:
    """Go names of the fields a user set beside a ref that Argo's allowlist refuses, sorted.

    Mirrors ValidateUserOverrides; the result reads like Argo's own error.
    """
    allowed = set(allowlist)
    spec = canonical_spec_keys(spec)
    found = [
        WORKFLOW_SPEC_FIELDS[name][0]
        for name, value in spec.items()
        if name in WORKFLOW_SPEC_FIELDS and name not in allowed and is_set(name, value)
    ]
    gc = spec.get("artifactGC")
    if isinstance(gc, dict):
        for key, go_name in ARTIFACT_GC_SENSITIVE:
            if gc.get(key) not in (None, ""):
                found.append(go_name)
    return sorted(found)


def sanitize_user_spec(spec: Mapping[str, JSON], allowlist: Iterable[str]) -> Spec:
    """Argo's SanitizeUserWorkflowSpec: only allowlisted fields survive, artifactGC stripped.

    Go reads the whole spec before sanitising it: a value it cannot read anywhere (a Quantity
    `cpu: one` in a template) is a MergeError, even where the field is then dropped.
    """
    go_roundtrip(dict(spec))
    allowed = set(allowlist)
    out: Spec = {k: clone(v) for k, v in canonical_spec_keys(spec).items() if k in allowed}
    gc = out.get("artifactGC")
    if isinstance(gc, dict):
        for key, _ in ARTIFACT_GC_SENSITIVE:
            gc.pop(key, None)
    return out


def overrides_message(fields: list[str]) -> str:
    """Argo's wording for refused overrides (merge.go ValidateUserOverrides)."""
    return (
        f"fields [{' '.join(fields)}] are not permitted when using workflowTemplateRef "
        "with templateReferencing restriction"
    )
