"""The steps that keep an exported admission policy in the API server, whichever its kind: the
webhook widened before another version is written, the policy and its binding written, the
webhook narrowed only once a dry-run probe proves that version in force; when the live policy
no longer wants it, widened first and the binding turned off a grace period later (made to
match nothing, never deleted: vapinstall.INERT). Every RESYNC_SECONDS it looks again: a server
starting registers the configurations it was given, un-narrowed, and the next look narrows them
again. policykeeper.py (the ValidatingAdmissionPolicy, with its library index) and mapkeeper.py
(the MutatingAdmissionPolicy) say what to write, how to probe and what to turn off.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, Final

from admission.cluster.policywriter import PolicyWriter
from admission.core.config import Config

log = logging.getLogger("argo_admission.keeper")

RESYNC_SECONDS: Final = 10.0
"""How often the policy and the webhooks are read again when nothing changed here."""
WIDEN_GRACE_SECONDS: Final = 5.0
"""How long the webhooks stay widened before the policy is turned off: the API server's webhook
informer sees the widening a moment after the write (milliseconds, seen on the e2e server)."""


class Keeper:
    """Keeps the policy `installer.name` true to the live policy, one step at a time. A
    subclass names it (NOUN), its webhooks (WEBHOOKS), the condition that narrows them
    (NARROWING) and the lines it logs, and says what to write, how to probe and to turn off."""

    NOUN: ClassVar[str]
    WEBHOOKS: ClassVar[str]
    NARROWING: ClassVar[str]
    FAILED: ClassVar[str]  # the line a failed step starts with
    NOT_WANTED: ClassVar[str]  # why the webhooks are widened when the policy is not wanted
    NARROWED: ClassVar[str]  # logged with the policy's name and version once narrowed
    TURNED_OFF: ClassVar[str]  # logged with the policy's name once turned off

    def __init__(
        self,
        installer: PolicyWriter,
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

    # --- what a subclass says ------------------------------------------------------------

    def wanted(self, config: Config) -> bool:
        raise NotImplementedError

    def objects(self, config: Config) -> tuple[list[dict[str, Any]], str]:
        """The objects to write for `config` and their version."""
        raise NotImplementedError

    def condition(self, config: Config) -> dict[str, str]:
        """The matchCondition that narrows the webhooks (wanted() holds)."""
        raise NotImplementedError

    def probe(self, version: str) -> str | None:
        """Why the probe does not prove `version` in force ("" when it does; None: stop this
        step without a word)."""
        raise NotImplementedError

    def disable(self) -> bool:
        """Turn the policy's binding(s) off; whether anything changed."""
        raise NotImplementedError

    def installed(self, objects: list[dict[str, Any]]) -> None:
        """After a new version is written (the validating policy: its index, old pairs)."""

    def proven(self) -> None:
        """After the webhooks are narrowed."""

    # --- the steps ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget what was seen: a new term as the Lease's holder starts by reading it all."""
        self.version: str | None = None
        self.narrowed = False
        self.checked = float("-inf")
        self.widened_at: float | None = None
        self.removed = False
        self.blocked = False  # off until the next term (the validating policy: no index)
        self._owner: dict[str, Any] | None = None

    def step(self, config: Config) -> None:
        """One look: install, narrow, widen or turn off as the live policy says; failures are
        logged (once per kind) and tried again at the next step."""
        try:
            if self.wanted(config):
                self._keep(config)
            else:
                self._remove()
        except Exception as exc:  # the API server away or refusing: the next step tries again
            self.version = None
            self._say(f"{self.FAILED}: {short_error(exc)}")

    def _keep(self, config: Config) -> None:
        if self.blocked:
            return
        now = self.clock()
        self.widened_at, self.removed = None, False
        if self._owner is None:
            self._owner = self.installer.owner_ref() or {}
        objects, version = self.objects(config)
        due = now - self.checked >= self.resync
        if version == self.version and self.narrowed and not due:
            return
        condition = self.condition(config)
        if version != self.version:
            self._install(objects, version)
        elif due and self.installer.apply(objects):  # changed by someone else: proven again
            self._widen(f"the {self.NOUN} was changed in the API server")
        if due or not self.narrowed:
            self.narrowed = self.installer.is_narrowed(condition)
            self.checked = now
        if not self.narrowed:
            self._narrow(condition, version)

    def _install(self, objects: list[dict[str, Any]], version: str) -> None:
        if self.installer.live_version() != version:
            self._widen(f"{self.NOUN} version {version} replaces what is in the API server")
        self.installer.apply(objects)
        self.installed(objects)
        self.version = version

    def _narrow(self, condition: dict[str, str], version: str) -> None:
        problem = self.probe(version)
        if problem is None:
            return
        if problem:
            self._say(f"not narrowing the {self.WEBHOOKS}: {problem}", level=logging.INFO)
            return
        changed = self.installer.narrow(condition)
        if not (changed or self.installer.is_narrowed(condition)):
            return  # no configuration to narrow yet: the servers register it once Ready
        if changed:
            log.info(self.NARROWED, self.installer.name, version)
        self.narrowed, self._last_problem = True, ""
        self.proven()

    def _widen(self, why: str) -> None:
        if self.installer.widen(self.NARROWING):
            log.info("widened the %s: %s", self.WEBHOOKS, why)
        self.narrowed = False

    def _remove(self) -> None:
        """Widen, wait out the grace period, then turn the policy off (once per term)."""
        if self.removed:
            return
        now = self.clock()
        if self.widened_at is None:
            self._widen(self.NOT_WANTED)
            self.version, self.widened_at = None, now
        if now - self.widened_at < self.grace:
            return
        if self.disable():
            log.info(self.TURNED_OFF, self.installer.name)
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
