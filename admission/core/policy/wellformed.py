"""(Cluster)WorkflowTemplates Argo can run: templates named and unique, entrypoint present.

Argo itself validates templates on create through its own server, but not when they are applied
with kubectl; a library template with a duplicate name would merge unpredictably into every
Workflow that references it (templates merge by name).
"""

from __future__ import annotations

from collections import Counter

from admission.core.objects import spec_of, template_names
from admission.core.policy import rules
from admission.core.policy.context import Context


def check(ctx: Context) -> None:
    """Deny templates without names, with duplicate names, or with an unknown entrypoint."""
    spec = spec_of(ctx.obj)
    templates = spec.get("templates")
    if templates is None:
        templates = []
    if not isinstance(templates, list):
        ctx.deny(rules.WELL_FORMED, "spec.templates must be a list", path="spec.templates")
        return
    names: Counter[str] = Counter()
    for i, template in enumerate(templates):
        name = template.get("name") if isinstance(template, dict) else None
        if not isinstance(name, str) or not name:
            ctx.deny(
                rules.WELL_FORMED,
                f"spec.templates[{i}] has no name",
                "every template needs a unique name",
                f"spec.templates[{i}].name",
            )
        else:
            names[name] += 1
    for name, count in sorted(names.items()):
        if count > 1:
            ctx.deny(
                rules.WELL_FORMED,
                f"template name {name!r} is used {count} times",
                "template names must be unique (Argo merges templates by name)",
                f"spec.templates[name={name}]",
            )
    entry = spec.get("entrypoint")
    if entry and entry not in template_names(spec):
        ctx.deny(
            rules.WELL_FORMED,
            f"entrypoint {entry!r} is not a template of this spec",
            f"choose one of: {', '.join(sorted(names)) or '(none)'}",
            "spec.entrypoint",
        )
