"""The policy as a ValidatingAdmissionPolicy and its binding: Workflow and CronWorkflow CREATEs
decided inside the API server, in CEL, where no lookup and no join is needed. Pure.

`policy_objects(config)` builds both objects from the same Config the webhook serves; RULES says,
for every rule the webhook can name, whether CEL decides it here or why it needs the webhook.
Messages are the webhook's own first line, `[rule]` prefix included (the API server prefixes
`ValidatingAdmissionPolicy '<name>' with binding '<name>' denied request: `).
"""

from __future__ import annotations

from typing import Any, Final

from admission.core import cel
from admission.core.config import Config
from admission.core.merge import WORKFLOW_SPEC_FIELDS
from admission.core.merge.overrides import ARTIFACT_GC_SENSITIVE
from admission.core.policy import spelling, strict
from admission.core.policy.context import INSTANCE_ID_LABEL
from admission.core.policy.overrides import json_path
from admission.core.policy.rules import Rule
from admission.core.vapindex import library_plain, library_validations, library_variables

API_VERSION: Final = "admissionregistration.k8s.io/v1"
NAME: Final = "argo-admission"
ACTIONS: Final = {"enforce": ["Deny"], "warn": ["Warn"], "audit": ["Audit"]}
# What a CREATE's status may carry that only the webhook can judge: storedTemplates rendered by
# Argo's client (a join), a memoized resubmit's nodes and condition (a lookup of the origin).
WEBHOOK_STATUS: Final = ("storedTemplates", "nodes", "conditions")

# Every rule the webhook can name: "cel" where this policy decides it for Workflow and
# CronWorkflow CREATEs, else why only the webhook can (tests/unit/test_vap.py keeps it whole).
RULES: Final[dict[Rule, str]] = {
    "strict": "cel",
    "overrides": "cel",
    "spelling": "cel",
    "instance-id": "cel",
    "status": "cel at CREATE (but storedTemplates, and a resubmit's nodes and conditions: "
    "the webhook); on UPDATE the webhook compares with the stored object, field by field",
    "template-ref": "cel with the library index (paramRef); else a lookup",
    "template-library": "cel with the library index (paramRef); else a lookup",
    "entrypoint": "cel with the library index (paramRef); else a lookup",
    "secure": "joins the Workflow with its template as Argo does (merge/), on UPDATE",
    "security-context": "walks inline templates (Workflows without a ref, templates)",
    "restricted": "walks inline templates (Workflows without a ref, templates)",
    "library-author": "templates only: who may change the library",
    "well-formed": "templates, and a spec that is not an object (a 400, not a denial)",
    "merge": "joins specs as Argo does",
    "task-result": "looks up the Workflow and its node (task results)",
    "task-set": "looks up the Workflow and its node (task sets)",
    "template-lookup": "a failed lookup",
    "workflow-lookup": "a failed lookup",
    "request": "a malformed request (a 400)",
    "resubmit": "compares the spec with the original Workflow's (a lookup of the original)",
    "legacy": "an UPDATE of a Workflow older than the policy (compared with the stored object)",
    "mutate": "/mutate's own warnings (what it could not fill in); it refuses nothing",
}
# Matched by `route` under these resource names; subresources are not (as the webhook's skip).
RESOURCES: Final = ("workflows", "cronworkflows")
# The label the API server sets on every namespace to its name.
NAMESPACE_LABEL: Final = "kubernetes.io/metadata.name"


def policy_objects(
    config: Config, *, name: str = NAME, library: tuple[str, str] | None = None
) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding; `library` = (namespace, name) of the
    ConfigMap the server keeps (admission/core/vapindex.py), read through paramRef.

    Shaped by what the API server spends per request (measured on a 2-CPU machine): it
    prepares an activation (the object, the request and the params converted) for a policy's
    matchConditions, another for its validations and another for their messageExpressions,
    and runs each expression and each variable read as a program with its own cost tracker.
    So the one matchCondition is `not-plain`: the ref Workflow users and Argo's controller
    send passes every check at a glance (plain_ref) and leaves the policy there, before any
    validation is prepared. The rest meets one validation: exempt namespaces are the
    matchConstraints' namespaceSelector, and exempt identities a branch of the validation,
    where their Workflows meet the library alone (with an index), as the webhook checks them
    (the cron controller's Workflows must not run a template taken out of the library since).
    """
    with_library = library is not None and config.strict
    plain = plain_ref(config, library=with_library)
    found = [
        *variables(config, library=with_library),
        first_problem(rules(config, library=with_library)),
        {"name": "plain", "expression": plain},
    ]
    ex = config.exemptions
    exempt = exempt_identity(config) if ex.users or ex.groups else None
    if exempt and with_library:
        found.append(first_problem(library_validations(), name="libraryProblem"))
    spec: dict[str, Any] = {**_matching(config)}
    if plain != "false":
        spec["matchConditions"] = [{"name": "not-plain", "expression": f"!({plain})"}]
    spec["variables"] = found
    spec["validations"] = [check(decided(), exempt=exempt, library=with_library)]
    return _pair(name, spec, config, library if with_library else None)


def _matching(config: Config) -> dict[str, Any]:
    rule = {
        "apiGroups": ["argoproj.io"],
        "apiVersions": ["*"],
        "operations": ["CREATE"],
        "resources": list(RESOURCES),
    }
    constraints: dict[str, Any] = {"resourceRules": [rule]}
    namespaces = sorted(config.exemptions.namespaces)
    if namespaces:  # the name label the API server sets on every namespace
        constraints["namespaceSelector"] = {
            "matchExpressions": [
                {"key": NAMESPACE_LABEL, "operator": "NotIn", "values": namespaces}
            ]
        }
    return {"failurePolicy": "Fail", "matchConstraints": constraints}


def _pair(
    name: str, spec: dict[str, Any], config: Config, library: tuple[str, str] | None
) -> list[dict[str, Any]]:
    binding: dict[str, Any] = {"policyName": name, "validationActions": ACTIONS[config.mode]}
    if library is not None:
        spec["paramKind"] = {"apiVersion": "v1", "kind": "ConfigMap"}
        binding["paramRef"] = {
            "namespace": library[0],
            "name": library[1],
            "parameterNotFoundAction": "Deny",
        }
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": spec,
        },
        {
            "apiVersion": API_VERSION,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": binding,
        },
    ]


def exempt_identity(config: Config) -> str:
    """Whether the requester is an exempt user or in an exempt group."""
    ex = config.exemptions
    user = f"request.userInfo.username in {cel.strings(sorted(ex.users))}"
    group = (
        "(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in "
        f"{cel.strings(sorted(ex.groups))}))"
    )
    return " || ".join(([user] if ex.users else []) + ([group] if ex.groups else [])) or "false"


def decided() -> str:
    """What the policy decides, of what it matches: a spec that is an object (else the
    webhook's 400), and no status only the webhook can judge.

    Part of the validation, not a matchCondition (see policy_objects).
    """
    return f"({WELL_FORMED}) && !({webhook_status()})"


WELL_FORMED: Final = (
    "has(object.spec) && type(object.spec) == map && (request.kind.kind != 'CronWorkflow' || "
    "(has(object.spec.workflowSpec) && type(object.spec.workflowSpec) == map))"
)


def webhook_status() -> str:
    """A Workflow CREATE whose status carries what only the webhook can judge.

    Shallow on purpose: a value the webhook would find empty deeper down is still sent there.
    """
    fields = " || ".join(
        f"(has(object.status.{f}) && !{cel.blank(f'object.status.{f}')})" for f in WEBHOOK_STATUS
    )
    return (
        "request.kind.kind == 'Workflow' && has(object.status) && "
        f"type(object.status) == map && ({fields})"
    )


def variables(config: Config, *, library: bool) -> list[dict[str, str]]:
    """The Workflow spec the rules read (a CronWorkflow's workflowSpec) and where it sits."""
    own = [
        {"name": "cron", "expression": "request.kind.kind == 'CronWorkflow'"},
        {"name": "where", "expression": "variables.cron ? 'spec.workflowSpec' : 'spec'"},
        {
            "name": "spec",
            "expression": "variables.cron ? object.spec.workflowSpec : object.spec",
        },
        {
            "name": "ref",
            "expression": "has(variables.spec.workflowTemplateRef) ? "
            "variables.spec.workflowTemplateRef : null",
        },
        {
            "name": "status",
            "expression": "has(object.status) && type(object.status) == map ? object.status : {}",
        },
        {
            "name": "labels",
            "expression": "has(object.metadata.labels) ? object.metadata.labels : {}",
        },
        {
            "name": "cronLabels",
            "expression": "variables.cron && has(object.spec.workflowMetadata) && "
            "type(object.spec.workflowMetadata) == map && "
            "has(object.spec.workflowMetadata.labels) && "
            "type(object.spec.workflowMetadata.labels) == map ? "
            "object.spec.workflowMetadata.labels : {}",
        },
    ]
    own += [*cel.constants(), *spelling_variables(), *overrides_variables(config)]
    own.append(
        {
            "name": "written",
            "expression": f"variables.status.filter(s, {cel.kept('s', 'variables.status[s]')})",
        }
    )
    return [*own, *library_variables()] if library else own


def rules(config: Config, *, library: bool) -> list[dict[str, str]]:
    """The rules in the webhook's order, so the first refusal is the webhook's first line."""
    found = [*spelling_rules(), *instance_id_rules(config)]
    if config.strict:
        found += strict_rules(config)
        if library:
            found += library_validations()
    return found + status_rules()


def first_problem(checks: list[dict[str, str]], name: str = "problem") -> dict[str, str]:
    """One variable for all the checks: the first one's line that fails, "" when none does.

    Checked in order, each only while the ones before pass, like the webhook's first line; one
    validation then reads it. The API server evaluates each validation as a program of its
    own (a cost tracker, an activation): one program instead of thirty halves its time here.
    """
    chain = "''"
    for check in reversed(checks):
        chain = f"!({check['expression']}) ? ({check['messageExpression']}) : {chain}"
    return {"name": name, "expression": chain}


def check(decides: str, *, exempt: str | None = None, library: bool = False) -> dict[str, str]:
    """The policy's one validation: the chain of checks, of what the policy `decides`; for the
    `exempt` identities, the library's checks alone (with an index) or none."""
    skip = f"!({decides})"
    expression = f"{skip} || variables.problem == ''"
    message = f"{skip} ? '' : variables.problem"
    if exempt is not None:
        theirs, said = "true", "''"
        if library:
            mine = f"request.kind.kind != 'Workflow' || !({WELL_FORMED}) || ({exempt_plain()})"
            theirs = f"{mine} || variables.libraryProblem == ''"
            said = f"({mine}) ? '' : variables.libraryProblem"
        expression = f"({exempt}) ? ({theirs}) : ({expression})"
        message = f"({exempt}) ? ({said}) : ({message})"
    return {
        "expression": expression,
        "messageExpression": message,
        "message": "refused by the argo-admission policy",
        "reason": "Forbidden",
    }


def _check(expression: str, message: str, fallback: str) -> dict[str, str]:
    return {"expression": expression, "messageExpression": message, "message": fallback}


# (variable, document, known keys, where as CEL, when it applies): spelling.check_object, a
# CronWorkflow's own keys, then spelling.check_workflow_spec, in the webhook's order.
SPELLING: Final = (
    ("spellObject", "object", spelling.OBJECT_FIELDS, "", "true"),
    (
        "spellStatus",
        "object.status",
        spelling.STATUS_FIELDS,
        "'status'",
        "!variables.cron && has(object.status)",
    ),
    ("spellCron", "object.spec", spelling.CRON_FIELDS, "'spec'", "variables.cron"),
    ("spellSpec", "variables.spec", tuple(WORKFLOW_SPEC_FIELDS), "variables.where", "true"),
    (
        "spellRef",
        "variables.spec.workflowTemplateRef",
        spelling.REF_FIELDS,
        "variables.where + '.workflowTemplateRef'",
        "has(variables.spec.workflowTemplateRef)",
    ),
    (
        "spellGC",
        "variables.spec.artifactGC",
        spelling.ARTIFACT_GC_FIELDS,
        "variables.where + '.artifactGC'",
        "has(variables.spec.artifactGC)",
    ),
)


def spelling_variables() -> list[dict[str, str]]:
    """Per document: its field names, their lower case, and the refused keys, sorted as the
    API server sends them (Go's JSON)."""
    out = []
    for name, doc, known, _, guard in SPELLING:
        out.append({"name": f"{name}Known", "expression": cel.true_map(known)})
        canonical = cel.string_map({k.lower(): k for k in known})
        out.append({"name": f"{name}Canonical", "expression": canonical})
        problems = cel.spelling_problems(
            doc, f"variables.{name}Known", f"variables.{name}Canonical"
        )
        out.append({"name": name, "expression": f"({guard}) ? {problems} : []"})
    return out


def spelling_rules() -> list[dict[str, str]]:
    """One check per document; the message is the webhook's for the first refused key."""
    return [
        _check(
            f"size(variables.{name}) == 0",
            cel.spelling_message(
                f"variables.{name}Known",
                f"variables.{name}Canonical",
                where,
                f"variables.{name}",
                doc,
            ),
            "[spelling] a key is a case variant of a field Argo reads",
        )
        for name, doc, _, where, _ in SPELLING
    ]


def instance_id_rules(config: Config) -> list[dict[str, str]]:
    """exemptions.check_instance_id: the object's labels, a CronWorkflow's workflowMetadata's."""
    covered = sorted(config.controller_instance_ids)
    shown = ", ".join(repr(v) for v in covered)
    out = []
    for labels, where, applies in (
        ("variables.labels", "metadata.labels", "true"),
        ("variables.cronLabels", "spec.workflowMetadata.labels", "variables.cron"),
    ):
        value = f"({labels}[{cel.quote(INSTANCE_ID_LABEL)}])"
        present = f"{cel.quote(INSTANCE_ID_LABEL)} in {labels}"
        ids = cel.strings(covered)
        ok = f"!({applies}) || (!({present}) ? '' in {ids} : {value} in {ids})"
        text = (
            f"'[instance-id] {where} label {INSTANCE_ID_LABEL}=' + "
            f"({present} ? {cel.go_repr(value)} : \"''\") + "
            "' routes the Workflow to a controller instance this policy does not cover: "
            f"covered instance ids: ' + {cel.quote(shown)} + '; remove the label or use a "
            "covered id'"
        )
        out.append(_check(ok, text, "[instance-id] the Workflow names another controller"))
    return out


def strict_rules(config: Config) -> list[dict[str, str]]:
    """strict.check, then overrides.check (Argo's allowlist beside a ref)."""
    missing = (
        f"'[strict] {strict.STRICT_MESSAGE}: set ' + variables.where + '.workflowTemplateRef to "
        "a WorkflowTemplate or ClusterWorkflowTemplate of the library instead of inline "
        f"templates (templateReferencing: {config.template_referencing}); e.g. `argo submit "
        "--from workflowtemplate/NAME`'"
    )
    named = (
        "variables.ref == null || (type(variables.ref) == map && has(variables.ref.name) && "
        "type(variables.ref.name) == string && variables.ref.name != '')"
    )
    scope = (
        "variables.ref == null || type(variables.ref) != map || "
        "!has(variables.ref.clusterScope) || type(variables.ref.clusterScope) == bool"
    )
    return [
        _check("variables.ref != null", missing, "[strict] " + strict.STRICT_MESSAGE),
        _check(
            named,
            "'[strict] ' + variables.where + '.workflowTemplateRef.name must name a template: "
            "set workflowTemplateRef.name (and clusterScope: true for a "
            "ClusterWorkflowTemplate)'",
            "[strict] workflowTemplateRef.name must name a template",
        ),
        _check(
            f"!({named}) || {scope}",
            "'[strict] ' + variables.where + '.workflowTemplateRef.clusterScope must be true or "
            f"false: got ' + {cel.go_repr('variables.ref.clusterScope')}",
            "[strict] workflowTemplateRef.clusterScope must be true or false",
        ),
        overrides_rule(config),
    ]


def plain_ref(config: Config, *, library: bool) -> str:
    """A Workflow CREATE in the shape kubectl, Argo Events' sensors and the cron controller
    send, which every check passes at a glance: a well-formed ref, only fields of the allowlist
    spelled exactly (artifactGC and entrypoint aside: the chain checks those), no status, a
    covered instance id, and with the library index a `ready` entry. The policy's
    matchCondition: such a Workflow never reaches the validation, whose chain of checks (maps
    of field names built, keys lowered and sorted) runs only for the rest.

    Written for the API server's cost, which a 2-CPU benchmark showed is per program, per
    list or map built and per comprehension: presence tests and sizes only (the spec's keys
    are counted, not iterated), no variable read.

    It may only ever admit what the chain admits: each part implies one check of the chain
    (tests/e2e/test_vap_e2e.py traces the two together on the policy suites).
    """
    if not config.strict:
        return "false"
    fields = sorted(
        (config.override_allowlist & WORKFLOW_SPEC_FIELDS.keys())
        - {"artifactGC", "entrypoint", "workflowTemplateRef"}
    )
    counted = " + ".join(f"(has(object.spec.{f}) ? 1 : 0)" for f in fields)
    ids = sorted(config.controller_instance_ids)
    label = cel.quote(INSTANCE_ID_LABEL)
    labels = "object.metadata.labels"
    value = f"{labels}[{label}]"
    routed = (
        f"{value} == {cel.quote(ids[0])}" if len(ids) == 1 else f"{value} in {cel.strings(ids)}"
    )
    instance = (
        f"!has({labels}) || !({label} in {labels}) || {routed}"
        if "" in ids
        else f"has({labels}) && {label} in {labels} && {routed}"
    )
    parts = [
        "request.kind.kind == 'Workflow'",
        # apiVersion, kind, metadata and spec, nothing else (no status)
        "size(object) == 4 && has(object.apiVersion) && has(object.kind) && "
        "has(object.metadata) && has(object.spec) && type(object.spec) == map",
        *_plain_ref_parts(),
        f"size(object.spec) == 1 + {counted}",
        f"({instance})",
    ]
    if library:
        parts.append(f"({library_plain(PLAIN_REF)})")
    return " && ".join(parts)


PLAIN_REF: Final = "object.spec.workflowTemplateRef"


def _plain_ref_parts() -> list[str]:
    """A well-formed ref: a name, and a clusterScope that is a bool or absent, nothing else."""
    ref = PLAIN_REF
    return [
        f"has({ref}) && type({ref}) == map && has({ref}.name) && type({ref}.name) == string "
        f"&& {ref}.name != ''",
        f"(has({ref}.clusterScope) ? type({ref}.clusterScope) == bool && size({ref}) == 2 : "
        f"size({ref}) == 1)",
    ]


def exempt_plain() -> str:
    """The plain path of the exempt identities' policy, which checks the library alone."""
    return " && ".join(
        ["type(object.spec) == map", *_plain_ref_parts(), f"({library_plain(PLAIN_REF)})"]
    )


def overrides_variables(config: Config) -> list[dict[str, str]]:
    """The refused fields (json name -> [Go name, kind]) and those the spec sets, sorted by Go
    name as Argo lists them, each `GoName path`."""
    allowed = config.override_allowlist
    refused = {
        name: [go, kind]
        for name, (go, kind) in WORKFLOW_SPEC_FIELDS.items()
        if name not in allowed and kind != "unknown"
    }
    table = "{" + ", ".join(f"{cel.quote(k)}: {cel.strings(v)}" for k, v in refused.items()) + "}"
    s, r = "variables.spec", "variables.refusedFields"
    v = f"{s}[k]"
    is_set = (
        f"k in {r} && {v} != null && ({r}[k][1] != 'string' || {v} != '') && "
        f"({r}[k][1] != 'struct' || type({v}) != map || {v}.exists(m, {v}[m] != null))"
    )
    gc = f"{s}.artifactGC"
    nested = [[go, json_path(go).split(".", 1)[1]] for _, go in ARTIFACT_GC_SENSITIVE]
    nested_set = (
        f"(has({gc}) && type({gc}) == map ? "
        f"[{', '.join(cel.strings(n) for n in nested)}].filter(n, n[1] in {gc} && "
        f"{gc}[n[1]] != null && {gc}[n[1]] != '').map(n, n[0] + ' artifactGC.' + n[1]) : [])"
    )
    found = f"({s}.filter(k, {is_set}).map(k, {r}[k][0] + ' ' + k) + {nested_set}).sort()"
    return [
        {"name": "refusedFields", "expression": table},
        {"name": "refused", "expression": found},
    ]


def overrides_rule(config: Config) -> dict[str, str]:
    """overrides.check: the fields beside a ref Argo's ValidateUserOverrides refuses."""
    allowed = config.override_allowlist
    refused = "variables.refused"
    message = (
        f"'[overrides] fields [' + {refused}.map(f, f.split(' ')[0]).join(' ') + '] are not "
        "permitted when using workflowTemplateRef with templateReferencing restriction: remove "
        f"' + {refused}.map(f, variables.where + '.' + f.split(' ')[1]).join(', ') + ': beside "
        f"workflowTemplateRef a Workflow may set only {', '.join(sorted(allowed))}; put the "
        "rest in the template'"
    )
    return _check(
        f"variables.ref == null || type(variables.ref) != map || size({refused}) == 0",
        message,
        "[overrides] fields beside workflowTemplateRef are not permitted",
    )


def status_rules() -> list[dict[str, str]]:
    """status.check_create (Workflows) and status.check_cron at CREATE (CronWorkflows)."""
    written = "variables.written"
    others = f"{written}.filter(s, !(s in {cel.strings(WEBHOOK_STATUS)}))"
    workflow = _check(
        f"variables.cron || size({others}) == 0",
        "'[status] status is written by Argo\\'s workflow-controller, not by users: remove ' + "
        f"{others}.sort().map(s, 'status.' + s).join(', ') + ' from the new Workflow'",
        "[status] status is written by Argo's workflow-controller, not by users",
    )
    # a CronWorkflow's status is read as Argo's Go types read it: zero values are unset
    listed = f"variables.status.filter(s, !{cel.zero('variables.status[s]')})"
    cron = _check(
        f"!variables.cron || size({listed}) == 0",
        "'[status] a CronWorkflow\\'s status is written by Argo\\'s cron controller, not by "
        f"users: leave ' + {listed}.sort().map(s, 'status.' + s).join(', ') + ' as the "
        "controller wrote it (it terminates the Workflows listed in status.active)'",
        "[status] a CronWorkflow's status is written by Argo's cron controller, not by users",
    )
    return [workflow, cron]


def webhook_condition(config: Config, *, library: bool) -> dict[str, str] | None:
    """The validating webhooks' matchCondition once this policy is installed: every request
    but the Workflow and CronWorkflow CREATEs the policy decides whole (None: it decides none
    whole, e.g. without Strict or without the library index, and the webhook sees them all)."""
    if not (config.strict and library):
        return None
    decided = (
        "request.operation == 'CREATE' && "
        "(!has(request.subResource) || request.subResource == '') && "
        f"request.resource.resource in {cel.strings(RESOURCES)}"
    )
    return {
        "name": "not-decided-in-the-api-server",
        "expression": f"!({decided}) || !({WELL_FORMED}) || ({webhook_status()})",
    }
