"""Running Workflows, kept by a watch for the task-result rule: a bounded cache keyed by UID.

Every executor write of a WorkflowTaskResult (and an agent's WorkflowTaskSet status) is decided
against its Workflow, about three times a step. This cache answers those lookups without asking
the API server: a reflector (admission/cluster/reflector.py) lists and watches the unfinished
Workflows (label `workflows.argoproj.io/completed!=true`), and each is kept as compact JSON,
reduced to what the rules that look Workflows up read.

- Keyed by UID, with a (namespace, name) index: the DELETED event of an old Workflow never
  removes a new one of the same name.
- Bounded: at most `max_size` Workflows, the least recently used (looked up or changed) dropped
  first. A dropped one is a miss: the lookup falls back to one GET.
- Finished Workflows are dropped: when the controller labels one completed, the watch says it
  left the selector (DELETED); a phase that is already final drops it as well.

What is kept: metadata without managedFields, the whole spec, and of the status the phase, the
nodes (whole or compressed), offloadNodeStatusVersion, storedTemplates and
storedWorkflowTemplateSpec - what taskresults.py, podclaims.py and resubmit.py read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

import orjson

from admission.cluster.reflector import GROUP, VERSION
from admission.core.objects import is_finished, metadata_of

STATUS_KEPT: Final = (
    "phase",
    "nodes",
    "compressedNodes",
    "offloadNodeStatusVersion",
    "storedTemplates",
    "storedWorkflowTemplateSpec",
)
DEFAULT_SIZE: Final = 10_000


def reduced(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Workflow with only what the lookup rules read."""
    meta = {k: v for k, v in metadata_of(obj).items() if k != "managedFields"}
    status = obj.get("status")
    kept = {k: status[k] for k in STATUS_KEPT if k in status} if isinstance(status, dict) else {}
    out = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workflow", "metadata": meta}
    if "spec" in obj:
        out["spec"] = obj["spec"]
    if kept:
        out["status"] = kept
    return out


class WorkflowCache:
    """Unfinished Workflows by UID, at most `max_size`, least recently used dropped first."""

    def __init__(self, max_size: int = DEFAULT_SIZE) -> None:
        self.max_size = max_size
        self._lock = threading.Lock()
        self._by_uid: OrderedDict[str, bytes] = OrderedDict()
        self._uids: dict[tuple[str, str], str] = {}
        self._names: dict[str, tuple[str, str]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_uid)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A fresh copy of the cached Workflow, or None when it is not cached."""
        with self._lock:
            uid = self._uids.get((namespace, name))
            data = self._by_uid.get(uid) if uid is not None else None
            if data is None:
                return None
            self._by_uid.move_to_end(uid)  # type: ignore[arg-type]
        found: dict[str, Any] = orjson.loads(data)
        return found

    def replace(self, items: list[dict[str, Any]]) -> None:
        """A new list: the cache holds these (the newest `max_size` of them), nothing else."""
        with self._lock:
            self._by_uid.clear()
            self._uids.clear()
            self._names.clear()
            for obj in items:
                self._put(obj)

    def apply(self, event: str, obj: dict[str, Any]) -> None:
        """One watch event: added or changed (kept unless finished), or deleted."""
        with self._lock:
            if event == "DELETED" or is_finished(obj):
                self._drop(str(metadata_of(obj).get("uid") or ""))
            else:
                self._put(obj)

    def _put(self, obj: dict[str, Any]) -> None:
        meta = metadata_of(obj)
        uid, key = meta.get("uid"), (meta.get("namespace"), meta.get("name"))
        if self.max_size <= 0 or not isinstance(uid, str) or not all(key) or is_finished(obj):
            return
        old = self._uids.get(key)  # type: ignore[arg-type]
        if old is not None and old != uid:
            self._drop(old)  # a new Workflow of the same name: the old one is gone
        self._by_uid[uid] = orjson.dumps(reduced(obj))
        self._by_uid.move_to_end(uid)
        self._uids[key] = uid  # type: ignore[index]
        self._names[uid] = key  # type: ignore[assignment]
        while len(self._by_uid) > self.max_size:
            self._drop(next(iter(self._by_uid)))

    def _drop(self, uid: str) -> None:
        self._by_uid.pop(uid, None)
        key = self._names.pop(uid, None)
        if key is not None and self._uids.get(key) == uid:
            del self._uids[key]
