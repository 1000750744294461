"""The exported policy in the API server (`serve --register-policy`): the calls that write the
ValidatingAdmissionPolicies and their bindings, send the dry-run probe, narrow or widen the
validating webhook configuration, and delete the policy. What to write is the core's
(admission/core/vapinstall.py); when, the server's (admission/server/policykeeper.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from admission.cluster.policywriter import PolicyWriter
from admission.core.vapinstall import (
    INDEX_TOKEN_KEY,
    VERSION_ANNOTATION,
    owner_reference,
    probe_workflow,
)

log = logging.getLogger("argo_admission.policyregistration")


class PolicyInstaller(PolicyWriter):
    """The ValidatingAdmissionPolicy's writer: its probe reads the library index too."""

    KINDS: ClassVar[dict[str, str]] = {
        "ValidatingAdmissionPolicy": "validating_admission_policy",
        "ValidatingAdmissionPolicyBinding": "validating_admission_policy_binding",
    }
    WEBHOOKS: ClassVar[str] = "validating_webhook_configuration"
    VERSION_ANNOTATION: ClassVar[str] = VERSION_ANNOTATION

    def __init__(self, api_client: Any, name: str, **options: Any) -> None:
        super().__init__(api_client, name, **options)
        self.core = client.CoreV1Api(api_client)

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

    def disable(self, names: list[str]) -> int:
        """Make the bindings called `names` match nothing (INERT), kept in place; how many had
        to change. The policies stay: the API server keeps reading their paramKind."""
        return sum(self.turn_off(name) for name in names)

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
