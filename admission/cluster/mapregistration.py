"""The exported MutatingAdmissionPolicy in the API server (`serve --register-mutating-policy`):
the calls that write the policy and its binding, send the dry-run probe template, narrow or
widen the mutating webhook configuration, and turn the binding off. What to write is the core's
(admission/core/mapinstall.py); when, the server's (admission/server/mapkeeper.py).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from kubernetes.client.exceptions import ApiException

from admission.cluster.policywriter import PolicyWriter
from admission.core.mapinstall import VERSION_ANNOTATION, probe_template


class MapInstaller(PolicyWriter):
    """The MutatingAdmissionPolicy's writer: its probe is a template the policy marks."""

    KINDS: ClassVar[dict[str, str]] = {
        "MutatingAdmissionPolicy": "mutating_admission_policy",
        "MutatingAdmissionPolicyBinding": "mutating_admission_policy_binding",
    }
    WEBHOOKS: ClassVar[str] = "mutating_webhook_configuration"
    VERSION_ANNOTATION: ClassVar[str] = VERSION_ANNOTATION

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

    def disable(self) -> bool:
        """Make the binding match nothing (INERT), kept in place; whether it had to change."""
        return self.turn_off(self.name)
