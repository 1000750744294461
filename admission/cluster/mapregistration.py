"""The exported MutatingAdmissionPolicy in the API server (`serve --register-mutating-policy`):
the calls that write the policy and its binding, send the dry-run probe template, narrow or
widen the mutating webhook configuration, and turn the binding off. What to write is the core's
(admission/core/mapinstall.py); when, the server's (admission/server/mapkeeper.py).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from admission.cluster.registration import says_at_least
from admission.core.mapinstall import VERSION_ANNOTATION, probe_template
from admission.core.vapinstall import INERT, narrowed, widened

log = logging.getLogger("argo_admission.mapregistration")

KINDS = {
    "MutatingAdmissionPolicy": "mutating_admission_policy",
    "MutatingAdmissionPolicyBinding": "mutating_admission_policy_binding",
}


class MapInstaller:
    """The calls for the policy `name`, owned by the ClusterRole `owner` when given, its probe
    sent into `probe_namespace`, narrowing the webhooks `hooks` of the mutating configuration
    also called `name`."""

    def __init__(
        self,
        api_client: Any,
        name: str,
        *,
        owner: str | None,
        probe_namespace: str,
        hooks: frozenset[str],
    ) -> None:
        self.api: Any = client.AdmissionregistrationV1Api(api_client)  # bodies are dicts
        self.objects = client.CustomObjectsApi(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.name, self.owner, self.probe_namespace = name, owner, probe_namespace
        self.hooks = hooks

    def owner_ref(self) -> dict[str, Any] | None:
        """The owning ClusterRole's name and uid (None without an owner)."""
        if not self.owner:
            return None
        meta = self.rbac.read_cluster_role(self.owner).metadata
        if meta is None or not meta.uid:
            raise OSError(f"ClusterRole {self.owner} has no uid to own the policy")
        return {"name": self.owner, "uid": meta.uid}

    def live_version(self) -> str | None:
        """The version annotation of the policy in place (None: none, or unstamped)."""
        found = self._read("MutatingAdmissionPolicy", self.name)
        annotations = ((found or {}).get("metadata") or {}).get("annotations") or {}
        return annotations.get(VERSION_ANNOTATION)

    def apply(self, objects: list[dict[str, Any]]) -> int:
        """Create or update each object (in the order given) that does not say the same; how
        many were written."""
        written = 0
        for body in objects:
            kind, name = body["kind"], body["metadata"]["name"]
            existing = self._read(kind, name)
            if existing is None:
                self._call("create", kind)(body)
            elif _same(body, existing):
                continue
            else:
                version = existing["metadata"]["resourceVersion"]
                meta = {**body["metadata"], "resourceVersion": version}
                self._call("replace", kind)(name, {**body, "metadata": meta})
            written += 1
            log.info("wrote %s %s", kind, name)
        return written

    def probe(self) -> tuple[int, dict[str, Any]]:
        """Send the probe template (dry-run CREATE): the API server's status and the object
        it would store (or its Status)."""
        try:
            body = self.objects.create_namespaced_custom_object(
                "argoproj.io",
                "v1alpha1",
                self.probe_namespace,
                "workflowtemplates",
                probe_template(),
                dry_run="All",
            )
        except ApiException as exc:
            try:
                status = json.loads(exc.body or "{}")
            except ValueError:
                status = {"message": str(exc.body)}
            return int(exc.status or 0), status if isinstance(status, dict) else {}
        return 201, body if isinstance(body, dict) else {}

    def narrow(self, condition: dict[str, str]) -> bool:
        """Add `condition` to the mutating webhooks `hooks`; whether they had to change."""
        return self._change_webhooks(lambda body: narrowed(body, condition, self.hooks))

    def widen(self, condition_name: str) -> bool:
        """Take the condition `condition_name` off the mutating webhooks; whether it was on."""
        return self._change_webhooks(lambda body: widened(body, condition_name))

    def is_narrowed(self, condition: dict[str, str]) -> bool:
        """Whether every webhook of `hooks` carries `condition` as it is now."""
        body = self._webhooks()
        return body is not None and narrowed(body, condition, self.hooks) is None

    def disable(self) -> bool:
        """Make the binding match nothing (INERT), kept in place; whether it had to change."""
        binding = self._read("MutatingAdmissionPolicyBinding", self.name)
        if binding is None or says_at_least(INERT, binding["spec"].get("matchResources")):
            return False
        binding["spec"]["matchResources"] = copy.deepcopy(INERT)
        self._call("replace", "MutatingAdmissionPolicyBinding")(self.name, binding)
        log.info("disabled MutatingAdmissionPolicyBinding %s (it matches nothing)", self.name)
        return True

    def _webhooks(self) -> dict[str, Any] | None:
        try:
            found = self.api.read_mutating_webhook_configuration(self.name, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(found.data)  # type: ignore[no-any-return]

    def _change_webhooks(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bool:
        body = self._webhooks()
        out = None if body is None else change(body)
        if out is None:
            return False
        self.api.replace_mutating_webhook_configuration(self.name, out)
        return True

    def _read(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            found = self._call("read", kind)(name, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(found.data)  # type: ignore[no-any-return]

    def _call(self, verb: str, kind: str) -> Callable[..., Any]:
        return getattr(self.api, f"{verb}_{KINDS[kind]}")  # type: ignore[no-any-return]


def _same(body: dict[str, Any], existing: dict[str, Any]) -> bool:
    """Whether `existing` says what `body` says: a binding turned off (INERT) is not the same as
    one that is wanted on, whatever else it says."""
    off = says_at_least(INERT, existing.get("spec", {}).get("matchResources"))
    if off and not says_at_least(INERT, body["spec"].get("matchResources")):
        return False
    meta = {k: body["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences")}
    return says_at_least(body["spec"], existing.get("spec")) and says_at_least(
        meta, existing.get("metadata")
    )
