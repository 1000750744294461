"""Kubernetes Events from a server: its refusals and its background audit's findings.

Builds each Event with the core (admission/core/events.py), names this pod as the reporting
instance, and hands it to the cluster layer's sender (admission/cluster/events.py), which limits
and sends it without making a request wait.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from typing import Any

from admission.cluster.events import EventSink
from admission.core.decision import Decision
from admission.core.events import Limiter, finding_event, refusal_event
from admission.core.inventory import Finding
from admission.core.review import Request


class Eventing:
    """The Events of one worker."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.instance = socket.gethostname()  # the pod's name in a cluster

    @classmethod
    def start(cls, api_client: Any, per_minute: int) -> Eventing:
        """A started sender over `api_client` (admission.cluster.connect), at most `per_minute`
        Events a minute."""
        sink = EventSink(api_client, limiter=Limiter(per_minute=per_minute))
        sink.start()
        return cls(sink)

    def refusal(self, request: Request, decision: Decision) -> None:
        """An Event for a refused (or, in warn mode, would-be refused) request."""
        self.sink.send(refusal_event(request, decision, now=time.time(), instance=self.instance))

    def findings(self, findings: Iterable[Finding]) -> None:
        """An Event for each failing finding of a background audit (limited)."""
        now = time.time()
        for finding in findings:
            self.sink.send(finding_event(finding, now=now, instance=self.instance))
