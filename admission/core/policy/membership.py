"""Library membership: whether a template is one the policy approves (by namespace, labels,
scope). Shared by the rules that resolve templates (the ref, nested refs, stored templates) and
the library-author rule; itself no rule of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.core.config import TemplateLibrary
from admission.core.objects import labels_of
from admission.core.policy import rules
from admission.core.policy.context import Context
from admission.core.policy.source import CLUSTER, NAMESPACED, TemplateKey


def in_library(ctx: Context, key: TemplateKey, template: Mapping[str, Any], path: str) -> bool:
    """Deny a template outside the configured library; True when it is inside."""
    problem = outside_library(ctx.config.template_library, key, template)
    if problem:
        ctx.deny(rules.TEMPLATE_LIBRARY, f"{key} is not in the template library", problem, path)
        return False
    return True


def outside_library(library: TemplateLibrary, key: TemplateKey, template: Mapping[str, Any]) -> str:
    """Why a template is not in the library ("" when it is)."""
    problem = ""
    if key.kind == CLUSTER and not library.allow_cluster_templates:
        problem = "ClusterWorkflowTemplates are not part of the library"
    elif key.kind == NAMESPACED and library.cluster_scoped_only:
        problem = "only ClusterWorkflowTemplates may be referenced (clusterScope: true)"
    elif key.kind == NAMESPACED and library.namespaces and key.namespace not in library.namespaces:
        problem = (
            f"namespace {key.namespace} is not a library namespace "
            f"({', '.join(sorted(library.namespaces))})"
        )
    elif library.selector is not None and not library.selector.matches(labels_of(template)):
        problem = f"it lacks the library labels {library.selector.describe()}"
    return problem
