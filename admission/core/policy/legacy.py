"""Objects that predate the policy can be turned off, and nothing else.

A Workflow or CronWorkflow created before the door (or before the policy tightened) may break
today's rules, e.g. run inline templates under Strict. Refusing every UPDATE of it would leave an
admin unable to stop it: `argo stop`/`terminate` write `spec.shutdown`, `argo suspend`/`resume`
write `spec.suspend` (workflow/util/util.go patchShutdownStrategy, SuspendWorkflow,
ResumeWorkflow), `argo cron suspend`/`resume` write the CronWorkflow's `spec.suspend`. Such an
UPDATE passes with a warning naming the object and the rules it breaks; any other change to it
meets the rules in full. Retrying a finished legacy Workflow (a new run) is not turning it off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from admission.core.diff import equivalent
from admission.core.objects import FINISHED, metadata_of, spec_of, status_of
from admission.core.policy.context import CRON_WORKFLOW, Context, Findings
from admission.core.policy.rules import LEGACY

WORKFLOW_DAY2: Final = frozenset({"shutdown", "suspend"})
CRON_DAY2: Final = frozenset({"suspend"})


def is_day2(ctx: Context) -> bool:
    """Whether this UPDATE changes only what turns the object off or on again."""
    if not ctx.is_update or ctx.old is None:
        return False
    old, new = spec_of(ctx.old), spec_of(ctx.obj)
    if ctx.kind == CRON_WORKFLOW:
        if not equivalent(old.get("workflowSpec"), new.get("workflowSpec")):
            return False
        return equivalent(
            _without(old, CRON_DAY2 | {"workflowSpec"}),
            _without(new, CRON_DAY2 | {"workflowSpec"}),
            None,
        )
    if status_of(ctx.old).get("phase") in FINISHED and status_of(ctx.obj).get("phase") != status_of(
        ctx.old
    ).get("phase"):
        return False  # `argo retry`: a new run, not a way to stop it
    return equivalent(_without(old, WORKFLOW_DAY2), _without(new, WORKFLOW_DAY2))


def _without(spec: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in fields}


def tolerate(ctx: Context, rules: Callable[[], None]) -> None:
    """Run `rules`; on a day-2 UPDATE, turn the violations they find into one warning."""
    if not is_day2(ctx):
        rules()
        return
    kept, ctx.findings = ctx.findings, Findings()
    try:
        rules()
    finally:
        found, ctx.findings = ctx.findings, kept
    ctx.findings.errors.extend(found.errors)
    ctx.findings.warnings.extend(found.warnings)
    if found.violations:
        name = metadata_of(ctx.obj).get("name", "")
        broken = ", ".join(sorted({v.rule for v in found.violations}))
        ctx.warn(
            LEGACY,
            f"{ctx.kind} {ctx.namespace}/{name} predates the policy (it breaks: "
            f"{broken}); this UPDATE only stops, suspends or resumes it and is admitted, "
            "any other change is refused",
        )
