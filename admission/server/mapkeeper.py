"""`serve --register-mutating-policy`: the holder of its Lease keeps the exported
MutatingAdmissionPolicy in the API server, from the live policy, and narrows the mutating
webhook only once that version is proven to mutate.

While the live policy has a baseline to export (mapinstall.wanted): the webhook is widened
before another version of the policy is written, the policy and its binding are written, and the
webhook is narrowed (mutatingpolicy.webhook_condition) once a dry-run probe template comes back
with that version's mark. Otherwise: widened first, the binding turned off a grace period later
(made to match nothing, never deleted, as the validating policy's: vapinstall.INERT). Every
RESYNC_SECONDS it looks again: a server starting registers the configurations it was given,
un-narrowed, and the next look narrows them again. The steps are keeper.py's, as for the
validating policy, without an index: the loop here is its own, with its own Lease.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from admission.cluster.leases import LeaseElector
from admission.cluster.mapregistration import MapInstaller
from admission.core.config import Config
from admission.core.mapinstall import NARROWING, installed_objects, probe_problem, wanted
from admission.core.mutatingpolicy import webhook_condition
from admission.server.keeper import Keeper

POLL_SECONDS: Final = 1.0
"""The longest wait between two looks (a reload of the policy, the Lease)."""


class MapKeeper(Keeper):
    """Keeps the MutatingAdmissionPolicy `installer.name`."""

    installer: MapInstaller
    NOUN = "mutating policy"
    WEBHOOKS = "mutating webhook"
    NARROWING = NARROWING
    FAILED = "keeping the mutating policy in the API server failed"
    NOT_WANTED = "the live policy has no baseline to fill in the API server"
    NARROWED = (
        "narrowed the mutating webhook to what the policy %s does not change "
        "(version %s marked the probe)"
    )
    TURNED_OFF = "turned the mutating policy %s off: the webhook mutates every request"

    def wanted(self, config: Config) -> bool:
        return wanted(config)

    def objects(self, config: Config) -> tuple[list[dict[str, Any]], str]:
        return installed_objects(
            config, name=self.installer.name, owner=self._owner or None, webhook=self.webhook
        )

    def condition(self, config: Config) -> dict[str, str]:
        condition = webhook_condition(config)
        assert condition is not None  # wanted() says so
        return condition

    def probe(self, version: str) -> str | None:
        return probe_problem(version, *self.installer.probe())

    def disable(self) -> bool:
        return self.installer.disable()


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
