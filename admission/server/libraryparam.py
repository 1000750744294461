"""The library index in the cluster: the server holding its Lease keeps the ConfigMap the
ValidatingAdmissionPolicy reads through paramRef (admission/core/vapindex.py says what it holds).

The holder writes it on taking the Lease and again at every change its template watch sees
(admission/cluster/kube.py), when the index it computes differs from the last one written; a
policy reload is picked up within a second. While no server holds the Lease the ConfigMap keeps
its last content: templates taken out of the library meanwhile stay listed. So template changes
go through the validating webhook (failurePolicy Fail): with no server running none is admitted,
and the index cannot fall behind the library (README: In the API server).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from admission.cluster import core_api
from admission.cluster.configmaps import ConfigMapError, patch_config_map_entry, put_config_map
from admission.cluster.kube import KubeTemplateSource
from admission.cluster.leases import LeaseElector
from admission.core.config import Config
from admission.core.review import Request
from admission.core.vapindex import leaving, library_index

log = logging.getLogger("argo_admission.libraryparam")

LABELS: Final = {"app.kubernetes.io/managed-by": "argo-admission"}
LEASE: Final = "argo-admission-library"
POLL_SECONDS: Final = 1.0
"""The longest wait between two looks (a reload of the policy, the Lease)."""
RESYNC_SECONDS: Final = 10.0
"""How often the holder looks whether the ConfigMap is still there: deleted by someone, it is
written again (the policy refuses every CREATE without it). Only then: an index written over
the one-key mark of a template leaving the library, before the watch sees it leave, would
list it again for that moment."""


class LibraryParam:
    """Keeps ConfigMap namespace/name equal to the library index while holding the Lease."""

    def __init__(
        self,
        api_client: Any,
        target: tuple[str, str],
        *,
        elector: LeaseElector,
        source: KubeTemplateSource,
        config: Callable[[], Config],
        ready: Callable[[], bool],
        keeper: Any = None,
    ) -> None:
        self.api = core_api(api_client)
        self.target, self.elector, self.source = target, elector, source
        self.config, self.ready = config, ready
        self.keeper = keeper  # the policy in the API server (policykeeper.py), if asked
        self._stop = threading.Event()
        self._written: dict[str, str] | None = None
        self._synced = float("-inf")

    def start(self) -> None:
        """Elect and write in the background (in each worker, after the fork)."""
        self.elector.start()
        threading.Thread(target=self.run, name="library-param", daemon=True).start()

    def close(self) -> None:
        """Stop writing and give the Lease up."""
        self._stop.set()
        self.elector.close()

    def run(self) -> None:
        """Write at once on holding the Lease, then at every change of the templates."""
        seen = -1
        while not self._stop.is_set():
            generation = self.source.wait_changed(seen, POLL_SECONDS)
            if not (self.ready() and self.elector.is_leader()):
                self._written = None  # a new term writes afresh
                if self.keeper is not None:
                    self.keeper.reset()
                self._stop.wait(POLL_SECONDS)
                continue
            if time.monotonic() - self._synced >= RESYNC_SECONDS:
                self._synced = time.monotonic()
                if self._missing():
                    self._written = None  # written again below
                    if self.keeper is not None:
                        self.keeper.reset()  # looks at the policy afresh: owns the new index
            try:
                self.write_once()
                seen = generation
            except Exception:  # the loop must outlive any surprise; the next change tries again
                log.exception("the library index could not be written")
                self._stop.wait(POLL_SECONDS)
                continue
            if self.keeper is not None:  # the index is in place: the policy may read it
                self.keeper.step(self.config())

    def _missing(self) -> bool:
        """Whether the ConfigMap is gone (a failed look says no: the next look asks again)."""
        namespace, name = self.target
        try:
            self.api.read_namespaced_config_map(name, namespace)
        except Exception as exc:  # the client's ApiException, read without importing it here
            return getattr(exc, "status", None) == 404
        return False

    def write_once(self) -> bool:
        """Compute the index and write it when it changed; whether it was written."""
        data = library_index(self.config(), self.source.templates(), self.source)
        if data == self._written:
            return False
        namespace, name = self.target
        try:
            wrote = put_config_map(self.api, namespace, name, data, labels=LABELS)
        except ConfigMapError as exc:
            log.error("the library index was not written: %s", exc)
            raise
        self._written = data
        if wrote:
            log.info(
                "library index %s/%s: %d template(s)",
                namespace,
                name,
                len(data),
                extra={"templates": len(data)},
            )
        return wrote


def start_library_param(
    api_client: Any,
    target: str,
    source: object,
    *,
    config: Callable[[], Config],
    ready: Callable[[], bool],
    keeper: Any = None,
) -> Callable[[], None]:
    """Start keeping `target` (NAMESPACE/NAME) in this worker, a candidate for the Lease
    `<namespace>/argo-admission-library`, and with `keeper` the policy that reads it; its
    closer."""
    if not isinstance(source, KubeTemplateSource):
        raise TypeError("the library index is read from the cluster's template watch")
    namespace, name = target.split("/", 1)
    writer = LibraryParam(
        api_client,
        (namespace, name),
        elector=LeaseElector(api_client, namespace, LEASE),
        source=source,
        config=config,
        ready=ready,
        keeper=keeper,
    )
    writer.start()
    return writer.close


def marker(api_client: Any, target: str, config: Callable[[], Config]) -> Callable[[Request], None]:
    """What every worker calls before admitting a template write: a template leaving the
    library is marked in the index first; raises ConfigMapError when it cannot be (the write
    is then refused)."""
    namespace, name = target.split("/", 1)
    api = core_api(api_client)

    def mark(request: Request) -> None:
        change = leaving(config(), request)
        if change is not None:
            patch_config_map_entry(api, namespace, name, *change)

    return mark
