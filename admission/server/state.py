"""What every request reads: the current policy, the template source, and readiness.

The policy is loaded once and re-read only when its file changes (size, mtime or inode, polled
at most once a second by a background thread); a bad new file keeps the old policy and logs the
ConfigError. Nothing here parses or calls anything per request.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from admission.core.config import Config, ConfigError, enforces_nothing
from admission.core.controllerconfig import overlay
from admission.core.policy.source import TemplateKey, TemplateLookupError, TemplateSource
from admission.core.policyfile import parse_config
from admission.core.review import Request
from admission.files.policy import load_config

log = logging.getLogger("argo_admission.state")

POLL_SECONDS: Final = 1.0


class LiveSource(Protocol):
    """A template source the server runs: it may need to sync before it is ready."""

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        """The template, or None when it does not exist."""
        ...

    def workflows_using(self, key: TemplateKey) -> Sequence[str]:
        """Unfinished Workflows referencing `key`."""
        ...

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """The Workflow as stored, or None."""
        ...

    def synced(self) -> bool:
        """Whether the source can answer from a complete view (initial lists done)."""
        ...

    def sync_problem(self) -> str:
        """Why it is not synced yet, for /readyz ("" when it is or nothing is known)."""
        ...

    def for_dry_run(self) -> TemplateSource:
        """The same answers, but nothing the lookups find is remembered."""
        ...

    def close(self) -> None:
        """Stop background work."""
        ...


class StaticSource:
    """A source read once (files): always synced; lookups are counted."""

    def __init__(
        self, source: TemplateSource, *, observe: Callable[[str], None] | None = None
    ) -> None:
        self._source = source
        self._observe = observe or (lambda result: None)

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        """The template from the files; a hit when found, a miss when not."""
        try:
            found = self._source.get(key)
        except TemplateLookupError:
            self._observe("error")
            raise
        self._observe("hit" if found is not None else "miss")
        return found

    def workflows_using(self, key: TemplateKey) -> Sequence[str]:
        """Unfinished Workflows referencing `key`, from the files."""
        return self._source.workflows_using(key)

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """The Workflow from the files."""
        return self._source.workflow(namespace, name, fresh=fresh)

    def synced(self) -> bool:
        """Files are read before the server starts."""
        return True

    def sync_problem(self) -> str:
        """Never waits."""
        return ""

    def for_dry_run(self) -> TemplateSource:
        """Files are never written: the same source."""
        return self

    def close(self) -> None:
        """Nothing runs in the background."""


# --- the policy -----------------------------------------------------------------------------


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class PolicyFile:
    """The policy file and the Config last read from it successfully."""

    def __init__(
        self,
        path: str | None,
        *,
        fallback: Config,
        on_reload: Callable[[bool], None] | None = None,
        keep: Path | None = None,
    ) -> None:
        self.path = Path(path) if path else None
        self._on_reload = on_reload or (lambda ok: None)
        self._keep = keep
        self._seen = _signature(self.path) if self.path else None
        self.config = self._first(fallback)

    def _first(self, fallback: Config) -> Config:
        if self.path is None:
            return fallback
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            log.error("policy file is invalid; using the last good policy: %s", exc)
            return self._kept() or fallback
        self._remember(self.path.read_text(encoding="utf-8"))
        return config

    def _kept(self) -> Config | None:
        """The last good policy another worker saved (a worker respawned after a bad edit)."""
        if self._keep is None or not self._keep.exists():
            return None
        try:
            return parse_config(self._keep.read_text(encoding="utf-8"), source=str(self.path))
        except (OSError, ConfigError):
            return None

    def _remember(self, text: str) -> None:
        if self._keep is None:
            return
        tmp = self._keep.with_name(f".{self._keep.name}.{os.getpid()}")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self._keep)
        except OSError as exc:
            log.warning("cannot keep a copy of the policy in %s: %s", self._keep, exc)

    def poll(self) -> bool:
        """Re-read the file if it changed; True when a new policy took effect."""
        if self.path is None:
            return False
        seen = _signature(self.path)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            text = self.path.read_text(encoding="utf-8")
            config = parse_config(text, source=str(self.path))
        except (OSError, UnicodeDecodeError) as exc:
            return self._failed(ConfigError(str(self.path), [f"cannot read: {exc}"]))
        except ConfigError as exc:
            return self._failed(exc)
        self.config = config
        self._remember(text)
        self._on_reload(True)
        log.info(
            "policy reloaded from %s (templateReferencing=%r, mode=%s)",
            self.path,
            config.template_referencing,
            config.mode,
        )
        return True

    def _failed(self, exc: ConfigError) -> bool:
        self._on_reload(False)
        log.error("policy file changed but is invalid; keeping the previous policy: %s", exc)
        return False


class LiveConfigMap(Protocol):
    """Argo's controller ConfigMap as a watch keeps it (admission/cluster/argoconfigmap.py)."""

    data: dict[str, Any] | None
    version: int

    @property
    def source(self) -> str:
        """How the ConfigMap is named in messages."""
        ...

    def synced(self) -> bool:
        """Whether the first list has completed."""
        ...

    def sync_problem(self) -> str:
        """Why the first list has not completed ("" when unknown or done)."""
        ...

    def close(self) -> None:
        """Stop the watch."""
        ...


class State:
    """The live state behind the app: policy, templates, readiness, background polling."""

    def __init__(
        self, policy: PolicyFile, templates: LiveSource, controller: LiveConfigMap | None = None
    ) -> None:
        self.policy = policy
        self.templates = templates
        self.controller = controller
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._applied: tuple[int, int] = (0, -1)
        self._combined = policy.config
        self._closers: list[Callable[[], None]] = []
        self.before_admit: Callable[[Request], None] | None = None
        """Called before a validating allow of a write (the library index's marker)."""

    @property
    def config(self) -> Config:
        """The policy in force now: the file's, with Argo's ConfigMap's restrictions and defaults.

        Recomputed only when the file or the ConfigMap changed (reloads swap it whole).
        """
        base = self.policy.config
        if self.controller is None:
            return base
        seen = (id(base), self.controller.version)
        if seen != self._applied:
            self._combined = self._combine(base)
            self._applied = seen
        return self._combined

    def _combine(self, base: Config) -> Config:
        assert self.controller is not None
        data = self.controller.data
        if data is None:
            return base
        try:
            combined = overlay(base, data, source=self.controller.source)
        except ConfigError as exc:
            log.error("%s is invalid; keeping the values in force: %s", self.controller.source, exc)
            return self._combined
        log.info(
            "%s in force: templateReferencing=%r",
            self.controller.source,
            combined.template_referencing,
        )
        idle = enforces_nothing(combined)
        if idle:
            log.warning("%s", idle)
        return combined

    def source(self, *, dry_run: bool) -> TemplateSource:
        """The template source for one request; a dry run changes no cache."""
        return self.templates.for_dry_run() if dry_run else self.templates

    def readiness(self) -> list[str]:
        """What is not ready yet ([] when ready to serve)."""
        waiting = (
            []
            if self.templates.synced()
            else [_why("template cache not synced", self.templates.sync_problem())]
        )
        if self.controller is not None and not self.controller.synced():
            waiting.append(
                _why(f"{self.controller.source} not read yet", self.controller.sync_problem())
            )
        return waiting

    def start(self) -> None:
        """Start watching the policy file."""
        if self.policy.path is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="policy-file", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.policy.poll()
            except Exception:  # the watcher must outlive any surprise
                log.exception("policy file poll failed")

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call `closer` when the state closes (a background task of this worker)."""
        self._closers.append(closer)

    def close(self) -> None:
        """Stop the policy watcher, the template source and what was handed to on_close."""
        self._stop.set()
        for closer in self._closers:
            closer()
        self.templates.close()
        if self.controller is not None:
            self.controller.close()


def _why(what: str, problem: str) -> str:
    """`what: problem`, or `what` when the problem is not known."""
    return f"{what}: {problem}" if problem else what
