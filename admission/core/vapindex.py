"""The library index: what the webhook's library rules would say of a ref to each template,
written into a ConfigMap the ValidatingAdmissionPolicy reads through paramRef. Pure.

One key per template: `wt.<namespace>.<name>` or `cwt.<name>` (and `cwtns.<namespace>.<name>`
for a ClusterWorkflowTemplate whose nested namespaced templateRefs resolve in each Workflow's
namespace). The value is four lines: `ok` (`ready` when its default entrypoint is one of its
templates), `outside` (not in the library: refused before the entrypoint) or `nested` (a
templateRef it leads to is refused: after the entrypoint); the
template's default entrypoint; its template names; the webhook's line for the refusal. A key
that is absent is a template that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from admission.core import cel
from admission.core.config import Config
from admission.core.objects import TemplateKey, metadata_of, spec_of, template_names, template_refs
from admission.core.policy import library
from admission.core.policy.context import CLUSTER_WORKFLOW_TEMPLATE, Context
from admission.core.policy.membership import outside_library
from admission.core.policy.source import CLUSTER, NAMESPACED, TemplateSource
from admission.core.review import Request

# Stands for the Workflow's namespace in a ClusterWorkflowTemplate's entry (CEL replaces it).
NAMESPACE_MARK: Final = "{namespace}"
OK, OUTSIDE, NESTED = "ok", "outside", "nested"
# `ok`, and the template's default entrypoint is one of its templates: a ref that names no
# entrypoint passes every library check (the policy's plain path reads only this prefix).
READY = "ready"


def key_of(key: TemplateKey) -> str:
    """The ConfigMap key of a template."""
    if key.kind == CLUSTER:
        return f"cwt.{key.name}"
    return f"wt.{key.namespace}.{key.name}"


def library_index(
    config: Config, templates: Iterable[Mapping[str, Any]], source: TemplateSource
) -> dict[str, str]:
    """The ConfigMap's data for every template in `templates` (found through `source`)."""
    found = [t for t in templates if _key(t) is not None]
    namespaces = sorted({k.namespace for k in map(_key, found) if k and k.kind == NAMESPACED})
    data: dict[str, str] = {}
    for template in found:
        key = _key(template)
        assert key is not None
        if key.kind == NAMESPACED:
            data[key_of(key)] = entry(config, key, template, source, key.namespace)
            continue
        data[key_of(key)] = entry(config, key, template, source, NAMESPACE_MARK)
        if any(k.kind == NAMESPACED for k in _nested(template)):
            for namespace in namespaces:
                data[f"cwtns.{namespace}.{key.name}"] = entry(
                    config, key, template, source, namespace
                )
    return data


def _key(template: Mapping[str, Any]) -> TemplateKey | None:
    meta = metadata_of(template)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return None
    if template.get("kind") == CLUSTER_WORKFLOW_TEMPLATE:
        return TemplateKey(CLUSTER, "", name)
    namespace = meta.get("namespace")
    return TemplateKey(NAMESPACED, namespace, name) if isinstance(namespace, str) else None


def _nested(template: Mapping[str, Any]) -> list[TemplateKey]:
    return list(template_refs(spec_of(template), ""))


def entry(
    config: Config,
    key: TemplateKey,
    template: Mapping[str, Any],
    source: TemplateSource,
    namespace: str,
) -> str:
    """The four lines for one template, as seen from a Workflow in `namespace`."""
    tmpl_spec, defaults = spec_of(template), spec_of(config.workflow_defaults)
    default = tmpl_spec.get("entrypoint") or defaults.get("entrypoint") or ""
    names = " ".join(sorted(template_names(tmpl_spec) | template_names(defaults)))
    problem = outside_library(config.template_library, key, template)
    if problem:
        message = f"[template-library] {key} is not in the template library: {problem}"
        return "\n".join((OUTSIDE, str(default), names, message))
    ctx = Context(_request(namespace), config, source, "Workflow", {}, None)
    library.check_nested_refs(ctx, key, template)
    found = [*ctx.findings.violations, *(v for _, v in ctx.findings.errors)]
    state, message = (NESTED, found[0].message()) if found else (OK, "")
    if state == OK and default and default in names.split(" "):
        state = READY
    return "\n".join((state, str(default), names, message))


def _request(namespace: str) -> Request:
    return Request(
        uid="",
        group="argoproj.io",
        version="v1alpha1",
        kind="Workflow",
        resource="workflows",
        sub_resource="",
        operation="CREATE",
        namespace=namespace,
        name="",
        username="",
    )


# --- the policy's side ------------------------------------------------------------------------

VALID_REF: Final = (
    "variables.ref != null && type(variables.ref) == map && has(variables.ref.name) && "
    "type(variables.ref.name) == string && variables.ref.name != ''"
)
CLUSTER_REF: Final = "(has(variables.ref.clusterScope) && variables.ref.clusterScope == true)"


def library_variables() -> list[dict[str, str]]:
    """The ref's key in the index, its entry's lines, and the template as the webhook names it."""
    ns = "request.namespace"
    mark = cel.quote(NAMESPACE_MARK)
    return [
        {
            "name": "libKey",
            "expression": f"!({VALID_REF}) ? '' : {CLUSTER_REF} ? ((has(params.data) && "
            f"('cwtns.' + {ns} + '.' + variables.ref.name) in params.data) ? "
            f"'cwtns.' + {ns} + '.' + variables.ref.name : 'cwt.' + variables.ref.name) : "
            f"'wt.' + {ns} + '.' + variables.ref.name",
        },
        {
            "name": "libEntry",
            "expression": "variables.libKey != '' && has(params.data) && variables.libKey in "
            f"params.data ? params.data[variables.libKey].replace({mark}, {ns}).split('\\n') "
            ": []",
        },
        {
            "name": "libShown",
            "expression": f"!({VALID_REF}) ? '' : {CLUSTER_REF} ? 'ClusterWorkflowTemplate ' + "
            f"variables.ref.name : 'WorkflowTemplate ' + {ns} + '/' + variables.ref.name",
        },
        {
            "name": "entrypoint",
            "expression": "has(variables.spec.entrypoint) && type(variables.spec.entrypoint) "
            "== string && variables.spec.entrypoint != '' ? variables.spec.entrypoint : "
            "size(variables.libEntry) == 4 ? variables.libEntry[1] : ''",
        },
        {
            "name": "templateNames",
            "expression": "size(variables.libEntry) == 4 && variables.libEntry[2] != '' ? "
            "variables.libEntry[2].split(' ') : []",
        },
    ]


def library_validations() -> list[dict[str, str]]:
    """library.check: the ref exists, is in the library, names an entrypoint, leads only into it."""
    known = "size(variables.libEntry) == 4"
    choose = "(size(variables.templateNames) > 0 ? variables.templateNames.join(', ') : '(none)')"
    return [
        {
            "expression": "variables.libKey == '' || " + known,
            "messageExpression": "'[template-ref] ' + variables.where + '.workflowTemplateRef "
            "names ' + variables.libShown + ', which does not exist: looked up ' + "
            f"variables.libShown + ' (clusterScope: ' + ({CLUSTER_REF} ? 'True' : 'False') + "
            "'); create it first or fix the name'",
            "message": "[template-ref] the workflowTemplateRef names no template",
        },
        {
            "expression": f"!({known}) || variables.libEntry[0] != '{OUTSIDE}'",
            "messageExpression": "variables.libEntry[3]",
            "message": "[template-library] the template is not in the template library",
        },
        {
            "expression": f"!({known}) || variables.libEntry[0] == '{OUTSIDE}' || "
            "variables.entrypoint != ''",
            "messageExpression": "'[entrypoint] no entrypoint: neither ' + variables.where + "
            "' nor ' + variables.libShown + ' sets one: set ' + variables.where + "
            f"'.entrypoint to one of: ' + {choose}",
            "message": "[entrypoint] no entrypoint",
        },
        {
            "expression": f"!({known}) || variables.libEntry[0] == '{OUTSIDE}' || "
            "variables.entrypoint == '' || variables.entrypoint in variables.templateNames",
            "messageExpression": "'[entrypoint] entrypoint \\'' + variables.entrypoint + "
            "'\\' is not a template of ' + variables.libShown + ': choose one of: ' + "
            f"{choose}",
            "message": "[entrypoint] the entrypoint is not a template of the referenced template",
        },
        {
            "expression": f"!({known}) || variables.libEntry[0] != '{NESTED}' || "
            "!(variables.entrypoint in variables.templateNames)",
            "messageExpression": "variables.libEntry[3]",
            "message": "[template-ref] a templateRef of the template leads out of the library",
        },
    ]


def library_plain(ref: str) -> str:
    """A ref the index admits at a glance: the Workflow names no entrypoint, and the entry of
    the template is `ready` (every library check passes).

    `ref` is a well-formed workflowTemplateRef (a map with a name). Written for the API
    server's cost: no variable read (each would be a program of its own, see vap.check), no
    list built, one lookup per key (`[?key].orValue`), the entry's prefix only.
    """
    ns, name = "request.namespace", f"{ref}.name"

    def entry(key: str) -> str:
        return f"params.data[?({key})]"

    shared = entry(f"'cwtns.' + {ns} + '.' + {name}")
    cluster_only = entry(f"'cwt.' + {name}")
    cluster = f"{shared}.orValue({cluster_only}.orValue(''))"
    namespaced = entry(f"'wt.' + {ns} + '.' + {name}")
    own = f"{namespaced}.orValue('')"
    chosen = f"(has({ref}.clusterScope) && {ref}.clusterScope == true ? {cluster} : {own})"
    return f"!has(object.spec.entrypoint) && has(params.data) && {chosen}.startsWith('{READY}\\n')"


def leaving(config: Config, request: Request) -> tuple[str, str | None] | None:
    """(key, new entry or None to drop it) when an admitted template write takes a library
    template out (a DELETE, or an UPDATE after which it is outside); None otherwise.

    The server marks the index before it admits such a write, so the policy never admits a
    ref to a template the cluster no longer holds in the library (no lag on the way out).
    """
    if request.kind not in (NAMESPACED, CLUSTER) or not config.strict:
        return None
    old = request.old_object if isinstance(request.old_object, dict) else None
    key = _key({**old, "kind": request.kind}) if old else None
    if key is None or outside_library(config.template_library, key, old or {}):
        return None  # it was not in the library: nothing to take out
    if request.operation == "DELETE":
        return key_of(key), None
    new = request.object if isinstance(request.object, dict) else None
    if request.operation != "UPDATE" or new is None:
        return None
    problem = outside_library(config.template_library, key, new)
    if not problem:
        return None
    tmpl_spec, defaults = spec_of(new), spec_of(config.workflow_defaults)
    default = tmpl_spec.get("entrypoint") or defaults.get("entrypoint") or ""
    names = " ".join(sorted(template_names(tmpl_spec) | template_names(defaults)))
    message = f"[template-library] {key} is not in the template library: {problem}"
    return key_of(key), "\n".join((OUTSIDE, str(default), names, message))
