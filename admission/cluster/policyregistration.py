"""The exported policy in the API server (`serve --register-policy`): the calls that write the
ValidatingAdmissionPolicies and their bindings, send the dry-run probe, narrow or widen the
validating webhook configuration, and delete the policy. What to write is the core's
(admission/core/vapinstall.py); when, the server's (admission/server/policykeeper.py).
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
from admission.core.vapinstall import (
    INDEX_TOKEN_KEY,
    INERT,
    VERSION_ANNOTATION,
    narrowed,
    owner_reference,
    probe_workflow,
    widened,
)

log = logging.getLogger("argo_admission.policyregistration")

KINDS = {
    "ValidatingAdmissionPolicy": "validating_admission_policy",
    "ValidatingAdmissionPolicyBinding": "validating_admission_policy_binding",
}


class PolicyInstaller:
    """The calls for the policy `name`, owned by the ClusterRole `owner` when given, its probe
    sent into `probe_namespace`, narrowing the webhooks `hooks` of the validating configuration
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
        self.core = client.CoreV1Api(api_client)
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
        """The version annotation of the policy in place (None: none in place, or unstamped)."""
        found = self._read("ValidatingAdmissionPolicy", self.name)
        if found is None:
            return None
        annotations = (found.get("metadata") or {}).get("annotations") or {}
        return annotations.get(VERSION_ANNOTATION)

    def apply(self, objects: list[dict[str, Any]]) -> int:
        """Create or update each object (in the order given) that does not say the same; how
        many were written. Updated in place, never deleted and created again (the API server's
        paramKind informer is not always restarted for a policy created anew)."""
        written = 0
        for body in objects:
            kind, name = body["kind"], body["metadata"]["name"]
            existing = self._read(kind, name)
            if existing is None:
                self._call("create", kind)(body)
            elif self._same(body, existing):
                continue
            else:
                meta = {
                    **body["metadata"],
                    "resourceVersion": existing["metadata"]["resourceVersion"],
                }
                self._call("replace", kind)(name, {**body, "metadata": meta})
            written += 1
            log.info("wrote %s %s", kind, name)
        return written

    @staticmethod
    def _same(body: dict[str, Any], existing: dict[str, Any]) -> bool:
        """Whether `existing` says what `body` says; a binding turned off (INERT) is not the
        same as one wanted on, whatever else it says (a wanted binding may have no
        matchResources at all, which INERT's would otherwise pass for)."""
        off = says_at_least(INERT, existing.get("spec", {}).get("matchResources"))
        if off and not says_at_least(INERT, body["spec"].get("matchResources")):
            return False
        meta = {k: body["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences")}
        return says_at_least(body["spec"], existing.get("spec")) and says_at_least(
            meta, existing.get("metadata")
        )

    def own_index(self, library: tuple[str, str], owner: dict[str, Any]) -> None:
        """Make the library index ConfigMap owned by `owner` too (a one-key merge patch), so
        deleting the ClusterRole (helm uninstall) deletes it with the policy it feeds."""
        patch = {"metadata": {"ownerReferences": [owner_reference(owner)]}}
        self.core.patch_namespaced_config_map(library[1], library[0], patch)

    def probe(self, version: str, library: tuple[str, str], token: str) -> tuple[int, str]:
        """Put `token` in the index (again: an index written since may have dropped it), then
        send the probe Workflow naming it (dry-run CREATE): the API server's status and
        message. The same token from probe to probe: the API server reads a write a moment
        later, so a fresh one each time might never be seen in time."""
        patch = {"data": {INDEX_TOKEN_KEY: token}}
        self.core.patch_namespaced_config_map(library[1], library[0], patch)
        try:
            self.objects.create_namespaced_custom_object(
                "argoproj.io",
                "v1alpha1",
                self.probe_namespace,
                "workflows",
                probe_workflow(version, token),
                dry_run="All",
            )
        except ApiException as exc:
            try:
                message = str(json.loads(exc.body or "{}").get("message", ""))
            except ValueError:
                message = str(exc.body)
            return int(exc.status or 0), message
        return 201, ""

    def narrow(self, condition: dict[str, str]) -> bool:
        """Add `condition` to the enforcing webhooks; whether they had to change."""
        return self._change_webhooks(lambda body: narrowed(body, condition, self.hooks))

    def widen(self, condition_name: str) -> bool:
        """Take the condition `condition_name` off the validating webhooks; whether it was on."""
        return self._change_webhooks(lambda body: widened(body, condition_name))

    def is_narrowed(self, condition: dict[str, str]) -> bool:
        """Whether every enforcing webhook carries `condition` as it is now."""
        body = self._webhooks()
        return body is not None and narrowed(body, condition, self.hooks) is None

    def _webhooks(self) -> dict[str, Any] | None:
        try:
            found = self.api.read_validating_webhook_configuration(
                self.name, _preload_content=False
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(found.data)  # type: ignore[no-any-return]

    def _change_webhooks(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bool:
        body = self._webhooks()
        if body is None:
            return False
        out = change(body)
        if out is None:
            return False
        self.api.replace_validating_webhook_configuration(self.name, out)
        return True

    def disable(self, names: list[str]) -> int:
        """Make the bindings called `names` match nothing (INERT), kept in place; how many had
        to change. The policies stay: the API server keeps reading their paramKind."""
        changed = 0
        for name in names:
            binding = self._read("ValidatingAdmissionPolicyBinding", name)
            if binding is None or says_at_least(INERT, binding["spec"].get("matchResources")):
                continue
            binding["spec"]["matchResources"] = copy.deepcopy(INERT)
            self._call("replace", "ValidatingAdmissionPolicyBinding")(name, binding)
            changed += 1
            log.info("disabled ValidatingAdmissionPolicyBinding %s (it matches nothing)", name)
        return changed

    def remove(self, names: list[str]) -> int:
        """Delete the bindings, then the policies, called `names`; how many were there."""
        gone = 0
        for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
            for name in names:
                try:
                    self._call("delete", kind)(name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    continue
                gone += 1
                log.info("deleted %s %s", kind, name)
        return gone

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
