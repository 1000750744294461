"""One holder at a time, through a coordination.k8s.io Lease, as client-go's leader election.

Every candidate (each worker of each replica) tries to take the Lease; the one holding it renews
it well within its duration, the others wait for it to expire. Expiry is judged by the local
clock from when a candidate last saw the Lease change, never by comparing the holder's
timestamps with ours, so clock skew between nodes does not hand the Lease to two holders.
Writes carry the resourceVersion read: of two candidates racing for a free Lease, the API
server lets one win (the other gets 409 Conflict). A holder that stops gives the Lease up (a
one-second duration, no holder), so another takes over at once rather than after expiry.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import orjson
from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("argo_admission.leases")

DURATION_SECONDS: Final = 30
"""How long a Lease stays held without a renewal."""
RENEW_SECONDS: Final = 10.0
"""How often the holder renews, and a candidate retries."""
REQUEST_SECONDS: Final = 5.0
SERVICE_ACCOUNT_NAMESPACE: Final = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def default_identity() -> str:
    """This process as a holder: the pod (HOSTNAME) and the worker's pid."""
    return f"{os.environ.get('HOSTNAME') or 'localhost'}_{os.getpid()}"


def own_namespace() -> str:
    """The namespace of this pod's service account, or `default` outside a cluster."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def micro_time(when: dt.datetime) -> str:
    """A metav1.MicroTime: RFC 3339 in UTC with microseconds."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Takes and keeps the Lease `namespace/name` for `identity`; `is_leader()` says if it holds."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        *,
        identity: str | None = None,
        duration: int = DURATION_SECONDS,
        renew: float = RENEW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.api: Any = client.CoordinationV1Api(api_client)  # bodies are dicts, not models
        self.namespace, self.name = namespace, name
        self.identity = identity or default_identity()
        self.duration, self.renew = duration, renew
        self.clock, self.wall = clock, wall
        self._renewed: float | None = None
        self._seen: tuple[Any, ...] | None = None
        self._seen_at = 0.0
        self._stop = threading.Event()

    @property
    def lease(self) -> str:
        """The Lease as named in messages."""
        return f"Lease {self.namespace}/{self.name}"

    def is_leader(self) -> bool:
        """Whether this candidate holds the Lease now (renewed less than a duration ago)."""
        renewed = self._renewed
        return renewed is not None and self.clock() - renewed < self.duration

    def start(self) -> None:
        """Take part in the election in the background (in the worker, after the fork)."""
        threading.Thread(target=self.run, name=f"lease-{self.name}", daemon=True).start()

    def run(self) -> None:
        """Try to take or renew the Lease every `renew` seconds until closed."""
        while not self._stop.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception as exc:  # an unreachable API server: not the holder until it answers
                if self._renewed is not None and not self.is_leader():
                    self._lost(f"cannot renew it: {exc}")
                log.debug("%s: %s", self.lease, exc)
            self._stop.wait(self.renew)

    def close(self) -> None:
        """Stop; a holder gives the Lease up, now (a worker exits right after)."""
        self._stop.set()
        self.release()

    def try_acquire_or_renew(self) -> bool:
        """One round: take the Lease if free or expired, renew it if ours. True if held."""
        try:
            lease = self._read()
        except ApiException as exc:
            if exc.status != 404:
                raise
            return self._create()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), lease["metadata"].get("resourceVersion"))
        if record != self._seen:
            self._seen, self._seen_at = record, self.clock()
        if holder != self.identity:
            if self._renewed is not None:
                self._lost(f"{holder or 'nobody'} holds it now")
            held_for = spec.get("leaseDurationSeconds") or self.duration
            if holder and self.clock() - self._seen_at < held_for:
                return False
        return self._write(lease, taking=holder != self.identity)

    def release(self) -> None:
        """Give the Lease up if this candidate holds it (a holder that stops)."""
        if not self.is_leader():
            return
        try:
            lease = self._read()
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            now = micro_time(self.wall())
            lease["spec"] = {
                **spec,
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "renewTime": now,
                "acquireTime": now,
            }
            self.api.replace_namespaced_lease(
                self.name, self.namespace, lease, _request_timeout=REQUEST_SECONDS
            )
            log.info("%s given up by %s", self.lease, self.identity)
        except (ApiException, OSError) as exc:
            log.warning("%s could not be given up (it expires by itself): %s", self.lease, exc)
        finally:
            self._renewed = None

    def _read(self) -> dict[str, Any]:
        answer = self.api.read_namespaced_lease(
            self.name, self.namespace, _preload_content=False, _request_timeout=REQUEST_SECONDS
        )
        lease: dict[str, Any] = orjson.loads(answer.data)
        return lease

    def _create(self) -> bool:
        now = micro_time(self.wall())
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        began = self.clock()
        try:
            self.api.create_namespaced_lease(self.namespace, body, _request_timeout=REQUEST_SECONDS)
        except ApiException as exc:
            if exc.status == 409:  # another candidate created it first
                return False
            raise
        self._held(began, taking=True)
        return True

    def _write(self, lease: dict[str, Any], *, taking: bool) -> bool:
        now = micro_time(self.wall())
        spec = dict(lease.get("spec") or {})
        if taking:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=self.duration, renewTime=now)
        body = {**lease, "spec": spec}  # metadata keeps the resourceVersion read
        began = self.clock()
        try:
            self.api.replace_namespaced_lease(
                self.name, self.namespace, body, _request_timeout=REQUEST_SECONDS
            )
        except ApiException as exc:
            if exc.status == 409:  # changed since read: someone else wrote it
                if self._renewed is not None:
                    self._lost("it changed under us")
                return False
            raise
        self._held(began, taking=taking)
        return True

    def _held(self, began: float, *, taking: bool) -> None:
        if taking or self._renewed is None:
            log.info("%s taken by %s", self.lease, self.identity)
        self._renewed = began  # counted from before the write: never longer than the server's

    def _lost(self, why: str) -> None:
        log.info("%s lost by %s: %s", self.lease, self.identity, why)
        self._renewed = None
