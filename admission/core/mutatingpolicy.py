"""The mutation as a MutatingAdmissionPolicy and its binding: the securityContext baseline
filled in inside the API server, by a CEL JSONPatch, where no lookup and no join is needed. Pure.

`policy_objects(config)` builds both objects from the Config /mutate serves (`why_not(config)`
says why there is nothing to export); CHANGES says, for every change /mutate makes, whether the
policy makes it or why only the webhook can. The patch is /mutate's (mutate.apply_baseline):
each baseline field only where the object leaves it unset (null is unset), nested maps filled
key by key, and never a field that contradicts what the template sets (policy/conflicts.py), so
the object stored is the one the webhook's patch makes, and a second pass adds nothing.

Kubernetes 1.36 serves `admissionregistration.k8s.io/v1` MutatingAdmissionPolicy by default.
JSONPatch, not ApplyConfiguration: Argo's CRDs declare `spec` an atomic map, and an apply
configuration may not mutate one (the API server refuses the request).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from admission.core import cel
from admission.core.config import Config
from admission.core.objects import CONTAINER_LISTS
from admission.core.vap import exempt_identity

API_VERSION: Final = "admissionregistration.k8s.io/v1"
NAME: Final = "argo-admission"

# Every change /mutate makes: "cel" where this policy makes it, else why only the webhook can
# (tests/unit/test_mutatingpolicy.py checks it against every patch of the mutate suites).
CHANGES: Final[dict[str, str]] = {
    "baseline on a template": "cel: (Cluster)WorkflowTemplate CREATEs",
    "baseline on a Workflow": "cel while workflowDefaults is empty; else the webhook: the "
    "baseline fills the spec joined with workflowDefaults first",
    "baseline on a CronWorkflow": "cel while workflowDefaults is empty; else the webhook: the "
    "baseline fills the spec joined with workflowDefaults first",
    "workflowDefaults": "Argo's MergeTo, a strategic merge typed by Argo's Go structs (merge/)",
    "workflowDefaults metadata": "comes with workflowDefaults, which the webhook joins",
    "refDefaults beside a ref": "only where the template sets none: a lookup of the template",
}


def claimed(config: Config) -> frozenset[str]:
    """The CHANGES the exported policy makes under `config` (none when why_not says so)."""
    if why_not(config):
        return frozenset()
    made = {"baseline on a template"}
    if not config.workflow_defaults:
        made |= {"baseline on a Workflow", "baseline on a CronWorkflow"}
    return frozenset(made)


def change_of(kind: str, pointer: str, *, ref: bool) -> str:
    """The CHANGES entry a /mutate patch operation at `pointer` makes on an object of `kind`
    (`ref`: a Workflow or CronWorkflow with a workflowTemplateRef)."""
    if pointer.startswith(("/metadata", "/spec/workflowMetadata")):
        return "workflowDefaults metadata"
    if kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
        return "baseline on a template"
    if ref:
        return "refDefaults beside a ref"
    if "securityContext" in pointer.split("/"):
        return f"baseline on a {kind}"
    return "workflowDefaults"


TEMPLATES: Final = ("workflowtemplates", "clusterworkflowtemplates")


def why_not(config: Config) -> str:
    """Why /mutate's policy has nothing to export ("" when it has something)."""
    sc = config.security_context
    if config.mode != "enforce":
        return (
            f"mode: {config.mode}: the webhook patches nothing in warn and audit modes (it "
            "warns what enforce would set), so there is no mutation to export"
        )
    if sc.mode != "mutate" or not (sc.pod or sc.container):
        return (
            "securityContext sets no baseline to mutate in (mode: mutate with pod or "
            "container fields); the rest of /mutate needs the webhook (CHANGES)"
        )
    return ""


def policy_objects(config: Config, *, name: str = NAME) -> list[dict[str, Any]]:
    """The MutatingAdmissionPolicy and its binding; none when why_not(config) says why."""
    if why_not(config):
        return []
    rules = [_rule(TEMPLATES, "CREATE")]
    if not config.workflow_defaults:
        rules += [_rule(("workflows",), "CREATE"), _rule(("cronworkflows",), "CREATE", "UPDATE")]
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "reinvocationPolicy": "IfNeeded",
        "matchConstraints": {"resourceRules": rules},
        "matchConditions": match_conditions(config),
        "variables": variables(),
        "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": patch(config)}}],
    }
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": spec,
        },
        {
            "apiVersion": API_VERSION,
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name},
        },
    ]


def _rule(resources: tuple[str, ...], *operations: str) -> dict[str, Any]:
    return {
        "apiGroups": ["argoproj.io"],
        "apiVersions": ["*"],
        "operations": list(operations),
        "resources": list(resources),
    }


WORKFLOW_SPEC: Final = (
    "request.resource.resource == 'cronworkflows' ? "
    "('workflowSpec' in object.spec ? object.spec.workflowSpec : null) : object.spec"
)


def match_conditions(config: Config) -> list[dict[str, str]]:
    """Exemptions, as the webhook's; a spec that is an object; Workflows only without a ref."""
    out = []
    if config.exemptions.namespaces:
        # a ClusterWorkflowTemplate's request has no namespace at all (no such key)
        names = cel.strings(sorted(config.exemptions.namespaces))
        expression = f"!has(request.namespace) || !(request.namespace in {names})"
        out.append({"name": "exempt-namespaces", "expression": expression})
    ex = config.exemptions
    if ex.users or ex.groups:
        out.append({"name": "exempt-identities", "expression": f"!({exempt_identity(config)})"})
    spec = f"({WORKFLOW_SPEC})"
    out.append(
        {
            "name": "spec-is-an-object",
            "expression": f"has(object.spec) && type(object.spec) == map && type({spec}) == map",
        }
    )
    out.append(
        {
            "name": "no-workflow-template-ref",
            "expression": f"request.resource.resource in {cel.strings(TEMPLATES)} || "
            f"!('workflowTemplateRef' in {spec}) || {spec}.workflowTemplateRef == null",
        }
    )
    return out


def variables() -> list[dict[str, str]]:
    """The spec the baseline fills, its JSON pointer, its securityContext, and its containers
    with where they sit."""
    templates = (
        "'templates' in variables.spec && type(variables.spec.templates) == list ? "
        "variables.spec.templates : []"
    )
    pod = "'securityContext' in variables.spec ? variables.spec.securityContext : null"
    return [
        {"name": "spec", "expression": WORKFLOW_SPEC},
        {
            "name": "pointer",
            "expression": "request.resource.resource == 'cronworkflows' ? "
            "'/spec/workflowSpec' : '/spec'",
        },
        {"name": "podSecurityContext", "expression": pod},
        {"name": "podSecurityMap", "expression": _as_map("variables.podSecurityContext")},
        {"name": "templates", "expression": templates},
        {
            "name": "ownSecurityContext",
            "expression": "variables.templates.filter(t, type(t) == map && 'name' in t && "
            "'securityContext' in t && t.securityContext != null).map(t, t.name)",
        },
        {"name": "placed", "expression": PLACED},
        {"name": "containers", "expression": CONTAINERS},
    ]


# [pointer, template, whether it has a pod securityContext of its own] of every template.
PLACED: Final = (
    "lists.range(size(variables.templates)).filter(i, type(variables.templates[i]) == map)"
    ".map(i, [dyn(variables.pointer + '/templates/' + string(i)), dyn(variables.templates[i]), "
    "dyn('name' in variables.templates[i] && "
    "variables.templates[i].name in variables.ownSecurityContext)])"
)
SET: Final = "x[1].containerSet"
# Every container a template can start, as objects.containers() lists them: [pointer, the
# container, whether its template has a pod securityContext of its own (conflicts.py)], then
# its securityContext as sent and as a map ({} when it is not one).
CONTAINERS: Final = (
    "variables.placed.map(x, "
    "['container', 'script'].filter(f, f in x[1] && type(x[1][f]) == map)"
    ".map(f, [dyn(x[0] + '/' + f), x[1][f], x[2]]) + "
    f"{cel.strings(CONTAINER_LISTS)}.filter(f, f in x[1] && type(x[1][f]) == list).map(f, "
    "lists.range(size(x[1][f])).filter(j, type(x[1][f][j]) == map).map(j, "
    "[dyn(x[0] + '/' + f + '/' + string(j)), x[1][f][j], x[2]])).flatten() + "
    f"('containerSet' in x[1] && type({SET}) == map && 'containers' in {SET} "
    f"&& type({SET}.containers) == list ? "
    f"lists.range(size({SET}.containers)).filter(j, type({SET}.containers[j]) == map)"
    f".map(j, [dyn(x[0] + '/containerSet/containers/' + string(j)), {SET}.containers[j], "
    "x[2]]) "
    ": [])).flatten()"
    ".map(c, [c[0], c[1], c[2], dyn('securityContext' in c[1] ? c[1].securityContext : null), "
    "dyn('securityContext' in c[1] && type(c[1].securityContext) == map ? "
    "c[1].securityContext : {})])"
)


def patch(config: Config) -> str:
    """The JSONPatch expression: the pod-level baseline, then each container's."""
    policy = config.security_context
    parts = []
    if policy.pod:
        skip = {"runAsNonRoot": _pod_root(policy.pod, policy.container)}
        pointer = "variables.pointer + '/securityContext'"
        parts.append(fill("variables.podSecurityContext", pointer, policy.pod, skip))
    if policy.container:
        skips = _skips(policy.container, "x[4]")
        ops = fill("x[3]", "x[0] + '/securityContext'", policy.container, skips)
        parts.append(f"variables.containers.map(x, {ops}).flatten()")
    return " + ".join(parts)


def _as_map(value: str) -> str:
    return f"(type({value}) == map ? {value} : {{}})"


def _field(sc: str, key: str) -> str:
    """`sc[key]`, null where absent."""
    return f"({cel.quote(key)} in {sc} ? {sc}[{cel.quote(key)}] : null)"


def _first(*values: str) -> str:
    """The first of the CEL values that is not null (conflicts._first)."""
    out = values[-1]
    for value in reversed(values[:-1]):
        out = f"({value} != null ? {value} : {out})"
    return out


def _skips(baseline: Mapping[str, Any], s: str) -> dict[str, str]:
    """When each container field is left out (conflicts._container_conflicts); `s` is the
    container's securityContext as a map."""
    out = {}
    if baseline.get("allowPrivilegeEscalation") is False:
        caps = f"{s}.capabilities"
        out["allowPrivilegeEscalation"] = (
            f"{_field(s, 'privileged')} == true || ('capabilities' in {s} && "
            f"type({caps}) == map && 'add' in {caps} && type({caps}.add) == list && "
            f"'CAP_SYS_ADMIN' in {caps}.add)"
        )
    if baseline.get("runAsNonRoot") is True:
        user = _first(_field(s, "runAsUser"), literal(baseline.get("runAsUser")))
        out["runAsNonRoot"] = f"{user} == 0"
    return out


def _pod_root(pod: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """When the pod's runAsNonRoot is left out (conflicts._pod_conflicts): a container of a
    template without its own pod securityContext that runs as root and says nothing of it."""
    if pod.get("runAsNonRoot") is not True:
        return "false"
    pod_user = _first(
        _field("variables.podSecurityMap", "runAsUser"), literal(pod.get("runAsUser"))
    )
    user = _first(_field("x[4]", "runAsUser"), literal(container.get("runAsUser")), pod_user)
    return (
        f"variables.containers.exists(x, !x[2] && {_field('x[4]', 'runAsNonRoot')} == null "
        f"&& {user} == 0)"
    )


def fill(sc: str, pointer: str, baseline: Mapping[str, Any], skip: Mapping[str, str]) -> str:
    """JSONPatch operations filling `baseline` into the value `sc` at `pointer` (CEL string):
    the whole baseline where `sc` is not a map, else each field it leaves unset (mutate's
    fill_missing); a field whose `skip` condition holds is left out."""
    entries = ", ".join(
        f"?{cel.quote(k)}: ({skip[k]}) ? optional.none() : optional.of(dyn({literal(v)}))"
        if k in skip
        else f"{cel.quote(k)}: dyn({literal(v)})"
        for k, v in baseline.items()
    )
    whole = f"[JSONPatch{{op: 'add', path: {pointer}, value: {{{entries}}}}}]"
    return f"(type({sc}) == map ? {_fields(sc, pointer, baseline, skip)} : {whole})"


def _fields(sc: str, pointer: str, baseline: Mapping[str, Any], skip: Mapping[str, str]) -> str:
    """Operations for each field of `baseline` the map `sc` leaves unset, nested maps by key."""
    parts = []
    for key, value in baseline.items():
        q, at = cel.quote(key), f"{pointer} + {cel.quote('/' + _escape(key))}"
        add = f"[JSONPatch{{op: 'add', path: {at}, value: {literal(value)}}}]"
        if key in skip:
            add = f"(({skip[key]}) ? [] : {add})"
        nested = "[]"
        if isinstance(value, Mapping) and value:
            inner = f"{sc}[{q}]"
            nested = f"(type({inner}) == map ? {_fields(inner, at, value, {})} : [])"
        parts.append(f"(!({q} in {sc}) || {sc}[{q}] == null ? {add} : {nested})")
    return " + ".join(parts) or "[]"


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def literal(value: Any) -> str:
    """A JSON value as a CEL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return cel.quote(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{cel.quote(k)}: dyn({literal(v)})" for k, v in value.items()) + "}"
    return "[" + ", ".join(f"dyn({literal(v)})" for v in value) + "]"


def webhook_condition(config: Config) -> dict[str, str] | None:
    """The mutating webhook's matchCondition once this policy is installed: every request but
    those the policy mutates whole (None: it exports nothing, and the webhook sees them all)."""
    if why_not(config):
        return None
    decided = f"request.resource.resource in {cel.strings(TEMPLATES)}"
    if not config.workflow_defaults:
        spec = f"({WORKFLOW_SPEC})"
        no_ref = f"(!('workflowTemplateRef' in {spec}) || {spec}.workflowTemplateRef == null)"
        workflows = (
            "(request.resource.resource == 'workflows' || "
            "request.resource.resource == 'cronworkflows')"
        )
        decided = f"({decided} || ({workflows} && type({spec}) == map && {no_ref}))"
    whole = (
        "(!has(request.subResource) || request.subResource == '') && "
        "has(object.spec) && type(object.spec) == map && "
        "(request.operation == 'CREATE' || (request.operation == 'UPDATE' && "
        f"request.resource.resource == 'cronworkflows')) && {decided}"
    )
    return {"name": "not-mutated-in-the-api-server", "expression": f"!({whole})"}
