"""The policy engine: `evaluate(request, config=, templates=) -> Decision`. Pure; no I/O.

Decides in a fixed order (PSA ValidatePod): kind and operation routing -> exemptions -> UPDATEs
that change nothing significant -> the rules of the kind. Each rule lives in its own module and
records what it finds on the Context; `decide` turns the findings into a Decision by mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from admission.core.config import Config
from admission.core.decision import NOT_YET, Decision, Outcome, Violation
from admission.core.merge import MergeError
from admission.core.objects import labels_of, ref_key, spec_of
from admission.core.policy import (
    authors,
    conflicts,
    exemptions,
    instance_id,
    legacy,
    library,
    metadata,
    overrides,
    resubmit,
    rules,
    secure,
    security_context,
    spelling,
    status,
    strict,
    taskresults,
    updates,
    wellformed,
)
from admission.core.policy.context import (
    CLUSTER_WORKFLOW_TEMPLATE,
    CRON_WORKFLOW,
    WORKFLOW,
    WORKFLOW_TEMPLATE,
    Context,
    namespace_of,
)
from admission.core.policy.source import (
    EmptySource,
    TemplateKey,
    TemplateLookupError,
    TemplateSource,
)
from admission.core.review import Request

__all__ = ["Head", "evaluate", "head", "route"]

GROUP: Final = "argoproj.io"
KINDS: Final = {
    "workflow": WORKFLOW,
    "cronworkflow": CRON_WORKFLOW,
    "workflowtemplate": WORKFLOW_TEMPLATE,
    "clusterworkflowtemplate": CLUSTER_WORKFLOW_TEMPLATE,
    "workflowtaskresult": taskresults.TASK_RESULT,
    "workflowtaskset": taskresults.TASK_SET,
}
TEMPLATE_KINDS: Final = frozenset({WORKFLOW_TEMPLATE, CLUSTER_WORKFLOW_TEMPLATE})
# Kinds without a spec of their own to check: what the controller reads back as step results.
RESULT_KINDS: Final = frozenset({taskresults.TASK_RESULT, taskresults.TASK_SET})
RESOURCES: Final = {
    **{kind + "s": name for kind, name in KINDS.items()},
    **KINDS,
    "wf": WORKFLOW,
    "cwf": CRON_WORKFLOW,
    "cronwf": CRON_WORKFLOW,
    "wftmpl": WORKFLOW_TEMPLATE,
    "cwftmpl": CLUSTER_WORKFLOW_TEMPLATE,
    "clusterwftmpl": CLUSTER_WORKFLOW_TEMPLATE,
}


def route(request: Request) -> tuple[str | None, str]:
    """(kind we police or None, problem). Spelling variants of a policed kind are policed too."""
    by_kind = KINDS.get(request.kind.lower())
    by_resource = RESOURCES.get(request.resource.lower())
    if by_kind and by_resource and by_kind != by_resource:
        return (
            None,
            f"request.kind {request.kind} does not match request.resource {request.resource}",
        )
    found = by_kind or by_resource
    if found is None:
        return None, ""
    if request.group.lower() != GROUP and request.group != "":
        return None, f"{request.kind} in group {request.group!r} is not {GROUP}"
    return found, ""


@dataclass(frozen=True)
class Head:
    """What both webhooks decide first, in PSA's order: the kind policed (None: not ours), why
    the request is malformed, why the requester is exempt."""

    kind: str | None
    problem: str = ""
    exempt: str = ""


def head(request: Request, config: Config) -> Head:
    """Route the request to the kind it names, and say whether its requester is exempt."""
    kind, problem = route(request)
    if problem or kind is None:
        return Head(kind, problem)
    obj = request.old_object if request.operation == "DELETE" else request.object
    return Head(kind, "", exemptions.exempt_reason(request, config, namespace_of(request, obj)))


def evaluate(
    request: Request, *, config: Config, templates: TemplateSource | None = None
) -> Decision:
    """Decide one AdmissionRequest for the validating webhook."""
    first = head(request, config)
    kind = first.kind
    if first.problem:
        return _errored(config, 400, Violation(rules.REQUEST, "malformed request", first.problem))
    deleting = request.operation == "DELETE" and kind in TEMPLATE_KINDS | RESULT_KINDS
    if kind is None or not (request.operation in ("CREATE", "UPDATE") or deleting):
        return _skip(config, "not a policed kind or operation")
    if request.sub_resource not in ("", "status"):
        return _skip(config, f"subresource {request.sub_resource}")
    ctx = _context(request, config, templates or EmptySource(), kind)
    if isinstance(ctx, Decision):
        return ctx
    if first.exempt:
        return _exempt(ctx, first.exempt)
    if kind in RESULT_KINDS:
        taskresults.check(ctx)
        return decide(ctx)
    if kind in TEMPLATE_KINDS:
        authors.check(ctx, ctx.obj)
        if deleting or ctx.findings.violations:
            return decide(ctx) if ctx.findings.violations else _skip(config, "DELETE")
    if ctx.is_update and kind in METADATA_RULES:
        METADATA_RULES[kind](ctx)  # metadata the templates or the cron controller read
        if ctx.findings.violations:
            return decide(ctx)
    if ctx.is_update and ctx.old is not None and not updates.is_significant(kind, ctx.old, ctx.obj):
        return _skip(config, "no significant change")
    if not isinstance(ctx.obj.get("spec"), dict):
        return _errored(
            config,
            400,
            Violation(rules.WELL_FORMED, f"{kind} spec must be an object", "set spec", "spec"),
        )
    try:
        RULES[kind](ctx)
    except MergeError as exc:
        ctx.error(400, rules.MERGE, "the specs cannot be joined as Argo joins them", str(exc))
    return decide(ctx)


def _context(
    request: Request, config: Config, templates: TemplateSource, kind: str
) -> Context | Decision:
    """The evaluation context, or the error Decision for objects that cannot be evaluated.

    On DELETE the object is the old one: what is deleted is what the rules look at.
    """
    obj, old = request.object, request.old_object
    if request.operation == "DELETE":
        obj = old
    if not isinstance(obj, dict):
        which = "oldObject" if request.operation == "DELETE" else "object"
        return _errored(config, 400, Violation(rules.REQUEST, f"request.{which} must be an object"))
    if request.operation == "UPDATE" and not isinstance(old, dict):
        return _errored(
            config, 400, Violation(rules.REQUEST, "request.oldObject must be an object on UPDATE")
        )
    return Context(request, config, templates, kind, obj, old if isinstance(old, dict) else None)


def _exempt(ctx: Context, reason: str) -> Decision:
    """Exempt identities skip the rules, but a Workflow they create still runs from the library.

    The controller creates Workflows from CronWorkflows admitted earlier (cron `toWorkflow` copies
    the spec); if a template has since been taken out of the library, the spawned Workflow must
    not run it. Exempt namespaces stay unchecked.
    """
    identity = ctx.config.exemptions.matches(
        namespace="", username=ctx.request.username, groups=ctx.request.groups
    )
    if identity and ctx.kind == WORKFLOW and ctx.request.operation == "CREATE":
        library.check(ctx, spec_of(ctx.obj), "spec")
        if ctx.findings.violations or ctx.findings.errors:
            return decide(ctx)
    return _allow(ctx.config, exempt=reason)


def _workflow(ctx: Context) -> None:
    spec = spec_of(ctx.obj)
    spelling.check_object(ctx, ctx.obj, status=True)
    spelling.check_workflow_spec(ctx, spec, "spec")
    instance_id.check_object_instance_id(ctx)
    old_spec = spec_of(ctx.old) if ctx.is_update else None
    legacy.tolerate(ctx, lambda: _workflow_spec_rules(ctx, spec, old_spec, "spec"))
    if ctx.is_update:
        status.check_update(ctx)
        secure.check_update(ctx)
    else:
        status.check_create(ctx)
        resubmit.check_spec(ctx)


def _cron_workflow(ctx: Context) -> None:
    spec = spec_of(ctx.obj)
    spelling.check_object(ctx, ctx.obj, status=False)
    spelling.check_keys(ctx, spec, spelling.CRON_FIELDS, "spec")
    workflow_spec = spec.get("workflowSpec")
    if not isinstance(workflow_spec, dict):
        ctx.error(
            400, rules.WELL_FORMED, "spec.workflowSpec must be an object", "set spec.workflowSpec"
        )
        return
    spelling.check_workflow_spec(ctx, workflow_spec, "spec.workflowSpec")
    instance_id.check_object_instance_id(ctx)
    meta = spec.get("workflowMetadata")
    instance_id.check_instance_id(
        ctx, labels_of({"metadata": meta}), "spec.workflowMetadata.labels"
    )
    old_spec = spec_of(ctx.old).get("workflowSpec") if ctx.is_update else None
    legacy.tolerate(
        ctx,
        lambda: _workflow_spec_rules(
            ctx,
            workflow_spec,
            old_spec if isinstance(old_spec, dict) else None,
            "spec.workflowSpec",
        ),
    )
    status.check_cron(ctx)


def _workflow_spec_rules(
    ctx: Context, spec: dict[str, Any], old_spec: dict[str, Any] | None, where: str
) -> None:
    """The rules every Workflow spec meets, on CREATE and again on every UPDATE."""
    strict.check(ctx, spec, where)
    overrides.check(ctx, spec, where)
    if old_spec is None or _ref(ctx, spec) != _ref(ctx, old_spec):
        library.check(ctx, spec, where)
    if spec.get("workflowTemplateRef") is None:
        security_context.check_baseline(ctx, spec, where)
        security_context.check_restricted(ctx, spec, where)
        if old_spec is None or ctx.kind == CRON_WORKFLOW:  # when /mutate fills the baseline
            conflicts.warn(ctx, spec, where)


def _ref(ctx: Context, spec: dict[str, Any]) -> TemplateKey | None:
    return ref_key(spec, ctx.namespace)


def _template(ctx: Context) -> None:
    spec = spec_of(ctx.obj)
    spelling.check_object(ctx, ctx.obj, status=False)
    wellformed.check(ctx)
    security_context.check_baseline(ctx, spec, "spec")
    security_context.check_restricted(ctx, spec, "spec")
    if not ctx.is_update:  # /mutate fills a template's baseline at its CREATE only
        conflicts.warn(ctx, spec, "spec")
    if ctx.is_update and ctx.config.secure and spec != spec_of(ctx.old):
        _warn_running(ctx)


def _warn_running(ctx: Context) -> None:
    meta = ctx.obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str):
        return
    namespace = "" if ctx.kind == CLUSTER_WORKFLOW_TEMPLATE else ctx.namespace
    try:
        running = list(ctx.templates.workflows_using(TemplateKey(ctx.kind, namespace, name)))
    except TemplateLookupError as exc:
        ctx.warn(
            rules.SECURE,
            f"running Workflows that reference this template could not be listed ({exc}); "
            "editing it fails them (templateReferencing: Secure)",
        )
        return
    if running:
        shown = ", ".join(running[:10]) + (
            f" and {len(running) - 10} more" if len(running) > 10 else ""
        )
        ctx.warn(
            rules.SECURE,
            "editing this template fails the running Workflows that reference it "
            "(templateReferencing: Secure)",
            shown,
        )


METADATA_RULES: Final[dict[str, Callable[[Context], None]]] = {
    WORKFLOW: metadata.check_workflow,
    CRON_WORKFLOW: metadata.check_cron,
}
RULES: Final[dict[str, Callable[[Context], None]]] = {
    WORKFLOW: _workflow,
    CRON_WORKFLOW: _cron_workflow,
    WORKFLOW_TEMPLATE: _template,
    CLUSTER_WORKFLOW_TEMPLATE: _template,
}


# --- findings -> decision -------------------------------------------------------------------


def decide(ctx: Context) -> Decision:
    """Apply the mode and the lookup failure policy to what the rules found."""
    config, found = ctx.config, ctx.findings
    warned = list(found.warnings)
    errors = []
    for code, violation in found.errors:
        if code == 500 and config.lookup_failure_policy == "Ignore":
            warned.append(_ignored(violation))
        else:
            errors.append((code, violation))
    warnings = [w.message() for w in warned]
    problems = [*found.violations, *(v for _, v in errors)]
    if not problems:
        outcome = Outcome.WARN if warnings else Outcome.PASS
        return Decision(
            True,
            outcome,
            warnings=tuple(warnings),
            warned=tuple(warned),
            mode=config.mode,
            annotations=_annotations("allow", "", config.mode),
        )
    outcome = Outcome.FAIL if found.violations else Outcome.ERROR
    code = 403 if found.violations else max(code for code, _ in errors)
    rule = problems[0].rule
    enforce = config.mode == "enforce"
    refusal = "retry" if code == NOT_YET else "deny"  # 429: not yet, the writer retries
    if config.mode == "warn":
        warnings = [*(p.message() for p in problems), *found.diff, *warnings]
    return Decision(
        not enforce,
        outcome,
        code,
        tuple(problems),
        tuple(warnings),
        tuple(found.diff),
        warned=tuple(warned),
        mode=config.mode,
        annotations=_annotations(refusal if enforce else config.mode, rule, config.mode),
    )


def _ignored(violation: Violation) -> Violation:
    """A failed lookup the policy lets through (lookupFailurePolicy: Ignore), as a warning."""
    note = " (lookupFailurePolicy: Ignore)"
    if violation.detail:
        return dataclasses.replace(violation, detail=violation.detail + note)
    return dataclasses.replace(violation, reason=violation.reason + note)


def _annotations(decision: str, rule: str, mode: str) -> dict[str, str]:
    out = {"decision": decision, "mode": mode}
    if rule:
        out["rule"] = rule
    return out


def _allow(config: Config, *, exempt: str) -> Decision:
    annotations = {"decision": "exempt", "mode": config.mode, "exempt": exempt}
    return Decision(True, Outcome.SKIP, mode=config.mode, exempt=exempt, annotations=annotations)


def _skip(config: Config, why: str) -> Decision:
    return Decision(
        True,
        Outcome.SKIP,
        mode=config.mode,
        annotations={"decision": "skip", "mode": config.mode, "skip": why},
    )


def _errored(config: Config, code: int, violation: Violation) -> Decision:
    return Decision(
        False,
        Outcome.ERROR,
        code,
        (violation,),
        mode=config.mode,
        annotations=_annotations("deny", violation.rule, config.mode),
    )
