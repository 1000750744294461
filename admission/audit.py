"""The record of what was decided: one JSON audit line per decision, and Prometheus metrics.

A line is written for every decision that denies, warns or finds a violation (audit mode);
admitted requests are written only at debug level. Lines go to stdout, optionally also to a
rotated file that several gunicorn workers can share. Metrics use prometheus_client, in
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (`serve` sets it for its workers).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from typing import IO, Any, Final

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from admission.decision import Decision, Outcome
from admission.policy import KINDS
from admission.review import OPERATIONS, Request

LOGGER: Final = "argo_admission.audit"
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

# The keys of an audit line, so log queries and tests name them one way (Gatekeeper pkg/logging).
EVENT: Final = "event"
TIME: Final = "time"
ENDPOINT: Final = "endpoint"
UID: Final = "uid"
USER: Final = "user"
GROUPS: Final = "groups"
OPERATION: Final = "operation"
KIND: Final = "kind"
NAMESPACE: Final = "namespace"
NAME: Final = "name"
RULE: Final = "rule"
MODE: Final = "mode"
DECISION: Final = "decision"
CODE: Final = "code"
MESSAGE: Final = "message"
WARNINGS: Final = "warnings"
DIFF: Final = "diff"
DRY_RUN: Final = "dry_run"
EXEMPT: Final = "exempt"
LOG_KEYS: Final = (
    EVENT,
    TIME,
    ENDPOINT,
    UID,
    USER,
    GROUPS,
    OPERATION,
    KIND,
    NAMESPACE,
    NAME,
    RULE,
    MODE,
    DECISION,
    CODE,
    MESSAGE,
    WARNINGS,
    DIFF,
    DRY_RUN,
    EXEMPT,
)
# The "semantic" marker: every audit line carries it, operational logs never do.
ADMISSION_EVENT: Final = "admission_decision"

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
ROTATE_BYTES: Final = 100 * 1024 * 1024
ROTATE_BACKUPS: Final = 5


# --- lines ----------------------------------------------------------------------------------


def decision_label(decision: Decision, *, endpoint: str = "validate") -> str:
    """allow, deny, warn, audit, exempt, skip; `patch` for a mutation that changed something."""
    if endpoint == "mutate" and decision.allowed and decision.patch:
        return "patch"
    label = decision.annotations.get("decision")
    return str(label) if label else ("allow" if decision.allowed else "deny")


def entry(
    request: Request, decision: Decision, *, endpoint: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The audit line for one decided request, as a dict of LOG_KEYS."""
    return {
        EVENT: ADMISSION_EVENT,
        TIME: rfc3339(now or dt.datetime.now(dt.UTC)),
        ENDPOINT: endpoint,
        UID: request.uid,
        USER: request.username,
        GROUPS: list(request.groups),
        OPERATION: request.operation,
        KIND: request.kind,
        NAMESPACE: request.namespace,
        NAME: request.name or _object_name(request.object),
        RULE: decision.rule,
        MODE: decision.mode,
        DECISION: decision_label(decision, endpoint=endpoint),
        CODE: decision.code,  # in warn/audit mode: the code enforcing would have answered
        MESSAGE: decision.message,
        WARNINGS: list(decision.warnings),
        DIFF: list(decision.diff),
        DRY_RUN: request.dry_run,
        EXEMPT: decision.exempt,
    }


def rfc3339(moment: dt.datetime) -> str:
    """UTC time with milliseconds and a Z, as Kubernetes writes timestamps."""
    return (
        moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}Z"
    )


def _object_name(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping):
        return ""
    return str(meta.get("name") or meta.get("generateName") or "")


def is_notable(decision: Decision) -> bool:
    """Whether a decision is written at info level: it denies, warns, or found a violation."""
    return (
        not decision.allowed
        or bool(decision.warnings)
        or decision.outcome in (Outcome.FAIL, Outcome.ERROR)
    )


class SharedRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler that several processes may append to and rotate.

    Each write holds an advisory lock on `<file>.lock` and first reopens the file when another
    process has rotated it, so no worker keeps writing into a renamed backup.
    """

    def __init__(
        self, filename: str, *, max_bytes: int = ROTATE_BYTES, backups: int = ROTATE_BACKUPS
    ) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._lock_path = self.baseFilename + ".lock"

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record under the inter-process lock."""
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._reopen_if_rotated()
                super().emit(record)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _reopen_if_rotated(self) -> None:
        if self.stream is None:
            return
        try:
            same = os.stat(self.baseFilename).st_ino == os.fstat(self.stream.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            self.stream.close()
            self.stream = self._open()


class Audit:
    """Writes audit lines and counts every request in the metrics."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        stream: IO[str] | None = None,
        file: str | None = None,
        level: int = logging.INFO,
    ) -> None:
        self.metrics = metrics
        self.logger = _audit_logger(stream or sys.stdout, file, level)

    def record(
        self, request: Request, decision: Decision, *, endpoint: str, seconds: float
    ) -> None:
        """Count one decided request and write its audit line (debug level when unremarkable)."""
        self.metrics.count_request(
            endpoint,
            kind=request.kind,
            operation=request.operation,
            decision=decision_label(decision, endpoint=endpoint),
            rule=decision.rule,
            seconds=seconds,
        )
        level = logging.INFO if is_notable(decision) else logging.DEBUG
        if self.logger.isEnabledFor(level):
            line = entry(request, decision, endpoint=endpoint)
            self.logger.log(level, orjson.dumps(line).decode())

    def record_invalid(self, *, endpoint: str, seconds: float) -> None:
        """Count a body that was not an AdmissionReview (answered with HTTP 4xx)."""
        self.metrics.count_request(
            endpoint, kind="", operation="", decision="invalid", rule="", seconds=seconds
        )

    def record_failure(self, *, endpoint: str, seconds: float) -> None:
        """Count a request whose evaluation raised (answered with a code 500 refusal)."""
        self.metrics.count_request(
            endpoint, kind="", operation="", decision="error", rule="internal", seconds=seconds
        )


def _audit_logger(stream: IO[str], file: str | None, level: int) -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    logger.propagate = False  # audit lines are data, not operational logs
    logger.setLevel(level)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream)]
    if file:
        handlers.append(SharedRotatingFileHandler(file))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


# --- metrics --------------------------------------------------------------------------------


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
