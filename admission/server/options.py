"""`argo-admission serve`'s options, typed, and the checks of those that go together.

What the CLI's flags say (ServeOptions), and, before anything starts, why a combination cannot
work (a flag that needs the cluster without one, a NAMESPACE/NAME that is not one): one line,
exit 2, nothing started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from admission.cluster.kube import cluster_config_exists
from admission.cluster.leases import own_namespace
from admission.cluster.registration import (
    RegistrationError,
    read_configurations,
    validating_name,
)
from admission.core.mapinstall import MUTATING_POLICY_LEASE, mutating_webhooks
from admission.core.vapinstall import enforcing_webhooks

DEFAULT_LEASE: Final = "argo-admission-audit"


@dataclass(frozen=True)
class ServeOptions:
    """What `argo-admission serve` is asked to do (the CLI's flags, typed)."""

    config: str | None = None
    """Policy file or workflow-controller ConfigMap; None: the shipped default policy."""
    cert_dir: str = "certs"
    """Where tls.crt/tls.key are read from (generated there when absent)."""
    host: str = "0.0.0.0"
    port: int = 8443
    workers: int = 2
    threads: int = 4
    templates: tuple[str, ...] = ()
    """Template files or directories to serve instead of the cluster's."""
    kubeconfig: str | None = None
    """Kubeconfig for template lookups; None: in-cluster, then the default kubeconfig."""
    no_cluster: bool = False
    """No Kubernetes API at all: templates only from `templates`."""
    argo_configmap: str | None = None
    """NAMESPACE/NAME of Argo's controller ConfigMap, watched where it lives."""
    register_webhooks: str | None = None
    """Webhook configurations to create or update on the API server once ready."""
    webhook_owner: str | None = None
    """ClusterRole that owns the registered configurations."""
    background_audit: float | None = None
    """Seconds between two audits of the cluster (PolicyReports); None: no background audit."""
    audit_lease: str | None = None
    """NAMESPACE/NAME of the Lease electing the one server that audits; None: the default."""
    audit_file: str | None = None
    library_configmap: str | None = None
    """NAMESPACE/NAME of the library index for the exported policy; None: not kept."""
    register_policy: bool = False
    """Keep the exported policy in the API server and narrow the validating webhooks to it."""
    policy_probe_namespace: str = "default"
    """Where the dry-run probe proving the policy in force is sent."""
    register_mutating_policy: bool = False
    """Keep the exported MutatingAdmissionPolicy in the API server and narrow the mutating
    webhook to it."""
    mutating_policy_lease: str | None = None
    """NAMESPACE/NAME of the Lease electing the one server that keeps the
    MutatingAdmissionPolicy; None: argo-admission-mutating-policy in our namespace."""
    mutating_policy_probe_namespace: str = "default"
    """Where the dry-run probe template proving the MutatingAdmissionPolicy in force is sent."""
    events_per_minute: int = 0
    """Kubernetes Events on refusals and audit findings, at most this many a minute; 0: none."""
    metrics_port: int = 0
    """A plain-HTTP port serving only /metrics (0: none; /metrics stays on the HTTPS port)."""
    log_level: str = "info"
    lookup_timeout: float = 3.0
    """Seconds a template lookup may take on a cache miss."""
    workflow_cache: int = 10_000
    """Unfinished Workflows the watch keeps for task-result writes (0: none, GET each time)."""


def _configmap_problem(options: ServeOptions) -> str:
    """Why --argo-configmap cannot be used ("" when it can, or is not given)."""
    given = options.argo_configmap
    if not given:
        return ""
    return _namespaced_problem("--argo-configmap", given) or _cluster_problem(
        "--argo-configmap", options, files_too=True
    )


def _registration_problem(options: ServeOptions) -> str:
    """Why --register-webhooks cannot be used ("" when it can, or is not given)."""
    path = options.register_webhooks
    if not path:
        return ""
    try:
        read_configurations(path)
    except RegistrationError as exc:
        return f"--register-webhooks {exc}"
    return _cluster_problem("--register-webhooks", options)


def _background_audit_problem(options: ServeOptions) -> str:
    """Why --background-audit cannot be used ("" when it can, or is not given)."""
    if options.audit_lease and not options.background_audit:
        return "--audit-lease elects the server of --background-audit, which is not given"
    if not options.background_audit:
        return ""
    return _namespaced_problem("--audit-lease", audit_lease(options)) or _cluster_problem(
        "--background-audit", options, files_too=True
    )


def _events_problem(options: ServeOptions) -> str:
    """Why --events-per-minute cannot be used ("" when it can, or is not given)."""
    return _cluster_problem("--events-per-minute", options) if options.events_per_minute else ""


def _namespaced_problem(flag: str, given: str) -> str:
    """Why `given` is not NAMESPACE/NAME ("" when it is)."""
    namespace, sep, name = given.partition("/")
    if not sep or not namespace or not name or "/" in name:
        return f"{flag} {given!r} must be NAMESPACE/NAME"
    return ""


def _cluster_problem(flag: str, options: ServeOptions, *, files_too: bool = False) -> str:
    """Why `flag`, which needs the cluster, cannot have it ("" when it can)."""
    if files_too and (options.no_cluster or options.templates):
        return f"{flag} reads the cluster; it cannot go with --no-cluster or --templates"
    if options.kubeconfig is None and not cluster_config_exists():
        return f"{flag} needs a cluster: no in-cluster config and no --kubeconfig"
    return ""


def audit_lease(options: ServeOptions) -> str:
    """NAMESPACE/NAME of the audit Lease: as given, or argo-admission-audit in our namespace."""
    return options.audit_lease or f"{own_namespace()}/{DEFAULT_LEASE}"


def start_problem(options: ServeOptions) -> str:
    """Why these options cannot start a server ("" when they can)."""
    return (
        _configmap_problem(options)
        or _registration_problem(options)
        or _background_audit_problem(options)
        or _events_problem(options)
        or _library_problem(options)
        or _policy_problem(options)
        or _mutating_policy_problem(options)
    )


def _library_problem(options: ServeOptions) -> str:
    if not options.library_configmap:
        return ""
    return _namespaced_problem("--library-configmap", options.library_configmap) or (
        _cluster_problem("--library-configmap", options, files_too=True)
    )


def _policy_problem(options: ServeOptions) -> str:
    """Why --register-policy cannot be used ("" when it can, or is not given)."""
    if not options.register_policy:
        return ""
    if not options.library_configmap:
        return "--register-policy needs --library-configmap (the index the policy reads)"
    if not options.register_webhooks:
        return "--register-policy needs --register-webhooks (the webhooks it narrows)"
    configurations = read_configurations(options.register_webhooks)
    if validating_name(configurations) is None:
        return f"--register-policy: {options.register_webhooks} has no validating configuration"
    if not enforcing_webhooks(configurations):
        return f"--register-policy: no webhook in {options.register_webhooks} calls /validate"
    return ""


def _mutating_policy_problem(options: ServeOptions) -> str:
    """Why --register-mutating-policy cannot be used ("" when it can, or is not given)."""
    if not options.register_mutating_policy:
        return ""
    if not options.register_webhooks:
        return "--register-mutating-policy needs --register-webhooks (the webhook it narrows)"
    name, hooks = mutating_webhooks(read_configurations(options.register_webhooks))
    if not name:
        return (
            f"--register-mutating-policy: {options.register_webhooks} has no mutating configuration"
        )
    if not hooks:
        where = options.register_webhooks
        return f"--register-mutating-policy: no webhook in {where} calls /mutate"
    return _namespaced_problem("--mutating-policy-lease", mutating_policy_lease(options)) or (
        _cluster_problem("--register-mutating-policy", options)
    )


def mutating_policy_lease(options: ServeOptions) -> str:
    """NAMESPACE/NAME of the MutatingAdmissionPolicy's Lease: as given, or
    argo-admission-mutating-policy in our namespace."""
    return options.mutating_policy_lease or f"{own_namespace()}/{MUTATING_POLICY_LEASE}"
