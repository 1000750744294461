"""Argo's spec joining: the spec the workflow-controller computes and stores.

The controller builds `status.storedWorkflowTemplateSpec` by joining the user's (sanitised)
Workflow spec over the referenced template's spec over `workflowDefaults`, each step a
Kubernetes strategic merge patch typed by Argo's Go structs. This package re-implements those
semantics over plain dicts so the webhook can compute, before anything is stored, exactly what
Argo would run. Pure functions; no I/O. One module per part of the job:

- gotypes: the Go types, as far as merging needs them (merge keys, omitempty, zero values)
- gojson: Go's JSON round trip (what the controller writes back after reading a spec)
- strategic: Kubernetes' strategic merge patch
- joins: Argo's MergeTo and JoinWorkflowSpec
- overrides: the fields a Workflow may set beside workflowTemplateRef

Mirrors (argoproj/argo-workflows v3.7.18):
- workflow/util/merge.go: MergeTo, JoinWorkflowSpec, SanitizeUserWorkflowSpec, ValidateUserOverrides
- k8s.io/apimachinery/pkg/util/strategicpatch/patch.go: mergeMap, mergeSlice (IgnoreUnmatchedNulls)
- pkg/apis/workflow/v1alpha1/workflow_types.go: patchStrategy/patchMergeKey tags, omitempty tags
Values whose Go type writes another spelling (Quantity, AnyString, IntOrString) are read and
written as Go does by admission/core/govalues.py.
"""

from admission.core.merge.gojson import canonical_spec_keys, go_roundtrip, strip_nulls
from admission.core.merge.gotypes import (
    ALWAYS_EMITTED,
    FIELDS,
    JSON,
    KEPT_EMPTY_STRINGS,
    MAP_FIELDS,
    PLAIN_BOOLS,
    WORKFLOW_SPEC_FIELDS,
    MergeError,
    Spec,
)
from admission.core.merge.joins import apply_workflow_defaults, join_workflow_spec, merge_to
from admission.core.merge.overrides import (
    ARTIFACT_GC_SENSITIVE,
    DEFAULT_OVERRIDE_ALLOWLIST,
    is_set,
    override_violations,
    overrides_message,
    sanitize_user_spec,
)
from admission.core.merge.strategic import clone, strategic_merge

__all__ = [
    "ALWAYS_EMITTED",
    "ARTIFACT_GC_SENSITIVE",
    "DEFAULT_OVERRIDE_ALLOWLIST",
    "FIELDS",
    "JSON",
    "KEPT_EMPTY_STRINGS",
    "MAP_FIELDS",
    "PLAIN_BOOLS",
    "WORKFLOW_SPEC_FIELDS",
    "MergeError",
    "Spec",
    "apply_workflow_defaults",
    "canonical_spec_keys",
    "clone",
    "go_roundtrip",
    "is_set",
    "join_workflow_spec",
    "merge_to",
    "override_violations",
    "overrides_message",
    "sanitize_user_spec",
    "strategic_merge",
    "strip_nulls",
]
