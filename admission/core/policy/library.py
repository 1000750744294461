"""The template library: a ref must name an existing, approved template with that entrypoint.

Argo looks a namespaced ref up in the Workflow's own namespace and a `clusterScope` ref among
ClusterWorkflowTemplates (operator.go fetchWorkflowSpec); `templateRef`s inside steps, DAG tasks
and hooks resolve the same way at run time (templateresolution), so under Strict they must lead
into the library too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from admission.core.objects import ref_key, spec_of, template_names, template_refs
from admission.core.policy import rules
from admission.core.policy.context import Context
from admission.core.policy.membership import in_library
from admission.core.policy.source import CLUSTER, TemplateKey

MAX_DEPTH: Final = 8


def check(ctx: Context, spec: Mapping[str, Any], where: str) -> None:
    """Resolve the spec's workflowTemplateRef and check it against the library."""
    key = ref_key(spec, ctx.namespace)
    if key is None or not key.name:
        return
    ok, template = ctx.lookup(key)
    if not ok:
        return
    if template is None:
        reason = f"{where}.workflowTemplateRef names {key}, which does not exist"
        detail = (
            f"looked up {key} (clusterScope: {key.kind == CLUSTER}); create it first or "
            "fix the name"
        )
        if ctx.config.strict:
            ctx.deny(rules.TEMPLATE_REF, reason, detail, f"{where}.workflowTemplateRef")
        else:
            ctx.warn(rules.TEMPLATE_REF, reason, "Argo will fail the Workflow")
        return
    if not in_library(ctx, key, template, f"{where}.workflowTemplateRef"):
        return
    check_entrypoint(ctx, spec, key, template, where)
    if ctx.config.strict:
        check_nested_refs(ctx, key, template)


def check_entrypoint(
    ctx: Context,
    spec: Mapping[str, Any],
    key: TemplateKey,
    template: Mapping[str, Any],
    where: str,
) -> None:
    """The entrypoint Argo will run must be a template of the referenced spec (or defaults)."""
    tmpl_spec = spec_of(template)
    defaults_spec = spec_of(ctx.config.workflow_defaults)
    entry = spec.get("entrypoint") or tmpl_spec.get("entrypoint") or defaults_spec.get("entrypoint")
    names = template_names(tmpl_spec) | template_names(defaults_spec)
    if not entry:
        ctx.deny(
            rules.ENTRYPOINT,
            f"no entrypoint: neither {where} nor {key} sets one",
            f"set {where}.entrypoint to one of: {', '.join(sorted(names)) or '(none)'}",
            f"{where}.entrypoint",
        )
    elif entry not in names:
        ctx.deny(
            rules.ENTRYPOINT,
            f"entrypoint {entry!r} is not a template of {key}",
            f"choose one of: {', '.join(sorted(names)) or '(none)'}",
            f"{where}.entrypoint",
        )


def check_nested_refs(ctx: Context, root: TemplateKey, template: Mapping[str, Any]) -> None:
    """Every templateRef reachable from the referenced template leads into the library.

    Argo follows a chain of templateRefs as deep as it goes (templateresolution), so a chain
    deeper than MAX_DEPTH is refused with the chain, never admitted unchecked.
    """
    seen = {root}
    frontier: list[tuple[Mapping[str, Any], tuple[TemplateKey, ...]]] = [(template, (root,))]
    while frontier:
        current, chain = frontier.pop()
        for nested in template_refs(spec_of(current), ctx.namespace):
            if nested in seen:
                continue
            seen.add(nested)
            path = f"{chain[-1]} templateRef"
            if len(chain) >= MAX_DEPTH:
                ctx.deny(
                    rules.TEMPLATE_REF,
                    f"templateRefs nest deeper than {MAX_DEPTH} templates",
                    f"the chain {' -> '.join(map(str, (*chain, nested)))} is not followed "
                    "further; Argo would run whatever is at its end",
                    path,
                )
                continue
            ok, found = ctx.lookup(nested)
            if not ok:
                continue
            if found is None:
                ctx.deny(
                    rules.TEMPLATE_REF,
                    f"{chain[-1]} uses templateRef {nested}, which does not exist",
                    "Argo would resolve it at run time from whatever is created later",
                    path,
                )
                continue
            if in_library(ctx, nested, found, path):
                frontier.append((found, (*chain, nested)))
