"""Day-2 operations: which UPDATEs change nothing the rules look at (PSA isSignificantPodUpdate).

The controller and users update Workflows often (labels, annotations); an UPDATE that leaves
the spec, the status and the instance-id label as they were needs no rule. Status counts: the
controller acts on what it reads back there (status.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.core.objects import labels_of
from admission.core.policy.context import INSTANCE_ID_LABEL


def is_significant(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether an UPDATE touches anything a rule depends on (plain equality, no parsing)."""
    if old.get("spec") != new.get("spec"):
        return True
    if labels_of(old).get(INSTANCE_ID_LABEL) != labels_of(new).get(INSTANCE_ID_LABEL):
        return True
    if set(old) != set(new):  # a key added beside metadata/spec/status (e.g. a case variant)
        return True
    return old.get("status") != new.get("status")
