"""The template library: a ref must name an existing, approved template with that entrypoint.

Argo looks a namespaced ref up in the Workflow's own namespace and a `clusterScope` ref among
ClusterWorkflowTemplates (operator.go fetchWorkflowSpec); `templateRef`s inside steps, DAG tasks
and hooks resolve the same way at run time (templateresolution), so under Strict they must lead
into the library too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from admission.core.config import TemplateLibrary
from admission.core.objects import labels_of, ref_key, spec_of
from admission.core.policy import rules
from admission.core.policy.context import Context
from admission.core.policy.source import CLUSTER, NAMESPACED, TemplateKey

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


def template_names(spec: Mapping[str, Any]) -> set[str]:
    """Names of the templates in a Workflow spec."""
    templates = spec.get("templates")
    if not isinstance(templates, list):
        return set()
    return {t["name"] for t in templates if isinstance(t, dict) and isinstance(t.get("name"), str)}


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


def template_refs(spec: Mapping[str, Any], namespace: str) -> Iterator[TemplateKey]:
    """Every `templateRef` of a spec, where Argo resolves them: steps, DAG tasks and hooks."""
    for holder in _ref_holders(spec):
        ref = holder.get("templateRef")
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            if ref.get("clusterScope") is True:
                yield TemplateKey(CLUSTER, "", ref["name"])
            else:
                yield TemplateKey(NAMESPACED, namespace, ref["name"])


def _ref_holders(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """What may carry a templateRef: steps, DAG tasks, hooks, at any depth of inline templates."""
    yield from _hooks(spec)
    for template, call in walk(spec):
        if call is None:
            yield from _hooks(template)
        else:
            yield call
            yield from _hooks(call)


def walk(spec: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """(template, None) for each template, inline ones at any depth, then (template, call) for
    each of its steps and DAG tasks."""
    pending = list(_dicts(spec.get("templates")))
    while pending:
        template = pending.pop()
        yield template, None
        for call in calls(template):
            yield template, call
            inline = call.get("inline")
            if isinstance(inline, dict):
                pending.append(inline)


def calls(template: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The steps and DAG tasks of a template."""
    for group in spec_list(template.get("steps")):
        yield from _dicts(group)
    dag = template.get("dag")
    yield from _dicts(dag.get("tasks") if isinstance(dag, dict) else None)


def _hooks(holder: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    hooks = holder.get("hooks")
    if isinstance(hooks, dict):
        yield from (hook for hook in hooks.values() if isinstance(hook, dict))


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def spec_list(value: Any) -> list[Any]:
    """`value` if it is a list, else []."""
    return value if isinstance(value, list) else []
