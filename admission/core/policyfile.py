"""Reading a policy: our policy file, or Argo's workflow-controller ConfigMap, into a Config.

Accepts our own policy format (README "Policy file") and Argo's workflow-controller ConfigMap
(`data.workflowRestrictions`, `data.workflowDefaults` as YAML strings, or the legacy
`data.config`), read as YAML 1.1 like the controller reads it. Every error is collected with
its dotted key path and reported at once: a bad file fails at start-up, never mid-request.
Stricter than YAML: a key given twice is refused with both lines (also inside the ConfigMap's
YAML strings), and the securityContext baseline must be Kubernetes' own field names and values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import yaml

from admission.core import configmaps, securityfields, yamldoc
from admission.core.config import (
    FAILURE_POLICIES,
    MODES,
    REF_DEFAULTABLE,
    SECURITY_CONTEXT_MODES,
    SELECTOR_OPERATORS,
    TASK_RESULT_WRITERS,
    TEMPLATE_REFERENCING,
    Config,
    ConfigError,
    DefaultsError,
    Exemptions,
    Identities,
    LabelSelector,
    NoPolicyError,
    SecurityContextPolicy,
    TemplateLibrary,
)
from admission.core.merge import DEFAULT_OVERRIDE_ALLOWLIST, WORKFLOW_SPEC_FIELDS

POLICY_KEYS: Final = {
    "workflowRestrictions",
    "workflowDefaults",
    "securityContext",
    "mode",
    "exemptions",
    "templateLibrary",
    "overrideAllowlist",
    "controllerInstanceIDs",
    "mutation",
    "lookupFailurePolicy",
    "taskResultWriters",
}


def parse_config(text: str, *, source: str = "<string>", keyless: bool = False) -> Config:
    """Validate policy YAML text; raises ConfigError listing every problem.

    A file or ConfigMap with none of a policy's keys (an empty file, a ConfigMap of something
    else) is refused (NoPolicyError): read as "no policy" it would enforce nothing, silently.
    `keyless` accepts it: Argo's own ConfigMap without the keys means no restriction to Argo.
    """
    doc, errors = _read_yaml(text, source)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(source, ["(top): must be a mapping"])
    if doc.get("kind") == "ConfigMap":
        chart = configmaps.chart_policy(doc, source)
        if chart is not None:
            return parse_config(chart, source=f"{source} (data.{configmaps.CHART_POLICY_KEY})")
        data = doc.get("data")
        doc = configmaps.argo_keys(doc, errors)
        if not doc and not errors and not keyless:
            raise NoPolicyError(source, [configmaps.no_policy_keys(data)])
    elif not set(doc) - ENVELOPE_KEYS and not errors and not keyless:
        raise NoPolicyError(source, [NO_POLICY])
    config = _build(doc, errors, source)
    if errors:
        raise ConfigError(source, errors)
    return config


def _read_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    """The document and its repeated keys as errors; ConfigError when it is not YAML."""
    try:
        doc, duplicates = yamldoc.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
    return doc, [duplicate.describe() for duplicate in duplicates]


def parse_workflow_defaults(text: str, *, source: str) -> dict[str, Any]:
    """The workflowDefaults a document gives: a policy file or controller ConfigMap with the
    key, or the fragment itself (metadata, spec). DefaultsError when it gives none."""
    doc, errors = _read_yaml(text, source)
    configmap = isinstance(doc, dict) and doc.get("kind") == "ConfigMap"
    policy = configmaps.argo_keys(doc, []) if configmap else doc
    if isinstance(policy, dict) and "workflowDefaults" in policy:
        return dict(parse_config(text, source=source).workflow_defaults)
    if configmap or not isinstance(doc, dict) or not doc or not set(doc) <= FRAGMENT_KEYS:
        raise DefaultsError(source, [NO_DEFAULTS])
    defaults = _defaults(_Reader(errors), doc)
    if errors:
        raise ConfigError(source, errors)
    return defaults


FRAGMENT_KEYS: Final = frozenset({"metadata", "spec", "apiVersion", "kind"})
NO_DEFAULTS: Final = (
    "no workflowDefaults (expected a policy file or a workflow-controller ConfigMap "
    "with workflowDefaults, or the fragment itself: metadata, spec)"
)


ENVELOPE_KEYS: Final = frozenset({"apiVersion", "kind", "metadata"})
NO_POLICY: Final = (
    "no policy in it (expected at least one of "
    + ", ".join(sorted(POLICY_KEYS))
    + "; or a ConfigMap: Argo's workflow-controller ConfigMap or the chart's policy ConfigMap)"
)


class _Reader:
    """Typed getters that record `dotted.path: reason` instead of raising."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors

    def mapping(self, doc: Any, path: str, allowed: Iterable[str] | None = None) -> dict[str, Any]:
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            self.errors.append(f"{path}: must be a mapping")
            return {}
        if allowed is not None:
            known = set(allowed)
            for key in doc:
                if key not in known:
                    meant = securityfields.did_you_mean(str(key), dict.fromkeys(known))
                    hint = f"did you mean {meant}? " if meant else ""
                    known_keys = ", ".join(sorted(known))
                    self.errors.append(
                        f"{_join(path, str(key))}: unknown key ({hint}known: {known_keys})"
                    )
        return doc

    def choice(self, value: Any, path: str, choices: Iterable[str], default: str) -> str:
        options = tuple(choices)
        if value is None:
            return default
        if value not in options:
            shown = ", ".join(repr(c) for c in options)
            self.errors.append(f"{path}: {value!r} is not one of {shown}")
            return default
        return str(value)

    def strings(self, value: Any, path: str) -> frozenset[str]:
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.errors.append(f"{path}: must be a list of strings")
            return frozenset()
        return frozenset(value)

    def boolean(self, value: Any, path: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.errors.append(f"{path}: must be true or false")
            return default
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _build(doc: Mapping[str, Any], errors: list[str], source: str) -> Config:
    read = _Reader(errors)
    doc = read.mapping(doc, "", POLICY_KEYS | ENVELOPE_KEYS)
    restrictions = read.mapping(
        doc.get("workflowRestrictions"), "workflowRestrictions", {"templateReferencing"}
    )
    referencing = read.choice(
        restrictions.get("templateReferencing"),
        "workflowRestrictions.templateReferencing",
        TEMPLATE_REFERENCING,
        "",
    )
    return Config(
        template_referencing=referencing,
        workflow_defaults=_defaults(read, doc.get("workflowDefaults")),
        security_context=_security_context(read, doc.get("securityContext")),
        mode=read.choice(doc.get("mode"), "mode", MODES, "enforce"),
        exemptions=_exemptions(read, doc.get("exemptions")),
        template_library=_library(read, doc.get("templateLibrary")),
        override_allowlist=_allowlist(read, doc.get("overrideAllowlist")),
        controller_instance_ids=_instance_ids(read, doc.get("controllerInstanceIDs")),
        ref_defaults=_ref_defaults(read, doc.get("mutation")),
        lookup_failure_policy=read.choice(
            doc.get("lookupFailurePolicy"), "lookupFailurePolicy", FAILURE_POLICIES, "Fail"
        ),
        task_result_writers=read.choice(
            doc.get("taskResultWriters"), "taskResultWriters", TASK_RESULT_WRITERS, "Pod"
        ),
        source=source,
    )


def _defaults(read: _Reader, value: Any) -> dict[str, Any]:
    defaults = read.mapping(value, "workflowDefaults", {"metadata", "spec", "apiVersion", "kind"})
    spec = read.mapping(defaults.get("spec"), "workflowDefaults.spec")
    for key in spec:
        if key not in WORKFLOW_SPEC_FIELDS:
            read.errors.append(f"workflowDefaults.spec.{key}: not a WorkflowSpec field")
    read.mapping(defaults.get("metadata"), "workflowDefaults.metadata")
    return dict(defaults)


def _security_context(read: _Reader, value: Any) -> SecurityContextPolicy:
    doc = read.mapping(value, "securityContext", {"mode", "pod", "container", "restricted"})
    return SecurityContextPolicy(
        mode=read.choice(
            doc.get("mode"),
            "securityContext.mode",
            SECURITY_CONTEXT_MODES,
            "mutate" if (doc.get("pod") or doc.get("container")) else "off",
        ),
        pod=_baseline(read, doc.get("pod"), securityfields.POD_SECURITY_CONTEXT, "pod"),
        container=_baseline(
            read, doc.get("container"), securityfields.SECURITY_CONTEXT, "container"
        ),
        restricted=read.boolean(doc.get("restricted"), "securityContext.restricted", False),
    )


def _baseline(read: _Reader, value: Any, kind: securityfields.Struct, level: str) -> dict[str, Any]:
    """A baseline of Kubernetes' own fields and values (what values.schema.json refuses)."""
    if value is None:
        return {}
    errors = securityfields.check(value, kind, f"securityContext.{level}")
    read.errors.extend(errors)
    return value if isinstance(value, dict) and not errors else {}


def _identities(read: _Reader, doc: Mapping[str, Any], path: str) -> Identities:
    users = set(read.strings(doc.get("users"), f"{path}.users"))
    for account in read.strings(doc.get("serviceAccounts"), f"{path}.serviceAccounts"):
        namespace, sep, name = account.partition("/")
        if not sep or not namespace or not name or "/" in name:
            read.errors.append(f"{path}.serviceAccounts: {account!r} must be NAMESPACE/NAME")
            continue
        users.add(f"system:serviceaccount:{namespace}:{name}")
    return Identities(frozenset(users), read.strings(doc.get("groups"), f"{path}.groups"))


def _exemptions(read: _Reader, value: Any) -> Exemptions:
    doc = read.mapping(value, "exemptions", {"namespaces", "users", "groups", "serviceAccounts"})
    who = _identities(read, doc, "exemptions")
    return Exemptions(
        namespaces=read.strings(doc.get("namespaces"), "exemptions.namespaces"),
        users=who.users,
        groups=who.groups,
    )


def _authors(read: _Reader, value: Any) -> Identities | None:
    if value is None:
        return None
    path = "templateLibrary.authors"
    doc = read.mapping(value, path, {"users", "groups", "serviceAccounts"})
    return _identities(read, doc, path)


def _library(read: _Reader, value: Any) -> TemplateLibrary:
    doc = read.mapping(
        value,
        "templateLibrary",
        {"namespaces", "selector", "clusterScopedOnly", "allowClusterTemplates", "authors"},
    )
    return TemplateLibrary(
        namespaces=read.strings(doc.get("namespaces"), "templateLibrary.namespaces"),
        selector=_selector(read, doc.get("selector"), "templateLibrary.selector"),
        cluster_scoped_only=read.boolean(
            doc.get("clusterScopedOnly"), "templateLibrary.clusterScopedOnly", False
        ),
        allow_cluster_templates=read.boolean(
            doc.get("allowClusterTemplates"), "templateLibrary.allowClusterTemplates", True
        ),
        authors=_authors(read, doc.get("authors")),
    )


def _selector(read: _Reader, value: Any, path: str) -> LabelSelector | None:
    if value is None:
        return None
    doc = read.mapping(value, path, {"matchLabels", "matchExpressions"})
    labels = read.mapping(doc.get("matchLabels"), f"{path}.matchLabels")
    if not all(isinstance(v, str) for v in labels.values()):
        read.errors.append(f"{path}.matchLabels: values must be strings")
    expressions = []
    raw = doc.get("matchExpressions") or []
    if not isinstance(raw, list):
        read.errors.append(f"{path}.matchExpressions: must be a list")
        raw = []
    for i, expr in enumerate(raw):
        where = f"{path}.matchExpressions[{i}]"
        item = read.mapping(expr, where, {"key", "operator", "values"})
        op = read.choice(item.get("operator"), f"{where}.operator", SELECTOR_OPERATORS, "Exists")
        if not isinstance(item.get("key"), str):
            read.errors.append(f"{where}.key: must be a string")
            continue
        values = read.strings(item.get("values"), f"{where}.values")
        if op in ("In", "NotIn") and not values:
            read.errors.append(f"{where}.values: required for operator {op}")
        expressions.append((item["key"], op, values))
    return LabelSelector(
        match_labels={str(k): str(v) for k, v in labels.items()},
        match_expressions=tuple(expressions),
    )


def _allowlist(read: _Reader, value: Any) -> frozenset[str]:
    extra = read.strings(value, "overrideAllowlist")
    for name in sorted(extra):
        if name not in WORKFLOW_SPEC_FIELDS:
            read.errors.append(f"overrideAllowlist: {name!r} is not a WorkflowSpec field name")
    return DEFAULT_OVERRIDE_ALLOWLIST | extra


def _instance_ids(read: _Reader, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset({""})
    return read.strings(value, "controllerInstanceIDs")


def _ref_defaults(read: _Reader, value: Any) -> tuple[str, ...]:
    doc = read.mapping(value, "mutation", {"refDefaults"})
    if "refDefaults" not in doc:
        return Config.ref_defaults
    fields = read.strings(doc.get("refDefaults"), "mutation.refDefaults")
    for name in sorted(fields):
        if name not in REF_DEFAULTABLE:
            read.errors.append(
                f"mutation.refDefaults: {name!r} cannot be set beside a ref "
                f"(allowed: {', '.join(REF_DEFAULTABLE)})"
            )
    return tuple(sorted(fields))
