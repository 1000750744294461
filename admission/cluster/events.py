"""Sends Kubernetes Events (admission/core/events.py builds them) from a background thread.

A request never waits on an Event: each is limited (the core's Limiter), queued (at most
QUEUE_SIZE; beyond that dropped) and created by one thread per worker. A failure is logged once
per reason (a missing RBAC grant would otherwise log at every refusal); Events are hints, the
audit lines are the record.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from admission.core.events import Limiter, Outgoing

log = logging.getLogger("argo_admission.events")

QUEUE_SIZE: Final = 1000
REQUEST_SECONDS: Final = 5.0


class EventSink:
    """Limits, queues and creates Events."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        limiter: Limiter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = client.CoreV1Api(api_client)
        self.limiter, self.clock = limiter, clock
        self._queue: queue.Queue[Outgoing | None] = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._failed: set[str] = set()

    def start(self) -> None:
        """Start the sending thread (in each worker, after the fork)."""
        threading.Thread(target=self.run, name="events", daemon=True).start()

    def close(self) -> None:
        """Stop once what is queued is sent."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass

    def send(self, outgoing: Outgoing | None) -> None:
        """Queue an Event unless the limiter drops it; never blocks."""
        if outgoing is None:
            return
        with self._lock:
            if not self.limiter.allow(outgoing.key, now=self.clock()):
                return
        try:
            self._queue.put_nowait(outgoing)
        except queue.Full:
            log.debug("event queue full; dropped an Event")

    def run(self) -> None:
        """Create each queued Event."""
        while (outgoing := self._queue.get()) is not None:
            body: Any = outgoing.body  # the client takes a dict as well as a CoreV1Event
            try:
                self.api.create_namespaced_event(
                    body["metadata"]["namespace"], body, _request_timeout=REQUEST_SECONDS
                )
            except (ApiException, OSError) as exc:
                self._failed_once(exc)

    def _failed_once(self, exc: Exception) -> None:
        reason = f"{exc.status} {exc.reason}" if isinstance(exc, ApiException) else str(exc)
        if reason not in self._failed:
            self._failed.add(reason)
            log.warning("cannot create Events (%s); later failures alike are not logged", reason)
