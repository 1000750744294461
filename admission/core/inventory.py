"""`audit`'s core: Argo objects judged as they stand, and PolicyReports written from the findings.

The door judges writes; an audit judges what is already there (objects created before the door,
or under an older or laxer policy). Each object takes the policy's own path (`policy.evaluate`)
as if a user created it now:

- a Workflow meets every rule its CREATE would meet except the status rule: a started
  Workflow's status is the controller's, written after admission. Under Secure it is also
  compared as Argo compares it on every reconcile (`policy.secure`): its spec joined over its
  template as the template is *now*, against `status.storedWorkflowTemplateSpec`. A template
  edited since the Workflow started fails it; a finished Workflow is not compared again.
- a CronWorkflow and a (Cluster)WorkflowTemplate meet the rules of their CREATE (without status:
  a CronWorkflow's is the cron controller's). A legacy CronWorkflow without a ref breaks Strict.
- who wrote the object is not judged: `templateLibrary.authors` is about writers, and the
  synthesized requester is nobody in particular.

`audit(objects, config=, templates=)` returns one Finding per rule an object breaks (fail),
warning it earns (warn) or evaluation that could not be completed (error), and one pass (or
skip, for an exempt namespace) per object with none. `policy_reports(findings, timestamp=)`
renders them as wgpolicyk8s.io/v1alpha2 PolicyReports (one per namespace) and a
ClusterPolicyReport (cluster-scoped templates), the format Kyverno writes. Pure; no I/O: the
CLI reads the objects from files or the API server, and a server may run the same audit
periodically and apply the reports.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from admission.core import mutate, policy
from admission.core.config import Config
from admission.core.decision import Decision, Outcome, Violation
from admission.core.diff import normalise
from admission.core.merge import MergeError, join_workflow_spec, sanitize_user_spec
from admission.core.objects import (
    STORED_SPEC,
    is_finished,
    metadata_of,
    ref_key,
    spec_of,
    status_of,
)
from admission.core.policy import rules, secure
from admission.core.policy.context import (
    CLUSTER_WORKFLOW_TEMPLATE,
    WORKFLOW,
    WORKFLOW_TEMPLATE,
    Context,
)
from admission.core.policy.source import TemplateLookupError, TemplateSource
from admission.core.review import Request, make_review, parse_review

AUDITOR: Final = "system:argo-admission:audit"
"""The requester of the synthesized requests: exempt from nothing but exempt namespaces."""
AUDITED: Final = {
    "workflow": "Workflow",
    "cronworkflow": "CronWorkflow",
    "workflowtemplate": "WorkflowTemplate",
    "clusterworkflowtemplate": CLUSTER_WORKFLOW_TEMPLATE,
}
API_VERSION: Final = "argoproj.io/v1alpha1"
POLICY: Final = "argo-admission"
PASSED: Final = "all-rules"
"""The rule name of a pass result: the object meets every rule of the policy."""
LOOKUP_RULES: Final = frozenset({"template-lookup", "workflow-lookup", "request"})
RESULTS: Final = ("pass", "fail", "warn", "error", "skip")
TEMPLATE_KINDS: Final = frozenset({WORKFLOW_TEMPLATE, CLUSTER_WORKFLOW_TEMPLATE})
REPORT_API: Final = "wgpolicyk8s.io/v1alpha2"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "argo-admission"}
# A report is one object, and the API server stores none above 1.5 MiB: a namespace of thousands
# of Workflows keeps its problems first and as many passes as fit; the summary counts them all.
MAX_RESULTS: Final = 500
MAX_MESSAGE: Final = 1024
OMITTED: Final = "argo-admission.io/results-omitted"
ORDER: Final = {"fail": 0, "error": 1, "warn": 2, "pass": 3, "skip": 4}


@dataclass(frozen=True)
class Resource:
    """The object a finding is about, as an ObjectReference names it."""

    api_version: str
    kind: str
    namespace: str
    """"" for a ClusterWorkflowTemplate."""
    name: str
    uid: str = ""

    def reference(self) -> dict[str, str]:
        """The corev1.ObjectReference of a PolicyReport result."""
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


@dataclass(frozen=True)
class Finding:
    """One result for one object: a rule broken (fail), a warning, an error, or a pass/skip."""

    resource: Resource
    rule: str
    result: str
    """pass, fail, warn, error or skip (the PolicyReport result values)."""
    message: str
    path: str = ""
    """The field the rule names, when it names one."""

    @property
    def is_problem(self) -> bool:
        """Whether this is something to act on (not a pass or a skip)."""
        return self.result in ("fail", "warn", "error")

    def as_dict(self) -> dict[str, str]:
        """The finding as `audit -o json` lists it."""
        return {
            "kind": self.resource.kind,
            "namespace": self.resource.namespace,
            "name": self.resource.name,
            "rule": self.rule,
            "result": self.result,
            "message": self.message,
            "path": self.path,
        }


def audit(
    objects: Iterable[Mapping[str, Any]], *, config: Config, templates: TemplateSource
) -> list[Finding]:
    """Judge every Workflow, CronWorkflow and (Cluster)WorkflowTemplate as it stands."""
    judged = _without_authors(config)
    findings: list[Finding] = []
    for obj in objects:
        if is_audited(obj):
            findings += audit_object(obj, config=judged, templates=templates)
    return findings


def is_audited(obj: Any) -> bool:
    """Whether `obj` is an object of a kind the audit judges."""
    return isinstance(obj, Mapping) and str(obj.get("kind", "")).lower() in AUDITED


def problems(findings: Iterable[Finding]) -> list[Finding]:
    """The findings to act on (fail, warn, error)."""
    return [f for f in findings if f.is_problem]


def audit_object(
    obj: Mapping[str, Any], *, config: Config, templates: TemplateSource
) -> list[Finding]:
    """The findings for one object (see the module docstring)."""
    created = {key: value for key, value in obj.items() if key != "status"}
    request = parse_review(make_review(created, namespace="default", username=AUDITOR, groups=()))
    resource = _resource(obj, request)
    decision = policy.evaluate(request, config=config, templates=templates)
    if decision.exempt:
        return [Finding(resource, PASSED, "skip", f"exempt: {decision.exempt}")]
    findings = _from_decision(resource, decision)
    if request.kind in TEMPLATE_KINDS:
        findings += _baseline_missing(resource, request, config)
    if request.kind == WORKFLOW and not is_finished(obj):
        findings += _stored_spec(resource, obj, request, config, templates)
    if not findings:
        findings.append(Finding(resource, PASSED, "pass", "meets every rule of the policy"))
    return findings


def _baseline_missing(resource: Resource, request: Request, config: Config) -> list[Finding]:
    """What /mutate would add to this template at its CREATE, which it no longer gets: a
    template is mutated at CREATE only, so one stored before the door keeps lacking it."""
    enforcing = dataclasses.replace(config, mode="enforce")
    ops = mutate.patches(request, config=enforcing).patch
    if not ops:
        return []
    shown = "; ".join(
        v.reason.removesuffix(" (mode: enforce applies it)")
        for v in mutate.would_set([dict(op) for op in ops])
    )

    return [
        Finding(
            resource,
            rules.MUTATE,
            "warn",
            f"[mutate] the securityContext baseline is not in this template, and an UPDATE does "
            f"not add it (docs/rollout.md): put it in the template's files: {shown}",
        )
    ]


def _without_authors(config: Config) -> Config:
    """The policy without its authors rule: an audit judges objects, not who wrote them."""
    library = dataclasses.replace(config.template_library, authors=None)
    return dataclasses.replace(config, template_library=library)


def _resource(obj: Mapping[str, Any], request: Request) -> Resource:
    uid = metadata_of(obj).get("uid")
    api_version = obj.get("apiVersion")
    return Resource(
        api_version=api_version if isinstance(api_version, str) else API_VERSION,
        kind=request.kind,
        namespace=request.namespace,
        name=request.name,
        uid=uid if isinstance(uid, str) else "",
    )


def _from_decision(resource: Resource, decision: Decision) -> list[Finding]:
    """Broken rules as fail (error when the object could not be evaluated), then warnings."""
    failed = decision.outcome == Outcome.FAIL
    findings = [
        Finding(resource, v.rule, _result(v, failed), _message(v, decision), v.path)
        for v in decision.violations
    ]
    findings += [Finding(resource, w.rule, "warn", w.message(), w.path) for w in decision.warned]
    return findings


def _result(violation: Violation, failed: bool) -> str:
    return "fail" if failed and violation.rule not in LOOKUP_RULES else "error"


def _message(violation: Violation, decision: Decision) -> str:
    diff = "; ".join(decision.diff) if violation.rule == "secure" else ""
    return f"{violation.message()} {diff}".strip()


def _stored_spec(
    resource: Resource,
    obj: Mapping[str, Any],
    request: Request,
    config: Config,
    templates: TemplateSource,
) -> list[Finding]:
    """Secure: the Workflow's spec joined over its template now, against the spec it stored.

    Argo makes this compare on every reconcile; `policy.secure` makes it on an UPDATE. Here
    the UPDATE is one that changes nothing, so what differs is what changed elsewhere: the
    template (or workflowDefaults) since the Workflow started. Argo fails such a Workflow.
    """
    workflow = dict(obj)
    ctx = Context(request, config, templates, WORKFLOW, workflow, workflow)
    secure.check_update(ctx)
    found = ctx.findings
    findings = [Finding(resource, v.rule, "fail", v.message()) for v in found.violations]
    findings += [Finding(resource, v.rule, "error", v.message()) for _, v in found.errors]
    defaulted = (
        _defaults_only(workflow, request.namespace, config, templates) if found.warnings else []
    )
    for warning in found.warnings:
        if defaulted and warning.rule == rules.SECURE:
            message = _defaults_message(defaulted, config)
            findings.append(Finding(resource, warning.rule, "warn", message))
        else:
            findings.append(
                Finding(resource, warning.rule, "fail", warning.message(), warning.path)
            )
    return findings


def _defaults_only(
    workflow: Mapping[str, Any], namespace: str, config: Config, templates: TemplateSource
) -> list[str]:
    """The top-level fields where the join differs from the stored spec, when every one of them
    is set by neither the Workflow nor its template: then only workflowDefaults put them there,
    the policy's on one side, the controller's on the other, and no template changed ([] else).
    """
    spec, stored = spec_of(workflow), status_of(workflow).get(STORED_SPEC)
    key = ref_key(spec, namespace)
    try:
        template = templates.get(key) if key is not None else None
    except TemplateLookupError:
        return []
    if template is None or not isinstance(stored, dict):
        return []
    user = sanitize_user_spec(spec, config.override_allowlist)
    try:
        joined = join_workflow_spec(user, spec_of(template), spec_of(config.workflow_defaults))
    except MergeError:
        return []
    left, right = normalise(stored), normalise(joined)
    assert isinstance(left, dict) and isinstance(right, dict)
    differing = sorted(
        k
        for k in set(left) | set(right)
        if k not in secure.REFRESHED and left.get(k) != right.get(k)
    )
    own = set(user) | set(spec_of(template))
    return differing if differing and not own & set(differing) else []


def _defaults_message(fields: list[str], config: Config) -> str:
    return (
        f"[secure] spec.{', spec.'.join(fields)}: the policy's workflowDefaults ({config.source}) "
        "differ from those Argo's controller joined into this Workflow when it started; neither "
        "the Workflow nor its template sets them, so no template changed. Audit with the "
        "controller's own ConfigMap (--config workflow-controller-configmap.yaml) to see what "
        "Argo will do"
    )


# --- PolicyReports --------------------------------------------------------------------------


def policy_reports(
    findings: Sequence[Finding], *, timestamp: int, name: str = POLICY
) -> list[dict[str, Any]]:
    """wgpolicyk8s.io/v1alpha2 reports of the findings, as Kyverno writes them.

    One PolicyReport per namespace (scoped to the Namespace) and one ClusterPolicyReport for
    ClusterWorkflowTemplates; results with policy, rule, result, message, the resources, a
    timestamp; a summary counting each result. At most MAX_RESULTS results, problems first (the
    annotation OMITTED counts the rest), messages cut at MAX_MESSAGE characters.
    """
    by_namespace: dict[str, list[Finding]] = {}
    for finding in findings:
        by_namespace.setdefault(finding.resource.namespace, []).append(finding)
    return [
        _report(namespace, by_namespace[namespace], timestamp=timestamp, name=name)
        for namespace in sorted(by_namespace)
    ]


def _report(
    namespace: str, findings: Sequence[Finding], *, timestamp: int, name: str
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY)}
    report: dict[str, Any] = {"apiVersion": REPORT_API}
    if namespace:
        report["kind"] = "PolicyReport"
        metadata["namespace"] = namespace
        report["metadata"] = metadata
        report["scope"] = {"apiVersion": "v1", "kind": "Namespace", "name": namespace}
    else:
        report["kind"] = "ClusterPolicyReport"
        report["metadata"] = metadata
    kept = sorted(findings, key=lambda f: ORDER.get(f.result, 5))[:MAX_RESULTS]
    if len(kept) < len(findings):
        metadata["annotations"] = {OMITTED: str(len(findings) - len(kept))}
    ordered = sorted(kept, key=lambda f: (f.resource.kind, f.resource.name, f.rule))
    report["results"] = [_result_entry(f, timestamp) for f in ordered]
    counts = Counter(f.result for f in findings)
    report["summary"] = {result: counts.get(result, 0) for result in RESULTS}
    return report


def _result_entry(finding: Finding, timestamp: int) -> dict[str, Any]:
    entry = {
        "policy": POLICY,
        "rule": finding.rule,
        "result": finding.result,
        "message": _shortened(finding.message),
        "resources": [finding.resource.reference()],
        "scored": True,
        "source": POLICY,
        "category": "Argo Workflows",
        "timestamp": {"seconds": timestamp, "nanos": 0},
    }
    if finding.path:
        entry["properties"] = {"path": finding.path}
    return entry


def _shortened(message: str) -> str:
    if len(message) <= MAX_MESSAGE:
        return message
    tail = f" ... ({len(message)} characters; see audit -o json)"
    return message[: MAX_MESSAGE - len(tail)] + tail


# --- human and JSON output ------------------------------------------------------------------


def table(findings: Sequence[Finding]) -> str:
    """The problems as a table, one row each, and a count."""
    rows = [
        (f.resource.kind, f.resource.namespace or "-", f.resource.name, f.rule, f.result, f.message)
        for f in problems(findings)
    ]
    objects = len({f.resource for f in findings})
    if not rows:
        return f"no findings in {objects} object(s)\n"
    header = ("KIND", "NAMESPACE", "NAME", "RULE", "RESULT", "MESSAGE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + "  "
        + row[5]
        for row in [header, *rows]
    ]
    flagged = len({f.resource for f in problems(findings)})
    lines.append(f"{len(rows)} finding(s) in {flagged} of {objects} object(s)")
    return "\n".join(lines) + "\n"
