"""The audit log: one JSON line per decision, the record of what was decided and for whom.

A line is written for every decision that denies, warns or finds a violation (audit mode);
admitted requests are written only at debug level. Lines go to stdout, optionally also to a
rotated file that several gunicorn workers can share. The metrics are admission/server/metrics.py's;
`Audit` counts every request there as it writes its line.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import sys
from collections.abc import Callable, Mapping
from logging.handlers import RotatingFileHandler
from typing import IO, Any, Final, TypedDict

import orjson

from admission.core.decision import Decision, Outcome
from admission.core.review import Request
from admission.server.metrics import Metrics

LOGGER: Final = "argo_admission.audit"


class AuditLine(TypedDict):
    """One audit line, written as a JSON object with these keys in this order."""

    event: str  # ADMISSION_EVENT on every line: what tells audit lines from operational logs
    time: str  # RFC 3339 UTC with milliseconds, as Kubernetes writes timestamps
    endpoint: str  # validate, mutate, validate/warn
    uid: str
    user: str
    groups: list[str]
    operation: str
    kind: str
    namespace: str
    name: str  # the object's name, or its generateName
    rule: str  # the first rule that failed, or "exempt"
    paths: list[str]  # the fields the failed rules name, in the order found
    mode: str  # enforce, warn, audit
    decision: str  # see decision_label
    code: int  # in warn/audit mode: the code enforcing would have answered
    message: str
    warnings: list[str]
    diff: list[str]
    dry_run: bool
    exempt: str  # why the requester is exempt ("" when not)


# The keys of an audit line, in order: log queries and tests read them from here.
LOG_KEYS: Final = tuple(AuditLine.__annotations__)
# The "semantic" marker: every audit line carries it, operational logs never do.
ADMISSION_EVENT: Final = "admission_decision"

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
) -> AuditLine:
    """The audit line for one decided request."""
    return AuditLine(
        event=ADMISSION_EVENT,
        time=rfc3339(now or dt.datetime.now(dt.UTC)),
        endpoint=endpoint,
        uid=request.uid,
        user=request.username,
        groups=list(request.groups),
        operation=request.operation,
        kind=request.kind,
        namespace=request.namespace,
        name=request.name or _object_name(request.object),
        rule=decision.rule,
        paths=decision.paths,
        mode=decision.mode,
        decision=decision_label(decision, endpoint=endpoint),
        code=decision.code,
        message=decision.message,
        warnings=list(decision.warnings),
        diff=list(decision.diff),
        dry_run=request.dry_run,
        exempt=decision.exempt,
    )


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
        events: Callable[[Request, Decision], None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.logger = _audit_logger(stream or sys.stdout, file, level)
        self.events = events

    def record(
        self, request: Request, decision: Decision, *, endpoint: str, seconds: float
    ) -> None:
        """Count one decided request and write its audit line (debug level when unremarkable)."""
        label = decision_label(decision, endpoint=endpoint)
        self.metrics.count_request(
            endpoint,
            decision=label,
            seconds=seconds,
            kind=request.kind,
            operation=request.operation,
            rules=(violation.rule for violation in decision.violations),
        )
        if self.events is not None and decision.violations:
            self.events(request, decision)
        level = logging.INFO if is_notable(decision) else logging.DEBUG
        if self.logger.isEnabledFor(level):
            line = entry(request, decision, endpoint=endpoint)
            self.logger.log(level, orjson.dumps(line).decode())

    def record_invalid(self, *, endpoint: str, seconds: float) -> None:
        """Count a body that was not an AdmissionReview (answered with HTTP 4xx)."""
        self.metrics.count_request(endpoint, decision="invalid", seconds=seconds)

    def record_failure(self, *, endpoint: str, seconds: float) -> None:
        """Count a request whose evaluation raised (answered with a code 500 refusal)."""
        self.metrics.count_request(endpoint, decision="error", seconds=seconds)


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
