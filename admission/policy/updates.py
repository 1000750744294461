"""Day-2 operations: which UPDATEs change nothing the rules look at (PSA isSignificantPodUpdate).

The controller and users update Workflows often (labels, annotations, phase, nodes); an UPDATE
that leaves the spec, the protected status and the instance-id label as they were needs no rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.policy.context import INSTANCE_ID_LABEL, WORKFLOW, labels_of


def is_significant(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether an UPDATE touches anything a rule depends on (plain equality, no parsing)."""
    if old.get("spec") != new.get("spec"):
        return True
    if labels_of(old).get(INSTANCE_ID_LABEL) != labels_of(new).get(INSTANCE_ID_LABEL):
        return True
    if set(old) != set(new):  # a key added beside metadata/spec/status (e.g. a case variant)
        return True
    if kind != WORKFLOW:
        return False
    before, after = old.get("status"), new.get("status")
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    if set(before) - set(after) or set(after) - set(before) - _PLAIN_STATUS:
        return True
    return any(before.get(k) != after.get(k) for k in _PROTECTED_STATUS)


_PROTECTED_STATUS = ("storedWorkflowTemplateSpec", "storedTemplates")
_PLAIN_STATUS = frozenset(
    {
        "phase",
        "nodes",
        "message",
        "startedAt",
        "finishedAt",
        "progress",
        "conditions",
        "estimatedDuration",
        "resourcesDuration",
        "artifactRepositoryRef",
        "artifactGCStatus",
        "taskResultsCompletionStatus",
        "persistentVolumeClaims",
        "outputs",
        "offloadNodeStatusVersion",
        "compressedNodes",
        "synchronization",
    }
)
