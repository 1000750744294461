"""Where the policy gets (Cluster)WorkflowTemplates and running Workflows from.

The core only sees this Protocol; the file-backed and cluster-backed implementations live at
the edges (admission/files/templates.py, admission/cluster/kube.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from admission.core.objects import CLUSTER, NAMESPACED, TemplateKey

__all__ = [
    "CLUSTER",
    "NAMESPACED",
    "EmptySource",
    "TemplateKey",
    "TemplateLookupError",
    "TemplateSource",
]


class TemplateLookupError(RuntimeError):
    """A template could not be looked up (API server unreachable, timed out, forbidden)."""


class TemplateSource(Protocol):
    """Answers template lookups; raises TemplateLookupError when it cannot."""

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        """The template object, or None when it does not exist."""
        ...

    def workflows_using(self, key: TemplateKey) -> Sequence[str]:
        """`namespace/name` of unfinished Workflows referencing `key` ([] when unknown)."""
        ...

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """The Workflow `namespace/name` as stored, or None when it does not exist; `fresh`:
        as the API server has it now (a cache may answer otherwise)."""
        ...


class EmptySource:
    """A source that knows no templates and no Workflows."""

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        """Nothing exists."""
        return None

    def workflows_using(self, key: TemplateKey) -> Sequence[str]:
        """No Workflows are known."""
        return ()

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """No Workflows are known."""
        return None
