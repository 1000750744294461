"""Argo's workflow-controller ConfigMap where it lives, kept current by a watch.

The pure part, laying the ConfigMap's values over the policy, is admission/core/controllerconfig.py.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from kubernetes import client

from admission.cluster.kube import single_try
from admission.cluster.reflector import Reflector

log = logging.getLogger("argo_admission.kube")


class ControllerConfigMap:
    """Argo's workflow-controller ConfigMap where it lives, kept current by a watch.

    `data` is the ConfigMap's data as last seen (None before the first list, or while the
    ConfigMap does not exist); `version` changes with every event, so readers can tell a new
    ConfigMap from the one they have already applied.
    """

    def __init__(self, configuration: client.Configuration, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name
        self.data: dict[str, Any] | None = None
        self.version = 0
        self._stop = threading.Event()
        core = client.CoreV1Api(client.ApiClient(single_try(configuration)))
        self._reflector = Reflector(
            client.CustomObjectsApi(client.ApiClient(single_try(configuration))),
            "configmaps",
            replace=self._replace,
            apply=self._apply,
            stop=self._stop,
            lister=functools.partial(
                core.list_namespaced_config_map, namespace, field_selector=f"metadata.name={name}"
            ),
        )

    @property
    def source(self) -> str:
        """How the ConfigMap is named in messages."""
        return f"ConfigMap {self.namespace}/{self.name}"

    def _replace(self, items: list[dict[str, Any]]) -> None:
        if items:
            self._set(items[0])
        elif self.data is None:
            log.warning(
                "%s does not exist (yet): the policy file's values stay in force", self.source
            )

    def _apply(self, event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED":
            # Keep what was in force rather than fall open. Argo's controller (v3.7.18 and
            # v4.0.5) exits when its ConfigMap is deleted and cannot start without it, so no
            # Workflow runs under values the door no longer knows.
            log.warning("%s was deleted; its last values stay in force", self.source)
            return
        self._set(obj)

    def _set(self, obj: dict[str, Any] | None) -> None:
        data = obj.get("data") if isinstance(obj, dict) else None
        self.data = dict(data) if isinstance(data, dict) else ({} if obj is not None else None)
        self.version += 1

    def start(self) -> None:
        """Start the list/watch thread (in each worker, after the fork)."""
        threading.Thread(
            target=self._reflector.run, name=f"watch-configmap-{self.name}", daemon=True
        ).start()

    def synced(self) -> bool:
        """Whether the first list has completed."""
        return self._reflector.synced.is_set()

    def sync_problem(self) -> str:
        """Why the first list has not completed ("" when it has, or has not failed)."""
        return "" if self.synced() else self._reflector.problem

    def close(self) -> None:
        """Stop the watch."""
        self._stop.set()
