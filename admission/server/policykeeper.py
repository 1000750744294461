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

import json
import logging
import secrets
import time
from collections.abc import Callable
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

log = logging.getLogger("argo_admission.policykeeper")

RESYNC_SECONDS: Final = 10.0
"""How often the policy and the webhooks are read again when nothing changed here."""
PARAMS_GRACE_SECONDS: Final = 30.0
"""How long the policy may find no index before it is turned off (see _params_lost)."""
WIDEN_GRACE_SECONDS: Final = 5.0
"""How long the webhooks stay widened before the policy is turned off: the API server's webhook
informer sees the widening a moment after the write (milliseconds, seen on the e2e server)."""


class PolicyKeeper:
    """Keeps the policy `installer.name` true to the live policy, one step at a time."""

    def __init__(
        self,
        installer: PolicyInstaller,
        library: tuple[str, str],
        *,
        webhook: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        resync: float = RESYNC_SECONDS,
        grace: float = WIDEN_GRACE_SECONDS,
    ) -> None:
        self.installer, self.library, self.webhook = installer, library, webhook
        self.clock, self.resync, self.grace = clock, resync, grace
        self._last_problem = ""
        self.reset()

    @property
    def names(self) -> list[str]:
        """Every policy (and binding) this server may write."""
        return [self.installer.name, f"{self.installer.name}-exempt"]

    def reset(self) -> None:
        """Forget what was seen: a new term as the Lease's holder starts by reading it all."""
        self.version: str | None = None
        self.narrowed = False
        self.checked = float("-inf")
        self.widened_at: float | None = None
        self.removed = False
        self.blocked = False  # the policy cannot read its index: off until the next term
        self._lost_since: float | None = None
        self._token = ""  # the index token of the probes until the next narrowing
        self._owner: dict[str, Any] | None = None

    def step(self, config: Config) -> None:
        """One look: install, narrow, widen or remove as the live policy says; failures are
        logged (once per kind) and tried again at the next step."""
        try:
            if wanted(config):
                self._keep(config)
            else:
                self._remove()
        except Exception as exc:  # the API server away or refusing: the next step tries again
            self.version = None
            self._say(f"keeping the policy in the API server failed (retrying): {short_error(exc)}")

    def _keep(self, config: Config) -> None:
        if self.blocked:
            return
        now = self.clock()
        self.widened_at, self.removed = None, False
        if self._owner is None:
            self._owner = self.installer.owner_ref() or {}
        objects, version = installed_objects(
            config,
            name=self.installer.name,
            library=self.library,
            owner=self._owner or None,
            webhook=self.webhook,
        )
        due = now - self.checked >= self.resync
        if version == self.version and self.narrowed and not due:
            return
        condition = webhook_condition(config, library=True)
        assert condition is not None  # wanted() says so
        if version != self.version:
            self._install(objects, version)
        elif due and self.installer.apply(objects):  # changed by someone else: proven again
            self._widen("the policy was changed in the API server")
        if due or not self.narrowed:
            self.narrowed = self.installer.is_narrowed(condition)
            self.checked = now
        if not self.narrowed:
            self._narrow(condition, version)

    def _install(self, objects: list[dict[str, Any]], version: str) -> None:
        if self.installer.live_version() != version:
            self._widen(f"policy version {version} replaces what is in the API server")
        self.installer.apply(objects)
        if self._owner:
            self.installer.own_index(self.library, self._owner)
        present = {o["metadata"]["name"] for o in objects}
        self.installer.remove([n for n in self.names if n not in present])
        self.version = version

    def _narrow(self, condition: dict[str, str], version: str) -> None:
        self._token = self._token or secrets.token_hex(8)
        answer = self.installer.probe(version, self.library, self._token)
        problem = probe_problem(self.installer.name, *answer)
        if PARAMS_LOST not in problem:
            self._lost_since = None
        elif self._params_lost(problem):
            return
        if problem:
            self._say(f"the validating webhooks stay as they are: {problem}", level=logging.INFO)
            return
        changed = self.installer.narrow(condition)
        if not (changed or self.installer.is_narrowed(condition)):
            return  # no configuration to narrow yet: the servers register it once Ready
        if changed:
            log.info(
                "narrowed the enforcing webhooks to what the policy %s does not decide "
                "(version %s refused the probe)",
                self.installer.name,
                version,
            )
        self.narrowed = True
        self._last_problem, self._lost_since, self._token = "", None, ""

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

    def _widen(self, why: str) -> None:
        if self.installer.widen(NARROWING):
            log.info("widened the validating webhooks: %s", why)
        self.narrowed = False

    def _remove(self) -> None:
        """Widen, wait out the grace period, then turn the policy off (once per term): its
        bindings made to match nothing, not deleted (INERT says why)."""
        if self.removed:
            return
        now = self.clock()
        if self.widened_at is None:
            self._widen("the live policy is not Strict in enforce mode")
            self.version, self.widened_at = None, now
        if now - self.widened_at < self.grace:
            return
        if self.installer.disable(self.names):
            log.info(
                "turned the policy %s off: the webhooks decide every request", self.installer.name
            )
        self.removed = True

    def _say(self, line: str, *, level: int = logging.WARNING) -> None:
        if line != self._last_problem:
            log.log(level, "%s", line)
            self._last_problem = line


def short_error(exc: Exception) -> str:
    """One line for a failed call: the API server's status and message, else the error."""
    status, body = getattr(exc, "status", None), getattr(exc, "body", None)
    if status is None or not isinstance(body, str | bytes):
        return str(exc)
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        message = body if isinstance(body, str) else body.decode(errors="replace")
    return f"{status} {getattr(exc, 'reason', '')}: {message}".strip()
