"""What one evaluation works on, and what its rules have found so far."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from admission.core.config import Config
from admission.core.decision import Violation
from admission.core.policy import rules
from admission.core.policy.rules import Rule
from admission.core.policy.source import (
    CLUSTER,
    NAMESPACED,
    TemplateKey,
    TemplateLookupError,
    TemplateSource,
)
from admission.core.review import Request

WORKFLOW = "Workflow"
CRON_WORKFLOW = "CronWorkflow"
WORKFLOW_TEMPLATE = NAMESPACED
CLUSTER_WORKFLOW_TEMPLATE = CLUSTER

INSTANCE_ID_LABEL = "workflows.argoproj.io/controller-instanceid"


def namespace_of(request: Request, obj: Any) -> str:
    """The namespace the API server states for the request, else the one the object names."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    own = meta.get("namespace") if isinstance(meta, dict) else None
    return request.namespace or (own if isinstance(own, str) else "")


@dataclass
class Findings:
    """Violations (deny), errors (cannot evaluate), warnings and diff lines, in order found."""

    violations: list[Violation] = field(default_factory=list)
    errors: list[tuple[int, Violation]] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)


@dataclass
class Context:
    """A request being evaluated: the objects, the policy, the template source, the findings."""

    request: Request
    config: Config
    templates: TemplateSource
    kind: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    findings: Findings = field(default_factory=Findings)
    _lookups: dict[TemplateKey, Mapping[str, Any] | None] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        """The object's namespace (the request's, as the API server states it)."""
        return namespace_of(self.request, self.obj)

    @property
    def is_update(self) -> bool:
        """An UPDATE with a previous object to compare with."""
        return self.request.operation == "UPDATE" and isinstance(self.old, dict)

    def deny(self, rule: Rule, reason: str, detail: str = "", path: str = "") -> None:
        """Record a broken rule (403 in enforce mode)."""
        self.findings.violations.append(Violation(rule, reason, detail, path))

    def error(self, code: int, rule: Rule, reason: str, detail: str = "") -> None:
        """Record what could not be evaluated: 400 for a broken object, 500 for a lookup, 429
        for what the object names but does not exist yet (the writer retries)."""
        self.findings.errors.append((code, Violation(rule, reason, detail)))

    def warn(self, rule: Rule, reason: str, detail: str = "") -> None:
        """Record a warning for the client (admission warnings) and the audit log: `[rule]
        reason: detail`, kept as values so the audit reads the rule without parsing."""
        self.findings.warnings.append(Violation(rule, reason, detail))

    def lookup(self, key: TemplateKey) -> tuple[bool, Mapping[str, Any] | None]:
        """(ok, template): ok is False when the lookup failed; the failure is recorded."""
        if key in self._lookups:
            return True, self._lookups[key]
        try:
            found = self.templates.get(key)
        except TemplateLookupError as exc:
            self.error(500, rules.TEMPLATE_LOOKUP, f"cannot look up {key}", str(exc))
            return False, None
        self._lookups[key] = found
        return True, found

    def lookup_workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> tuple[bool, Mapping[str, Any] | None]:
        """(ok, Workflow as stored): ok is False when the lookup failed; the failure is recorded.
        `fresh`: as the API server has it now, not as a cache last saw it."""
        try:
            return True, self.templates.workflow(namespace, name, fresh=fresh)
        except TemplateLookupError as exc:
            self.error(
                500, rules.WORKFLOW_LOOKUP, f"cannot look up Workflow {namespace}/{name}", str(exc)
            )
            return False, None
