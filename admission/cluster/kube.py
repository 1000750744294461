"""Templates from the cluster: a watch-fed cache of (Cluster)WorkflowTemplates.

Two reflectors (admission/cluster/reflector.py) keep templates of both kinds whole (as compact JSON,
decoded afresh for each lookup). A lookup the cache cannot answer falls back to one GET bounded
by the lookup timeout: 404 means "does not exist", anything else raises TemplateLookupError
naming the API server, so the policy applies its lookupFailurePolicy well within the webhook's
own timeout. Absent templates are remembered for a few seconds, so a burst of Workflows naming
a missing template costs one GET, not one each.

The template-edit warning does not use a Workflow watch: it lists unfinished Workflows when a
template is edited - one bounded, paginated LIST, remembered for a few seconds. Executors'
task-result writes do (about three a step): `workflow()` answers from a bounded cache of the
unfinished Workflows a third reflector keeps (admission/cluster/workflows.py), one GET on a
miss. Asked `fresh`, it always GETs: the policy does so before answering "not yet" for a node
the cached copy lacks, because the watch may lag the controller's write of that node. The
watch costs every worker each Workflow event; `workflow_cache=0` turns it off.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from admission.cluster.reflector import CONNECT_SECONDS, GROUP, VERSION, Reflector
from admission.cluster.workflows import DEFAULT_SIZE, WorkflowCache
from admission.core.objects import (
    CLUSTER,
    NAMESPACED,
    TemplateKey,
    is_finished,
    qualified_name,
    template_key,
    workflow_ref,
)
from admission.core.policy.source import TemplateLookupError

log = logging.getLogger("argo_admission.kube")

PLURALS: Final = {NAMESPACED: "workflowtemplates", CLUSTER: "clusterworkflowtemplates"}
WORKFLOWS: Final = "workflows"
# Argo labels finished Workflows; leaving them out keeps the cache to what can still run.
UNFINISHED: Final = "workflows.argoproj.io/completed!=true"
ABSENT_SECONDS: Final = 5.0
USERS_SECONDS: Final = 5.0  # how long a listing of a template's Workflows is reused
LIST_PAGE: Final = 500


def kube_configuration(kubeconfig: str | None) -> client.Configuration:
    """`kubeconfig` when given, else the in-cluster config, else the default kubeconfig."""
    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            return configuration
        except ConfigException:
            pass
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration
    )
    return configuration


def cluster_config_exists() -> bool:
    """Whether there is an in-cluster config or a default kubeconfig file to use."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    default = os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)
    return any(Path(p).exists() for p in default.split(os.pathsep) if p)


class KubeTemplateSource:
    """The TemplateSource the server uses in a cluster: cache first, a bounded GET on a miss."""

    def __init__(
        self,
        configuration: client.Configuration,
        *,
        lookup_timeout: float,
        observe: Callable[[str], None] | None = None,
        observe_workflow: Callable[[str], None] | None = None,
        workflow_cache: int = DEFAULT_SIZE,
    ) -> None:
        self.host = configuration.host
        self.lookup_timeout = lookup_timeout
        self._observe = observe or (lambda result: None)
        self._watch_api = client.CustomObjectsApi(client.ApiClient(single_try(configuration)))
        self._lookup_api = client.CustomObjectsApi(client.ApiClient(single_try(configuration)))
        self._lock = threading.Lock()
        self._templates: dict[TemplateKey, bytes] = {}
        self._absent: dict[TemplateKey, float] = {}
        self._users: dict[TemplateKey, tuple[float, list[str]]] = {}
        self._stop = threading.Event()
        self._changed = threading.Condition(self._lock)
        self.generation = 0
        """Counts the watch's changes to the templates (the library index follows it)."""
        self._reflectors = self._make_reflectors()
        self._observe_workflow = observe_workflow or (lambda result: None)
        self.workflows = WorkflowCache(workflow_cache)
        self._workflow_reflector = Reflector(
            self._watch_api,
            WORKFLOWS,
            replace=self.workflows.replace,
            apply=self.workflows.apply,
            stop=self._stop,
            label_selector=UNFINISHED,
        )

    def _make_reflectors(self) -> list[Reflector]:
        return [
            Reflector(
                self._watch_api,
                plural,
                replace=self._replacer(kind),
                apply=self._applier(kind),
                stop=self._stop,
            )
            for kind, plural in PLURALS.items()
        ]

    def start(self) -> None:
        """Start the list/watch threads (in each gunicorn worker, after the fork)."""
        for reflector in self._reflectors:
            threading.Thread(
                target=reflector.run, name=f"watch-{reflector.plural}", daemon=True
            ).start()
        if self.workflows.max_size > 0:  # not in synced(): until listed, lookups GET
            threading.Thread(
                target=self._workflow_reflector.run, name="watch-workflows", daemon=True
            ).start()

    def workflows_synced(self) -> bool:
        """Whether the first list of unfinished Workflows has filled the cache."""
        return self._workflow_reflector.synced.is_set()

    def synced(self) -> bool:
        """Whether every initial list has completed."""
        return all(r.synced.is_set() for r in self._reflectors)

    def sync_problem(self) -> str:
        """Why the cache is not synced yet: each failed first list, e.g. `workflowtemplates
        403 Forbidden`, or the lists still awaited ("" once synced)."""
        pending = [r for r in self._reflectors if not r.synced.is_set()]
        failed = [r.problem for r in pending if r.problem]
        if failed:
            return "; ".join(failed)
        return f"first list of {', '.join(r.plural for r in pending)} pending" if pending else ""

    def wait_synced(self, timeout: float) -> bool:
        """Block until synced or `timeout` seconds pass; whether synced."""
        deadline = time.monotonic() + timeout
        for reflector in self._reflectors:
            if not reflector.synced.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def close(self) -> None:
        """Stop the watch threads (they end at their next event or timeout)."""
        self._stop.set()

    # --- cache feeding ----------------------------------------------------------------------

    def _replacer(self, kind: str) -> Callable[[list[dict[str, Any]]], None]:
        def replace(items: list[dict[str, Any]]) -> None:
            fresh = {}
            for obj in items:
                key = template_key(kind, obj)
                if key is not None:
                    fresh[key] = orjson.dumps(_with_kind(obj, kind))
            with self._lock:
                kept = {k: v for k, v in self._templates.items() if k.kind != kind}
                self._templates = {**kept, **fresh}
                self._absent.clear()
                self._bump()

        return replace

    def _applier(self, kind: str) -> Callable[[str, dict[str, Any]], None]:
        def apply(event: str, obj: dict[str, Any]) -> None:
            key = template_key(kind, obj)
            if key is None:
                return
            with self._lock:
                self._absent.pop(key, None)
                if event == "DELETED":
                    self._templates.pop(key, None)
                else:
                    self._templates[key] = orjson.dumps(_with_kind(obj, kind))
                self._bump()

        return apply

    def _bump(self) -> None:
        """One more change seen (the lock is held)."""
        self.generation += 1
        self._changed.notify_all()

    def wait_changed(self, seen: int, timeout: float) -> int:
        """Block until the generation passes `seen` or `timeout` seconds pass; the generation."""
        with self._changed:
            self._changed.wait_for(lambda: self.generation != seen, timeout)
            return self.generation

    def templates(self) -> list[dict[str, Any]]:
        """Every template the watch holds, decoded."""
        with self._lock:
            held = list(self._templates.values())
        return [orjson.loads(raw) for raw in held]

    # --- TemplateSource ---------------------------------------------------------------------

    def get(self, key: TemplateKey, *, remember: bool = True) -> Mapping[str, Any] | None:
        """The template from the cache, else from one GET; None when it does not exist."""
        with self._lock:
            data = self._templates.get(key)
            absent_until = self._absent.get(key, 0.0)
        if data is not None or absent_until > time.monotonic():
            self._observe("hit")
            # a fresh copy per lookup: nothing a request does can alter the cache
            return orjson.loads(data) if data is not None else None
        self._observe("miss")
        found = self._fetch(key)
        if found is None and remember:
            with self._lock:
                self._absent[key] = time.monotonic() + ABSENT_SECONDS
        return found

    def _fetch(self, key: TemplateKey) -> dict[str, Any] | None:
        return self._read(lambda: self._get(key), str(key), observe=True)

    def _read(
        self, get: Callable[[], Any], what: str, *, observe: bool = False
    ) -> dict[str, Any] | None:
        """One bounded GET: the object, None on 404, TemplateLookupError on any other failure."""
        try:
            resp = get()
        except ApiException as exc:
            if exc.status == 404:
                return None
            if observe:
                self._observe("error")
            if exc.status == 0:  # the client's own transport failures
                raise TemplateLookupError(
                    f"API server {self.host} unreachable: {exc.reason}"
                ) from exc
            raise TemplateLookupError(
                f"API server {self.host} refused the lookup of {what}: {exc.status} {exc.reason}"
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if observe:
                self._observe("error")
            raise TemplateLookupError(f"API server {self.host} unreachable: {exc}") from exc
        found: dict[str, Any] = orjson.loads(resp.data)
        return found

    def _get(self, key: TemplateKey) -> Any:  # urllib3 response (unparsed: orjson is faster)
        timeout = (min(CONNECT_SECONDS, self.lookup_timeout), self.lookup_timeout)
        if key.kind == CLUSTER:
            return self._lookup_api.get_cluster_custom_object(
                GROUP,
                VERSION,
                PLURALS[CLUSTER],
                key.name,
                _preload_content=False,
                _request_timeout=timeout,
            )
        return self._lookup_api.get_namespaced_custom_object(
            GROUP,
            VERSION,
            key.namespace,
            PLURALS[NAMESPACED],
            key.name,
            _preload_content=False,
            _request_timeout=timeout,
        )

    def workflows_using(self, key: TemplateKey, *, remember: bool = True) -> Sequence[str]:
        """Unfinished Workflows whose workflowTemplateRef names `key`, listed when asked."""
        with self._lock:
            cached = self._users.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            names = sorted(
                name
                for obj in self._list_unfinished(key.namespace if key.kind == NAMESPACED else "")
                if not is_finished(obj) and workflow_ref(obj) == key
                for name in [qualified_name(obj)]
            )
        except ApiException as exc:
            raise TemplateLookupError(
                f"API server {self.host} refused listing Workflows: {exc.status} {exc.reason}"
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TemplateLookupError(f"API server {self.host} unreachable: {exc}") from exc
        if remember:
            with self._lock:
                self._users[key] = (time.monotonic() + USERS_SECONDS, names)
        return names

    def _list_unfinished(self, namespace: str) -> Any:
        """Unfinished Workflows of a namespace ("" = all), page by page, within the timeout."""
        deadline = time.monotonic() + self.lookup_timeout
        token: str | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError(f"listing Workflows took longer than {self.lookup_timeout}s")
            kwargs: dict[str, Any] = {
                "label_selector": UNFINISHED,
                "limit": LIST_PAGE,
                "_preload_content": False,
                "_request_timeout": (min(CONNECT_SECONDS, left), left),
            }
            if token:
                kwargs["_continue"] = token
            if namespace:
                resp: Any = self._lookup_api.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, WORKFLOWS, **kwargs
                )
            else:
                resp = self._lookup_api.list_cluster_custom_object(
                    GROUP, VERSION, WORKFLOWS, **kwargs
                )
            page: dict[str, Any] = orjson.loads(resp.data)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """The running Workflow from the cache, else (or when `fresh`) from one bounded GET."""
        if not fresh:
            cached = self.workflows.get(namespace, name)
            if cached is not None:
                self._observe_workflow("hit")
                return cached
        self._observe_workflow("fresh" if fresh else "miss")
        try:
            return self._get_workflow(namespace, name)
        except TemplateLookupError:
            self._observe_workflow("error")
            raise

    def _get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        timeout = (min(CONNECT_SECONDS, self.lookup_timeout), self.lookup_timeout)
        return self._read(
            lambda: self._lookup_api.get_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                WORKFLOWS,
                name,
                _preload_content=False,
                _request_timeout=timeout,
            ),
            f"Workflow {namespace}/{name}",
        )

    def for_dry_run(self) -> DryRunView:
        """The same lookups, remembering nothing (a dryRun request changes no cache)."""
        return DryRunView(self)


class DryRunView:
    """A KubeTemplateSource seen by a dryRun request: reads only."""

    def __init__(self, source: KubeTemplateSource) -> None:
        self._source = source

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        """The template, without remembering an absent one."""
        return self._source.get(key, remember=False)

    def workflows_using(self, key: TemplateKey) -> Sequence[str]:
        """As the source answers, remembering nothing."""
        return self._source.workflows_using(key, remember=False)

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """The Workflow (a lookup remembers nothing: the watch alone fills the cache)."""
        return self._source.workflow(namespace, name, fresh=fresh)


def _with_kind(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    if obj.get("kind"):
        return obj
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, **obj}


def single_try(configuration: client.Configuration) -> client.Configuration:
    """A copy that never retries: lookups must end within their timeout, watches back off."""
    single = copy.deepcopy(configuration)
    single.retries = False
    return single
