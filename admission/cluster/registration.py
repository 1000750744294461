"""The server registers its own webhook configurations, once it is Ready.

A webhook configuration that names a server before any server answers refuses every Argo write
(`failurePolicy: Fail`): an install whose pods never come up would lock Argo out. So the chart
hands the configurations to the server in a file (rendered from its values), and each server
process applies them once it is Ready (its caches synced), as Kyverno's admission controller
registers its own. They are owned by the chart's ClusterRole (a cluster-scoped owner for
cluster-scoped objects), so `helm uninstall` removes them through the garbage collector.
Applying is idempotent: a configuration that already says the same is left alone; a caBundle
injected by cert-manager is kept when ours is empty. `remove` is the break-glass: it deletes
them while no server answers (the servers register them again once Ready).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from admission.cluster.listing import ClusterError
from admission.cluster.reflector import Backoff

log = logging.getLogger("argo_admission.registration")

KINDS: Final = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
READY_POLL_SECONDS: Final = 0.5


class RegistrationError(RuntimeError):
    """The configurations file cannot be used."""


def read_configurations(path: str | Path) -> list[dict[str, Any]]:
    """The webhook configurations of a YAML file (multi-document); RegistrationError if none."""
    try:
        docs = [d for d in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise RegistrationError(f"{path}: {exc}") from exc
    wrong = [d.get("kind") for d in docs if not isinstance(d, dict) or d.get("kind") not in KINDS]
    if wrong or not docs:
        raise RegistrationError(f"{path}: expected webhook configurations, found {wrong or 'none'}")
    return docs


def validating_name(configurations: list[dict[str, Any]]) -> str | None:
    """The name of the ValidatingWebhookConfiguration among `configurations` (None: none)."""
    for body in configurations:
        if body.get("kind") == "ValidatingWebhookConfiguration":
            return str((body.get("metadata") or {}).get("name") or "") or None
    return None


def desired(body: Mapping[str, Any], owner: Mapping[str, Any] | None) -> dict[str, Any]:
    """The configuration to store: `body`, owned by `owner` (a ClusterRole) when given."""
    out = copy.deepcopy(dict(body))
    if owner is not None:
        meta = out.setdefault("metadata", {})
        meta["ownerReferences"] = [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    return out


def merged(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any] | None:
    """What to write over `existing` to make it `wanted`; None when it already says the same."""
    out = copy.deepcopy(dict(wanted))
    out["metadata"] = {**out.get("metadata", {})}
    out["metadata"]["resourceVersion"] = existing.get("metadata", {}).get("resourceVersion")
    old_hooks = {h.get("name"): h for h in existing.get("webhooks") or []}
    for hook in out.get("webhooks") or []:
        config = hook.get("clientConfig") or {}
        old = (old_hooks.get(hook.get("name")) or {}).get("clientConfig") or {}
        if not config.get("caBundle") and old.get("caBundle"):  # injected (cert-manager)
            config["caBundle"] = old["caBundle"]
    same = all(_subset(out.get(key), existing.get(key)) for key in ("webhooks",)) and _subset(
        {k: out["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences")},
        existing.get("metadata"),
    )
    return None if same else out


def says_at_least(want: Any, have: Any) -> bool:
    """Whether `have` (as stored) says at least what `want` says (the API server adds defaults;
    a None in `want` asks nothing)."""
    return _subset(want, have)


def _subset(want: Any, have: Any) -> bool:
    """Whether `have` says at least what `want` says (the API server adds defaults)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            v is None or _subset(v, have.get(k)) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    return bool(want == have)


class Registrar:
    """Applies the webhook configurations once the server is Ready, retrying until it can."""

    def __init__(
        self,
        api_client: client.ApiClient,
        configurations: list[dict[str, Any]],
        *,
        owner: str | None,
        ready: Callable[[], bool],
    ) -> None:
        self.api = client.AdmissionregistrationV1Api(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.configurations = configurations
        self.owner, self.ready = owner, ready
        self.done = threading.Event()
        self._stop = threading.Event()

    def start(self) -> None:
        """Register in the background (in each worker, after the fork)."""
        threading.Thread(target=self.run, name="register-webhooks", daemon=True).start()

    def close(self) -> None:
        """Stop trying."""
        self._stop.set()

    def run(self) -> None:
        """Wait until Ready, then apply every configuration, retrying failures with backoff."""
        while not self.ready():
            if self._stop.wait(READY_POLL_SECONDS):
                return
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                self.apply()
            except (ApiException, OSError) as exc:
                delay = backoff.next()
                log.warning(
                    "registering the webhook configurations failed (retrying in %.1fs): %s",
                    delay,
                    exc,
                )
                self._stop.wait(delay)
                continue
            self.done.set()
            return

    def apply(self) -> None:
        """Create or update each configuration so it says what the chart rendered."""
        owner = None
        if self.owner:
            meta = self.rbac.read_cluster_role(self.owner).metadata
            if meta is None or not meta.uid:
                raise OSError(f"ClusterRole {self.owner} has no uid to own the configurations")
            owner = {"metadata": {"name": self.owner, "uid": meta.uid}}
        for body in self.configurations:
            self._apply_one(desired(body, owner))

    def _apply_one(self, body: dict[str, Any]) -> None:
        kind, name = body["kind"], body["metadata"]["name"]
        read, create, _ = self._calls(kind)
        try:
            existing = read(name, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise
            try:
                create(body)
            except ApiException as conflict:
                if conflict.status != 409:
                    raise
                # another worker or server created it a moment ago (every start with 2+
                # workers): not a failure; compare with what it wrote
                log.info("%s %s was just registered by another server", kind, name)
                self._update(body, read(name, _preload_content=False))
                return
            log.info("registered %s %s", kind, name)
            return
        self._update(body, existing)

    def _update(self, body: dict[str, Any], existing: Any) -> None:
        kind, name = body["kind"], body["metadata"]["name"]
        change = merged(yaml.safe_load(existing.data), body)
        if change is None:
            log.info("%s %s already registered", kind, name)
            return
        self._calls(kind)[2](name, change)
        log.info("updated %s %s", kind, name)

    def _calls(self, kind: str) -> tuple[Callable[..., Any], ...]:
        if kind == "ValidatingWebhookConfiguration":
            return (
                self.api.read_validating_webhook_configuration,
                self.api.create_validating_webhook_configuration,
                self.api.replace_validating_webhook_configuration,
            )
        return (
            self.api.read_mutating_webhook_configuration,
            self.api.create_mutating_webhook_configuration,
            self.api.replace_mutating_webhook_configuration,
        )


def remove(api_client: client.ApiClient, names: list[str]) -> list[str]:
    """Delete the validating and mutating configurations called `names`: a line for each,
    deleted or not found. ClusterError (one line) when the API server refuses or is away."""
    api = client.AdmissionregistrationV1Api(api_client)
    deletes = {
        "ValidatingWebhookConfiguration": api.delete_validating_webhook_configuration,
        "MutatingWebhookConfiguration": api.delete_mutating_webhook_configuration,
    }
    lines = []
    for name in names:
        for kind, delete in deletes.items():
            try:
                delete(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise ClusterError(
                        f"cannot delete {kind} {name}: {exc.status} {exc.reason}"
                    ) from exc
                lines.append(f"{kind} {name} not found")
                continue
            except OSError as exc:  # urllib3's connection errors
                raise ClusterError(f"cannot delete {kind} {name}: {exc}") from exc
            lines.append(f"deleted {kind} {name}")
    return lines
