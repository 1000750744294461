"""Prometheus metrics: what the webhook answered, how fast, what its caches did, what runs.

prometheus_client, in multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (`serve` sets it
for its workers): every worker writes its counts to files there and /metrics sums them. Every
labelled series is created at zero when the metrics are, for every label value the webhook
knows, so a rate or an alert sees a series before its first event (Prometheus' instrumentation
guide: "avoid missing metrics"). What describes the process rather than counts events — the
build, the policy in force, the certificate served — is read when /metrics is scraped.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from admission import __version__
from admission.core.config import Config
from admission.core.policy import KINDS, rules
from admission.core.review import OPERATIONS
from admission.core.webhook import ENDPOINTS
from admission.files.version import COMMIT_ENV as COMMIT_ENV
from admission.files.version import checkout_commit as checkout_commit
from admission.files.version import commit

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

# From 0.25 ms: an evaluation answered from the cache takes around a millisecond.
LATENCY_BUCKETS: Final = (
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# --- the label values, known in advance ------------------------------------------------------

VALIDATING: Final = tuple(e for e in ENDPOINTS if e != "mutate")
# audit.decision_label's values; `invalid`: not an AdmissionReview; `error`: evaluation raised;
# `retry`: refused for now with code 429 (what the object names is not there yet).
VALIDATING_DECISIONS: Final = (
    "allow",
    "deny",
    "retry",
    "warn",
    "audit",
    "exempt",
    "skip",
    "invalid",
    "error",
)
DECISIONS: Final[Mapping[str, tuple[str, ...]]] = {
    **dict.fromkeys(VALIDATING, VALIDATING_DECISIONS),
    "mutate": ("allow", "patch", "exempt", "invalid", "error"),
}
OTHER: Final = "other"  # a kind we do not police (bounded labels: the name is not kept)
KIND_LABELS: Final = (*sorted(set(KINDS.values())), OTHER)
# How a request that broke rules was answered: by the mode (enforce denies).
VIOLATION_DECISIONS: Final = ("deny", "warn", "audit")
# The rules a Violation can name: the policy's closed set of rule names.
RULES: Final = rules.ALL
LOOKUP_RESULTS: Final = ("hit", "miss", "error")
# A Workflow lookup: from the watch's cache, a GET on a miss, a GET asked fresh, a failed GET.
WORKFLOW_LOOKUP_RESULTS: Final = ("hit", "miss", "fresh", "error")
AUDIT_RESULTS: Final = ("ok", "failed")
RELOAD_RESULTS: Final = ("ok", "failed")


@dataclass(frozen=True)
class Metrics:
    """The webhook's Prometheus metrics, in a registry of their own."""

    registry: CollectorRegistry
    requests: Counter
    objects: Counter
    violations: Counter
    latency: Histogram
    lookups: Counter
    workflow_lookups: Counter
    reloads: Counter
    audit_findings: Gauge
    audit_runs: Counter
    audit_last_run: Gauge
    state: StateCollector = field(default_factory=lambda: StateCollector())
    _audit_series: set[tuple[str, str, str]] = field(default_factory=set)

    @classmethod
    def create(cls) -> Metrics:
        """Fresh metrics, every known series at zero; in multiprocess mode shared through files."""
        registry = CollectorRegistry()
        metrics = cls(
            registry=registry,
            requests=Counter(
                "argo_admission_requests",
                "Admission requests answered, by endpoint and decision.",
                ["endpoint", "decision"],
                registry=registry,
            ),
            objects=Counter(
                "argo_admission_reviewed_objects",
                "AdmissionReviews decided, by the object's kind (other: not policed) "
                "and operation.",
                ["endpoint", "kind", "operation"],
                registry=registry,
            ),
            violations=Counter(
                "argo_admission_rule_violations",
                "Rules broken, once per rule a request broke, by how it was answered "
                "(deny: enforce mode; warn, audit: the mode admitted it).",
                ["endpoint", "rule", "decision"],
                registry=registry,
            ),
            latency=Histogram(
                "argo_admission_request_duration_seconds",
                "Time to answer one admission request.",
                ["endpoint"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            lookups=Counter(
                "argo_admission_template_lookups",
                "Template lookups: hit (cache), miss (asked the API server or "
                "not found in files), error (lookup failed).",
                ["result"],
                registry=registry,
            ),
            workflow_lookups=Counter(
                "argo_admission_workflow_lookups",
                "Workflow lookups (task results, task sets, resubmits): hit (watch cache), "
                "miss (one GET), fresh (a GET to confirm a refusal or a retry), error.",
                ["result"],
                registry=registry,
            ),
            reloads=Counter(
                "argo_admission_config_reloads",
                "Policy file reloads by result (ok, failed), counted per worker.",
                ["result"],
                registry=registry,
            ),
            # livemax: only the Lease holder reports findings; a worker that lost it reports 0
            audit_findings=Gauge(
                "argo_admission_audit_findings",
                "Problems the last background audit found (fail, warn, error results), by rule, "
                "kind and namespace; reported by the audit Lease's holder.",
                ["rule", "kind", "namespace"],
                registry=registry,
                multiprocess_mode="livemax",
            ),
            audit_runs=Counter(
                "argo_admission_audit_runs",
                "Background audits run by this server, by result (ok, failed).",
                ["result"],
                registry=registry,
            ),
            audit_last_run=Gauge(
                "argo_admission_audit_last_run_timestamp_seconds",
                "When the last background audit that succeeded ended (Unix time).",
                registry=registry,
                multiprocess_mode="livemax",
            ),
        )
        registry.register(metrics.state)
        metrics.start_at_zero()
        return metrics

    def start_at_zero(self) -> None:
        """Create every series whose label values are known (in multiprocess mode: in the files)."""
        for endpoint, decisions in DECISIONS.items():
            self.latency.labels(endpoint)
            for decision in decisions:
                self.requests.labels(endpoint, decision)
            for kind in KIND_LABELS:
                for operation in OPERATIONS:
                    self.objects.labels(endpoint, kind, operation)
        for endpoint in VALIDATING:
            for rule in RULES:
                for decision in VIOLATION_DECISIONS:
                    self.violations.labels(endpoint, rule, decision)
        for result in LOOKUP_RESULTS:
            self.lookups.labels(result)
        for result in WORKFLOW_LOOKUP_RESULTS:
            self.workflow_lookups.labels(result)
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        for result in AUDIT_RESULTS:
            self.audit_runs.labels(result)

    def follow(
        self,
        *,
        policy: Callable[[], Config] | None = None,
        certificate: Callable[[], float | None] | None = None,
    ) -> None:
        """Say where /metrics reads the policy in force and the served certificate's expiry."""
        self.state.policy = policy
        self.state.certificate = certificate

    def count_request(
        self,
        endpoint: str,
        *,
        decision: str,
        seconds: float,
        kind: str | None = None,
        operation: str = "",
        rules: Iterable[str] = (),
    ) -> None:
        """One answered request; `kind` None when it was no AdmissionReview; each rule it broke."""
        self.requests.labels(endpoint, decision).inc()
        self.latency.labels(endpoint).observe(seconds)
        if kind is not None:
            known_kind = KINDS.get(kind.lower(), OTHER)
            self.objects.labels(endpoint, known_kind, operation).inc()
        for rule in dict.fromkeys(rules):  # once per rule, however often the request broke it
            self.violations.labels(endpoint, rule, decision).inc()

    def count_lookup(self, result: str) -> None:
        """One template lookup: hit, miss or error."""
        self.lookups.labels(result).inc()

    def count_workflow_lookup(self, result: str) -> None:
        """One Workflow lookup: hit, miss, fresh or error."""
        self.workflow_lookups.labels(result).inc()

    def count_reload(self, *, ok: bool) -> None:
        """One attempt to reload the policy file."""
        self.reloads.labels("ok" if ok else "failed").inc()

    def set_audit_findings(self, counts: Mapping[tuple[str, str, str], int] | None) -> None:
        """The last background audit's problems by (rule, kind, namespace); None: none known
        (this worker no longer holds the audit Lease). A series no longer found goes to 0."""
        counts = counts or {}
        for labels in self._audit_series - set(counts):
            self.audit_findings.labels(*labels).set(0)
        for labels, count in counts.items():
            self.audit_findings.labels(*labels).set(count)
        self._audit_series.update(counts)

    def count_audit(self, ok: bool) -> None:
        """One background audit run; a successful one sets the last-run time."""
        self.audit_runs.labels("ok" if ok else "failed").inc()
        if ok:
            self.audit_last_run.set_to_current_time()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type; every worker's values in multiprocess mode."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self.state)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class StateCollector:
    """Gauges read at scrape time, from the worker that answers it: build, policy, certificate.

    Not kept in multiprocess files: a reloaded policy replaces its info series rather than
    leaving the old labels behind, and the certificate is the one this worker now serves.
    """

    def __init__(self) -> None:
        self.build = build_labels()
        self.policy: Callable[[], Config] | None = None
        self.certificate: Callable[[], float | None] | None = None

    def collect(self) -> Iterator[Metric]:
        """build_info always; policy_info and the certificate's expiry once they are followed."""
        build = GaugeMetricFamily(
            "argo_admission_build_info",
            "The running build: version, source commit and Python version (always 1).",
            labels=list(self.build),
        )
        build.add_metric(list(self.build.values()), 1)
        yield build
        if self.policy is not None:
            config = self.policy()
            info = GaugeMetricFamily(
                "argo_admission_policy_info",
                "The policy in force (always 1; the labels change when it is reloaded).",
                labels=["mode", "template_referencing", "source"],
            )
            info.add_metric([config.mode, config.template_referencing, config.source], 1)
            yield info
        expiry = self.certificate() if self.certificate is not None else None
        if expiry is not None:
            yield GaugeMetricFamily(
                "argo_admission_certificate_expiry_timestamp_seconds",
                "When the serving certificate expires (Unix time); follows its rotation.",
                value=expiry,
            )


def build_labels() -> dict[str, str]:
    """version, commit and python of this process."""
    return {
        "version": __version__,
        "commit": commit(),
        "python": platform.python_version(),
    }


def mark_process_dead(pid: int) -> None:
    """Tell multiprocess metrics a worker is gone (gunicorn child_exit hook)."""
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
