"""The policy: typed and immutable, validated whole at load (admission/core/policyfile.py reads
it), never read from a file inside a request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from admission.core.merge import DEFAULT_OVERRIDE_ALLOWLIST

TEMPLATE_REFERENCING: Final = ("", "Strict", "Secure")
MODES: Final = ("enforce", "warn", "audit")
SECURITY_CONTEXT_MODES: Final = ("off", "mutate", "require")
FAILURE_POLICIES: Final = ("Fail", "Ignore")
# Who may write a step's WorkflowTaskResult: its node's pod (its bound token says which), or
# any pod or token of the executor's service account (weaker: another Workflow's pod of the
# same account can write it).
TASK_RESULT_WRITERS: Final = ("Pod", "ServiceAccount")
SELECTOR_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")
# Fields beside a ref that mutation may default from workflowDefaults (all in Argo's allowlist).
REF_DEFAULTABLE: Final = (
    "ttlStrategy",
    "podGC",
    "activeDeadlineSeconds",
    "volumeClaimGC",
    "archiveLogs",
    "priority",
    "workflowMetadata",
)


class ConfigError(ValueError):
    """The policy file is invalid; `errors` lists every problem as `key.path: reason`."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"invalid policy {source}:\n" + "\n".join(f"  {e}" for e in errors))


class DefaultsError(ConfigError):
    """A file given for workflowDefaults holds none; said in one line."""

    def __str__(self) -> str:
        return f"{self.source}: {'; '.join(self.errors)}"


class NoPolicyError(ConfigError):
    """A file or ConfigMap given as the policy holds none of its keys; said in one line."""

    def __str__(self) -> str:
        return f"{self.source}: {'; '.join(self.errors)}"


@dataclass(frozen=True)
class Identities:
    """Requesters by exact username (service accounts as their usernames) or group."""

    users: frozenset[str] = frozenset()
    """Usernames, e.g. `system:serviceaccount:argo:argo` for service account argo/argo."""
    groups: frozenset[str] = frozenset()
    """Groups any of which matches."""

    def matches(self, *, username: str, groups: Iterable[str]) -> str:
        """How the requester matches ("user X", "group G"), or "" when it does not."""
        if username in self.users:
            return f"user {username}"
        hit = sorted(set(groups) & self.groups)
        return f"group {hit[0]}" if hit else ""

    def describe(self) -> str:
        """The identities, for a message."""
        named = [*sorted(self.users), *(f"group {g}" for g in sorted(self.groups))]
        return ", ".join(named) or "(none)"


@dataclass(frozen=True)
class Exemptions:
    """Who and where the rules do not apply. Matching is exact: no prefixes, no patterns."""

    namespaces: frozenset[str] = frozenset()
    """Namespaces whose objects are admitted unchecked (e.g. the webhook's own)."""
    users: frozenset[str] = frozenset()
    """Usernames, e.g. Argo's controller `system:serviceaccount:argo:argo`."""
    groups: frozenset[str] = frozenset()
    """Groups any of which exempts the requester."""

    def matches(self, *, namespace: str, username: str, groups: Iterable[str]) -> str:
        """The reason the requester is exempt, or "" when it is not."""
        if namespace and namespace in self.namespaces:
            return f"namespace {namespace}"
        if username in self.users:
            return f"user {username}"
        hit = sorted(set(groups) & self.groups)
        return f"group {hit[0]}" if hit else ""


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector (matchLabels + matchExpressions)."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[tuple[str, str, frozenset[str]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy every term of the selector."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for key, op, values in self.match_expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True

    def describe(self) -> str:
        """The selector in kubectl's `-l` syntax."""
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        for key, op, values in self.match_expressions:
            if op in ("In", "NotIn"):
                parts.append(f"{key} {op.lower()} ({','.join(sorted(values))})")
            else:
                parts.append(key if op == "Exists" else f"!{key}")
        return ",".join(parts)


@dataclass(frozen=True)
class TemplateLibrary:
    """Which (Cluster)WorkflowTemplates a Workflow may reference."""

    namespaces: frozenset[str] = frozenset()
    """Namespaces whose WorkflowTemplates form the library; empty = every namespace."""
    selector: LabelSelector | None = None
    """Labels a library template must carry; None = any labels."""
    cluster_scoped_only: bool = False
    """Only ClusterWorkflowTemplates may be referenced."""
    allow_cluster_templates: bool = True
    """ClusterWorkflowTemplates may be referenced at all."""
    authors: Identities | None = None
    """Who may create, change, take out or delete a library template; None = RBAC alone."""


@dataclass(frozen=True)
class SecurityContextPolicy:
    """The securityContext baseline: mutated in, required, and the restricted profile check."""

    mode: str = "mutate"
    """off: nothing; mutate: /mutate applies the baseline; require: deny templates without it."""
    pod: Mapping[str, Any] = field(default_factory=dict)
    """Pod-level baseline (WorkflowSpec.securityContext), e.g. runAsNonRoot, seccompProfile."""
    container: Mapping[str, Any] = field(default_factory=dict)
    """Container-level baseline for each template's container/script/init/sidecars."""
    restricted: bool = False
    """Deny privileged, root, host namespaces, hostPath, added capabilities (PSS restricted)."""


@dataclass(frozen=True)
class Config:
    """The whole policy, loaded once."""

    template_referencing: str = ""
    """Argo's `workflowRestrictions.templateReferencing`: "", Strict or Secure."""
    workflow_defaults: Mapping[str, Any] = field(default_factory=dict)
    """Argo's `workflowDefaults`: a Workflow fragment (metadata, spec)."""
    security_context: SecurityContextPolicy = field(default_factory=SecurityContextPolicy)
    mode: str = "enforce"
    """enforce: deny; warn: admit with warnings; audit: admit and record."""
    exemptions: Exemptions = field(default_factory=Exemptions)
    template_library: TemplateLibrary = field(default_factory=TemplateLibrary)
    override_allowlist: frozenset[str] = DEFAULT_OVERRIDE_ALLOWLIST
    """Fields a user may set beside a ref: Argo's list plus WORKFLOW_USER_OVERRIDE_ALLOWLIST."""
    controller_instance_ids: frozenset[str] = frozenset({""})
    """Values of `workflows.argoproj.io/controller-instanceid` this policy covers ("" = none)."""
    ref_defaults: tuple[str, ...] = ("ttlStrategy", "podGC", "activeDeadlineSeconds")
    """workflowDefaults fields /mutate may set beside a ref (all on Argo's allowlist)."""
    lookup_failure_policy: str = "Fail"
    """When a template lookup fails: Fail (deny, code 500) or Ignore (admit with a warning)."""
    task_result_writers: str = "Pod"
    """Pod: a task result only from its node's pod (a bound token's pod claims); ServiceAccount:
    from the executor's account alone, with or without pod claims (weaker)."""
    source: str = "<defaults>"

    @property
    def strict(self) -> bool:
        """Strict or Secure: Workflows must use workflowTemplateRef."""
        return self.template_referencing in ("Strict", "Secure")

    @property
    def secure(self) -> bool:
        """Secure: the merged spec may not change during execution."""
        return self.template_referencing == "Secure"


def enforces_nothing(config: Config) -> str:
    """Why the policy refuses no Workflow and patches nothing ("" when it does something).

    The status-trust rules hold under any policy; this is about what an admin means to enforce:
    Strict/Secure, and a securityContext baseline or the restricted profile.
    """
    sc = config.security_context
    if config.strict or sc.restricted or (sc.mode != "off" and (sc.pod or sc.container)):
        return ""
    return (
        f"policy {config.source} enforces nothing: workflowRestrictions.templateReferencing is "
        "unset (Strict or Secure keeps Workflows to the template library) and securityContext "
        "sets no baseline and restricted is false; only the status-trust rules apply"
    )
