"""The webhook's Prometheus metrics: what was answered, how fast, and what the caches did.

prometheus_client, in multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (`serve` sets it
for its workers): every worker writes its values to files there and /metrics sums them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from admission.policy import KINDS
from admission.review import OPERATIONS

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


@dataclass(frozen=True)
class Metrics:
    """The webhook's Prometheus metrics, in a registry of their own."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    lookups: Counter
    reloads: Counter

    @classmethod
    def create(cls) -> Metrics:
        """Fresh metrics; in multiprocess mode their values are shared through files."""
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "argo_admission_requests",
                "Admission requests answered.",
                ["endpoint", "kind", "operation", "decision", "rule"],
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
            reloads=Counter(
                "argo_admission_config_reloads",
                "Policy file reloads by result (ok, failed), counted per worker.",
                ["result"],
                registry=registry,
            ),
        )

    def count_request(
        self, endpoint: str, *, kind: str, operation: str, decision: str, rule: str, seconds: float
    ) -> None:
        """One answered request; kind and operation folded to known values (bounded labels)."""
        known_kind = KINDS.get(kind.lower(), "other" if kind else "")
        known_op = operation if operation in OPERATIONS or not operation else "other"
        self.requests.labels(endpoint, known_kind, known_op, decision, rule).inc()
        self.latency.labels(endpoint).observe(seconds)

    def count_lookup(self, result: str) -> None:
        """One template lookup: hit, miss or error."""
        self.lookups.labels(result).inc()

    def count_reload(self, *, ok: bool) -> None:
        """One attempt to reload the policy file."""
        self.reloads.labels("ok" if ok else "failed").inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type; every worker's values in multiprocess mode."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Tell multiprocess metrics a worker is gone (gunicorn child_exit hook)."""
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
