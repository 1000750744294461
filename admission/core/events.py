"""Kubernetes Events for refusals and audit findings, and the limit on how many are sent.

As Kyverno's PolicyViolation events: a Warning Event with reason `PolicyViolation` on the object
a rule refused (or, in warn mode, would have refused) and on each object the background audit
finds failing, so `kubectl describe` and `kubectl get events` show it beside the object. An
object refused at its CREATE does not exist: the Event names it all the same (kind, namespace,
name or generateName). A ClusterWorkflowTemplate's Events go to `default`, as Kubernetes puts
Events of cluster-scoped objects. Events are hints, never the record (the audit lines are): the
limiter drops what repeats within `interval` seconds (same object, rule and reason) and anything
beyond `per_minute` a minute. Pure: time is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from admission.core.decision import Decision, Outcome
from admission.core.inventory import Finding
from admission.core.objects import metadata_of
from admission.core.review import Request

REASON: Final = "PolicyViolation"
COMPONENT: Final = "argo-admission"
CLUSTER_EVENTS_NAMESPACE: Final = "default"
MAX_MESSAGE: Final = 1024  # the API server refuses Event messages over 1 KiB
MAX_KEYS: Final = 10_000
API_VERSION: Final = "argoproj.io/v1alpha1"


@dataclass(frozen=True)
class Outgoing:
    """An Event to send, and what the limiter counts it under (object, reason, rule)."""

    key: tuple[str, ...]
    body: dict[str, Any]


@dataclass(frozen=True)
class Involved:
    """The object an Event is about."""

    kind: str
    namespace: str
    name: str
    uid: str = ""


def refusal_event(
    request: Request, decision: Decision, *, now: float, instance: str
) -> Outgoing | None:
    """The Event for a request a rule refused (or would have, in warn mode); None otherwise."""
    if not decision.violations or decision.outcome != Outcome.FAIL or request.dry_run:
        return None
    meta = metadata_of(request.object)
    name = request.name or str(meta.get("generateName") or "")
    verb = "refused" if not decision.allowed else f"would refuse (mode: {decision.mode})"
    lines = "; ".join(v.message() for v in decision.violations)
    message = f"{request.operation} by {request.username} {verb}: {lines}"
    involved = Involved(request.kind, request.namespace, name, str(meta.get("uid") or ""))
    body = event(involved, message, now=now, instance=instance)
    return Outgoing(_key(involved, decision.violations[0].rule), body)


def finding_event(finding: Finding, *, now: float, instance: str) -> Outgoing | None:
    """The Event for a failing background-audit finding; None for anything else."""
    if finding.result != "fail":
        return None
    res = finding.resource
    involved = Involved(res.kind, res.namespace, res.name, res.uid)
    body = event(involved, f"audit: {finding.message}", now=now, instance=instance)
    return Outgoing(_key(involved, f"audit:{finding.rule}"), body)


def event(involved: Involved, message: str, *, now: float, instance: str) -> dict[str, Any]:
    """A core/v1 Warning Event on `involved`."""
    namespace = involved.namespace or CLUSTER_EVENTS_NAMESPACE
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reference = {"apiVersion": API_VERSION, "kind": involved.kind, "name": involved.name}
    if involved.namespace:
        reference["namespace"] = involved.namespace
    if involved.uid:
        reference["uid"] = involved.uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{involved.name or 'argo-admission'}.",
            "namespace": namespace,
        },
        "involvedObject": reference,
        "reason": REASON,
        "message": message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "...",
        "type": "Warning",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


@dataclass
class Limiter:
    """At most one Event per key in `interval` seconds, and `per_minute` Events a minute."""

    per_minute: int = 60
    interval: float = 300.0
    _seen: OrderedDict[tuple[str, ...], float] = field(default_factory=OrderedDict)
    _tokens: float = -1.0
    _refilled: float = 0.0

    def allow(self, key: tuple[str, ...], *, now: float) -> bool:
        """Whether to send the Event counted under `key` now; a sent one is remembered."""
        last = self._seen.get(key)
        if last is not None and now - last < self.interval:
            return False
        if not self._take(now):
            return False
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_KEYS:
            self._seen.popitem(last=False)
        return True

    def _take(self, now: float) -> bool:
        if self._tokens < 0:
            self._tokens, self._refilled = float(self.per_minute), now
        rate = self.per_minute / 60.0
        self._tokens = min(float(self.per_minute), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def _key(involved: Involved, rule: str) -> tuple[str, ...]:
    return (involved.kind, involved.namespace, involved.name, rule)
