"""`serve --register-mutating-policy`: the holder of its Lease keeps the exported
MutatingAdmissionPolicy in the API server, from the live policy, and narrows the mutating
webhook only once that version is proven to mutate.

While the live policy has a baseline to export (mapinstall.wanted): the webhook is widened
before another version of the policy is written, the policy and its binding are written, and the
webhook is narrowed (mutatingpolicy.webhook_condition) once a dry-run probe template comes back
with that version's mark. Otherwise: widened first, the binding turned off a grace period later
(made to match nothing, never deleted, as the validating policy's: vapinstall.INERT). Every
RESYNC_SECONDS it looks again: a server starting registers the configurations it was given,
un-narrowed, and the next look narrows them again. The same steps as policykeeper.py, without
an index: the loop here is its own, with its own Lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from admission.cluster.leases import LeaseElector
from admission.cluster.mapregistration import MapInstaller
from admission.core.config import Config
from admission.core.mapinstall import NARROWING, installed_objects, probe_problem, wanted
from admission.core.mutatingpolicy import webhook_condition
from admission.server.policykeeper import RESYNC_SECONDS, WIDEN_GRACE_SECONDS, short_error

log = logging.getLogger("argo_admission.mapkeeper")

POLL_SECONDS: Final = 1.0
"""The longest wait between two looks (a reload of the policy, the Lease)."""


class MapKeeper:
    """Keeps the policy `installer.name` true to the live policy, one step at a time."""

    def __init__(
        self,
        installer: MapInstaller,
        *,
        webhook: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        resync: float = RESYNC_SECONDS,
        grace: float = WIDEN_GRACE_SECONDS,
    ) -> None:
        self.installer, self.webhook = installer, webhook
        self.clock, self.resync, self.grace = clock, resync, grace
        self._last_problem = ""
        self.reset()

    def reset(self) -> None:
        """Forget what was seen: a new term as the Lease's holder starts by reading it all."""
        self.version: str | None = None
        self.narrowed = False
        self.checked = float("-inf")
        self.widened_at: float | None = None
        self.removed = False
        self._owner: dict[str, Any] | None = None

    def step(self, config: Config) -> None:
        """One look: install, narrow, widen or turn off as the live policy says; failures are
        logged (once per kind) and tried again at the next step."""
        try:
            if wanted(config):
                self._keep(config)
            else:
                self._remove()
        except Exception as exc:  # the API server away or refusing: the next step tries again
            self.version = None
            self._say(f"keeping the mutating policy in the API server failed: {short_error(exc)}")

    def _keep(self, config: Config) -> None:
        now = self.clock()
        self.widened_at, self.removed = None, False
        if self._owner is None:
            self._owner = self.installer.owner_ref() or {}
        objects, version = installed_objects(
            config, name=self.installer.name, owner=self._owner or None, webhook=self.webhook
        )
        due = now - self.checked >= self.resync
        if version == self.version and self.narrowed and not due:
            return
        condition = webhook_condition(config)
        assert condition is not None  # wanted() says so
        if version != self.version:
            if self.installer.live_version() != version:
                self._widen(f"mutating policy version {version} replaces the one in place")
            self.installer.apply(objects)
            self.version = version
        elif due and self.installer.apply(objects):  # changed by someone else: proven again
            self._widen("the mutating policy was changed in the API server")
        if due or not self.narrowed:
            self.narrowed = self.installer.is_narrowed(condition)
            self.checked = now
        if not self.narrowed:
            self._narrow(condition, version)

    def _narrow(self, condition: dict[str, str], version: str) -> None:
        problem = probe_problem(version, *self.installer.probe())
        if problem:
            self._say(f"the mutating webhook stays as it is: {problem}", level=logging.INFO)
            return
        changed = self.installer.narrow(condition)
        if not (changed or self.installer.is_narrowed(condition)):
            return  # no configuration to narrow yet: the servers register it once Ready
        if changed:
            log.info(
                "narrowed the mutating webhook to what the policy %s does not change "
                "(version %s marked the probe)",
                self.installer.name,
                version,
            )
        self.narrowed, self._last_problem = True, ""

    def _widen(self, why: str) -> None:
        if self.installer.widen(NARROWING):
            log.info("widened the mutating webhook: %s", why)
        self.narrowed = False

    def _remove(self) -> None:
        """Widen, wait out the grace period, then turn the binding off (once per term)."""
        if self.removed:
            return
        now = self.clock()
        if self.widened_at is None:
            self._widen("the live policy has no baseline to fill in the API server")
            self.version, self.widened_at = None, now
        if now - self.widened_at < self.grace:
            return
        if self.installer.disable():
            log.info(
                "turned the mutating policy %s off: the webhook mutates every request",
                self.installer.name,
            )
        self.removed = True

    def _say(self, line: str, *, level: int = logging.WARNING) -> None:
        if line != self._last_problem:
            log.log(level, "%s", line)
            self._last_problem = line


class MapKeeperLoop:
    """Steps `keeper` every POLL_SECONDS while this server is Ready and holds `elector`'s
    Lease; a lost term forgets what was seen."""

    def __init__(
        self,
        keeper: MapKeeper,
        elector: LeaseElector,
        *,
        config: Callable[[], Config],
        ready: Callable[[], bool],
    ) -> None:
        self.keeper, self.elector, self.config, self.ready = keeper, elector, config, ready
        self._stop = threading.Event()

    def start(self) -> Callable[[], None]:
        """Elect and keep in the background (in each worker, after the fork); the closer."""
        self.elector.start()
        threading.Thread(target=self.run, name="mutating-policy", daemon=True).start()
        return self.close

    def close(self) -> None:
        """Stop keeping and give the Lease up."""
        self._stop.set()
        self.elector.close()

    def run(self) -> None:
        """One step a poll while holding the Lease."""
        while not self._stop.is_set():
            if self.ready() and self.elector.is_leader():
                self.keeper.step(self.config())
            else:
                self.keeper.reset()
            self._stop.wait(POLL_SECONDS)
