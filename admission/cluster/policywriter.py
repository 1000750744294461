"""What keeping an admission policy in the API server takes, whichever its kind: write the
policy and its binding in place (never deleted and created again), read the version stamped on
it, turn a binding off (made to match nothing: vapinstall.INERT), and narrow or widen the
webhook configuration of the same name. policyregistration.py (the ValidatingAdmissionPolicy)
and mapregistration.py (the MutatingAdmissionPolicy) add their probes.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from admission.cluster.registration import says_at_least
from admission.core.vapinstall import INERT, narrowed, widened

log = logging.getLogger("argo_admission.policywriter")


class PolicyWriter:
    """The calls for the policy `name`, owned by the ClusterRole `owner` when given, its probe
    sent into `probe_namespace`, narrowing the webhooks `hooks` of the webhook configuration
    also called `name`. A subclass names its kinds (KINDS: kind -> the client's method suffix,
    the policy's first), its webhook configuration (WEBHOOKS) and the annotation its version is
    stamped in (VERSION_ANNOTATION)."""

    KINDS: ClassVar[dict[str, str]]
    WEBHOOKS: ClassVar[str]
    VERSION_ANNOTATION: ClassVar[str]

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

    @property
    def policy_kind(self) -> str:
        return next(iter(self.KINDS))

    @property
    def binding_kind(self) -> str:
        return f"{self.policy_kind}Binding"

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
        found = self._read(self.policy_kind, self.name)
        annotations = ((found or {}).get("metadata") or {}).get("annotations") or {}
        return annotations.get(self.VERSION_ANNOTATION)

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
            elif same(body, existing):
                continue
            else:
                version = existing["metadata"]["resourceVersion"]
                meta = {**body["metadata"], "resourceVersion": version}
                self._call("replace", kind)(name, {**body, "metadata": meta})
            written += 1
            log.info("wrote %s %s", kind, name)
        return written

    def turn_off(self, name: str) -> bool:
        """Make the binding `name` match nothing (INERT), kept in place; whether it changed."""
        binding = self._read(self.binding_kind, name)
        if binding is None or says_at_least(INERT, binding["spec"].get("matchResources")):
            return False
        binding["spec"]["matchResources"] = copy.deepcopy(INERT)
        self._call("replace", self.binding_kind)(name, binding)
        log.info("disabled %s %s (it matches nothing)", self.binding_kind, name)
        return True

    def narrow(self, condition: dict[str, str]) -> bool:
        """Add `condition` to the webhooks `hooks`; whether they had to change."""
        return self._change_webhooks(lambda body: narrowed(body, condition, self.hooks))

    def widen(self, condition_name: str) -> bool:
        """Take the condition `condition_name` off the webhooks; whether it was on."""
        return self._change_webhooks(lambda body: widened(body, condition_name))

    def is_narrowed(self, condition: dict[str, str]) -> bool:
        """Whether every webhook of `hooks` carries `condition` as it is now."""
        body = self._webhooks()
        return body is not None and narrowed(body, condition, self.hooks) is None

    def _webhooks(self) -> dict[str, Any] | None:
        read = getattr(self.api, f"read_{self.WEBHOOKS}")
        try:
            found = read(self.name, _preload_content=False)
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
        getattr(self.api, f"replace_{self.WEBHOOKS}")(self.name, out)
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
        return getattr(self.api, f"{verb}_{self.KINDS[kind]}")  # type: ignore[no-any-return]


def same(body: dict[str, Any], existing: dict[str, Any]) -> bool:
    """Whether `existing` says what `body` says; a binding turned off (INERT) is not the same
    as one wanted on, whatever else it says (a wanted binding may have no matchResources at
    all, which INERT's would otherwise pass for)."""
    off = says_at_least(INERT, existing.get("spec", {}).get("matchResources"))
    if off and not says_at_least(INERT, body["spec"].get("matchResources")):
        return False
    meta = {k: body["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences")}
    return says_at_least(body["spec"], existing.get("spec")) and says_at_least(
        meta, existing.get("metadata")
    )
