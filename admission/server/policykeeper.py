"""`serve --register-policy`: the holder of the library Lease keeps the exported policy in the
API server, from the live policy, and narrows the validating webhooks only once it is in force.

Called by the library index's loop (libraryparam.py) once the index is written, so the policy's
paramRef never names a ConfigMap that is not there. While the live policy is Strict in enforce
mode (vapinstall.wanted): the webhooks are widened before another version of the policy is
written, the policy and its binding are written, and the webhooks are narrowed once a dry-run
probe is refused by that version's `[strict]` line. Otherwise: widened first, the policy turned
off a grace period later (the API server's webhook informer lags behind the write too): its
bindings made to match nothing, not deleted (vapinstall.INERT says why). Every
RESYNC_SECONDS it looks again: a server starting registers the configurations it was given,
un-narrowed, and the next look narrows them again.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

from admission.cluster.policyregistration import PolicyInstaller
from admission.core.config import Config
from admission.core.vap import webhook_condition
from admission.core.vapinstall import (
    NARROWING,
    PARAMS_LOST,
    installed_objects,
    probe_problem,
    wanted,
)
from admission.server.keeper import Keeper

log = logging.getLogger("argo_admission.policykeeper")

PARAMS_GRACE_SECONDS: Final = 30.0
"""How long the policy may find no index before it is turned off (see _params_lost)."""


class PolicyKeeper(Keeper):
    """Keeps the ValidatingAdmissionPolicy `installer.name` and its library index's reader."""

    installer: PolicyInstaller
    NOUN = "policy"
    WEBHOOKS = "validating webhooks"
    NARROWING = NARROWING
    FAILED = "keeping the policy in the API server failed (retrying)"
    NOT_WANTED = "the live policy is not Strict in enforce mode"
    NARROWED = (
        "narrowed the enforcing webhooks to what the policy %s does not decide "
        "(version %s refused the probe)"
    )
    TURNED_OFF = "turned the policy %s off: the webhooks decide every request"

    def __init__(
        self, installer: PolicyInstaller, library: tuple[str, str], **options: Any
    ) -> None:
        self.library = library
        super().__init__(installer, **options)

    @property
    def names(self) -> list[str]:
        """Every policy (and binding) this server may write: an `-exempt` pair too, which an
        earlier export wrote beside the policy."""
        return [self.installer.name, f"{self.installer.name}-exempt"]

    def reset(self) -> None:
        super().reset()
        self._lost_since: float | None = None
        self._token = ""  # the index token of the probes until the next narrowing

    def wanted(self, config: Config) -> bool:
        return wanted(config)

    def objects(self, config: Config) -> tuple[list[dict[str, Any]], str]:
        return installed_objects(
            config,
            name=self.installer.name,
            library=self.library,
            owner=self._owner or None,
            webhook=self.webhook,
        )

    def condition(self, config: Config) -> dict[str, str]:
        condition = webhook_condition(config, library=True)
        assert condition is not None  # wanted() says so
        return condition

    def installed(self, objects: list[dict[str, Any]]) -> None:
        if self._owner:
            self.installer.own_index(self.library, self._owner)
        present = {o["metadata"]["name"] for o in objects}
        self.installer.remove([n for n in self.names if n not in present])

    def probe(self, version: str) -> str | None:
        self._token = self._token or secrets.token_hex(8)
        answer = self.installer.probe(version, self.library, self._token)
        problem = probe_problem(self.installer.name, *answer)
        if PARAMS_LOST not in problem:
            self._lost_since = None
        elif self._params_lost(problem):
            return None
        return problem

    def proven(self) -> None:
        self._lost_since, self._token = None, ""

    def disable(self) -> bool:
        return bool(self.installer.disable(self.names))

    def _params_lost(self, problem: str) -> bool:
        """The binding finds no index although it is written: for a moment after the index is
        created (the API server's informer lags), for good once its ConfigMap param informer
        stopped (kubernetes/kubernetes#130887), when the policy refuses every CREATE. Past
        PARAMS_GRACE_SECONDS the policy is turned off for this term; whether it was."""
        now = self.clock()
        if self._lost_since is None:
            self._lost_since = now
        if now - self._lost_since < PARAMS_GRACE_SECONDS:
            return False
        self.installer.disable(self.names)
        self.blocked = True
        log.error(
            "turned the policy %s off: the API server finds no library index for it (%s); its "
            "informer of ConfigMap params has stopped (kubernetes/kubernetes#130887) and only a "
            "restart of kube-apiserver starts it again; the webhooks decide every request",
            self.installer.name,
            problem,
        )
        return True
