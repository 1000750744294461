"""Keeps a local copy of one API resource: list, then watch from there, as client-go does.

The list replaces the copy whole; each watch event adds, changes or removes one object. A watch
that expires (410 Gone) lists again at once; any other failure (API server restarting,
connection dropped) is retried with exponential backoff from the last resourceVersion seen.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

import orjson
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger("argo_admission.reflector")

GROUP: Final = "argoproj.io"
VERSION: Final = "v1alpha1"
PAGE: Final = 500
WATCH_SECONDS: Final = 300
CONNECT_SECONDS: Final = 10.0


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class Backoff:
    """Exponential delays with jitter, 0.5 s doubling to 30 s; reset after a success."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first, self.cap, self.current = first, cap, first

    def next(self) -> float:
        """The next delay to wait."""
        delay = self.current * random.uniform(0.8, 1.2)
        self.current = min(self.current * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Start again from the first delay."""
        self.current = self.first


class Reflector:
    """Lists and watches one resource (all namespaces) into `replace` and `apply` callbacks.

    By default the resource is an Argo custom object; `lister` (a kubernetes client list method
    with its namespace and selectors bound) lists and watches anything else.
    """

    def __init__(
        self,
        api: client.CustomObjectsApi,
        plural: str,
        *,
        replace: Callable[[list[dict[str, Any]]], None],
        apply: Callable[[str, dict[str, Any]], None],
        stop: threading.Event,
        label_selector: str | None = None,
        lister: Callable[..., Any] | None = None,
    ) -> None:
        self.api, self.plural = api, plural
        self.lister = lister
        self.replace, self.apply = replace, apply
        self.stop, self.label_selector = stop, label_selector
        self.synced = threading.Event()
        self.problem = ""
        """Why the first list has not completed yet ("" once it has, or before it failed)."""

    def run(self) -> None:
        """Keep the callbacks fed until `stop` is set."""
        backoff, version = Backoff(), None
        while not self.stop.is_set():
            try:
                if version is None:
                    version = self._list()
                    self.synced.set()
                    self.problem = ""
                version = self._watch(version)
                backoff.reset()
            except Gone:
                log.info("watch of %s expired; listing again", self.plural)
                version = None
            except Exception as exc:  # the API server may come and go; the loop must not
                delay = backoff.next()
                if not self.synced.is_set():  # /readyz says why it waits
                    self.problem = f"{self.plural} {_describe(exc)}"
                log.warning(
                    "list/watch of %s failed (retrying in %.1fs): %s",
                    self.plural,
                    delay,
                    _describe(exc),
                )
                self.stop.wait(delay)

    def _list(self) -> str:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._call(limit=PAGE, _continue=token, _request_timeout=(CONNECT_SECONDS, 60))
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                break
        self.replace(items)
        log.info("listed %d %s", len(items), self.plural)
        return str(meta.get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        seconds = int(WATCH_SECONDS * random.uniform(1.0, 2.0))  # spread re-watches out
        resp = self._call(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=seconds,
            _request_timeout=(CONNECT_SECONDS, seconds + 30),
        )
        try:
            for event in _events(resp):
                version = self._event(event) or version
                if self.stop.is_set():
                    break
        finally:
            resp.release_conn()
        return version

    def _event(self, event: dict[str, Any]) -> str | None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise ApiException(status=obj.get("code"), reason=obj.get("message"))
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.apply(str(kind), obj)
        return (obj.get("metadata") or {}).get("resourceVersion")

    def _call(self, **kwargs: Any) -> Any:
        try:
            if self.lister is not None:  # another resource than an Argo custom object
                resp: Any = self.lister(_preload_content=False, **kwargs)
            else:
                resp = self.api.list_cluster_custom_object(
                    GROUP,
                    VERSION,
                    self.plural,
                    label_selector=self.label_selector,
                    _preload_content=False,
                    **kwargs,
                )
        except ApiException as exc:
            if exc.status == 410:
                raise Gone() from exc
            raise
        if kwargs.get("watch"):
            return resp
        return orjson.loads(resp.data)


def _events(resp: Any) -> Iterator[dict[str, Any]]:
    for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
        if line.strip():
            yield orjson.loads(line)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}".strip()
    return f"{type(exc).__name__}: {exc}"
