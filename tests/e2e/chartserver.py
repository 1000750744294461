"""The chart's server as the e2e suites run it outside a cluster: its RBAC bound to the
webhook's user, and its serve flags for keeping a policy in the API server.

No pytest in here; test_policy_install_e2e.py and test_map_install_e2e.py use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from identities import WEBHOOK, user_subject


def serve_flags(
    docs: list[dict[str, Any]],
    register: str,
    keep: Iterable[str],
    *,
    webhooks: Path,
    audit: Path,
) -> list[str]:
    """The chart's serve flags `keep` (each with its value, from the rendered Deployment),
    after the configurations file made local and `register`; then the audit file and debug
    logs the tests read."""
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = [str(a) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]]
    out = ["--register-webhooks", str(webhooks), register]
    for flag in keep:
        out += [flag, args[args.index(flag) + 1]]
    return [*out, "--audit-file", str(audit), "--log-level", "debug"]


class Rbac:
    """The chart's ClusterRole and Roles, bound to the server's user; the probe's held back."""

    def __init__(self, admin: k8s.ApiClient, docs: list[dict[str, Any]]) -> None:
        self.api = k8s.RbacAuthorizationV1Api(admin)
        self.docs = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
        self.made: list[tuple[str, str]] = []

    def grant(self, *, probe: bool) -> None:
        for doc in self.docs:
            namespace = doc["metadata"].get("namespace", "")
            if (namespace == "default") is not probe:
                continue
            name = doc["metadata"]["name"]
            body = {"metadata": {"name": name}, "rules": doc["rules"]}
            binding = {
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": doc["kind"],
                    "name": name,
                },
                "subjects": [user_subject(WEBHOOK)],
            }
            if namespace:
                self.api.create_namespaced_role(namespace, body)
                self.api.create_namespaced_role_binding(namespace, binding)
            else:
                self.api.create_cluster_role(body)
                self.api.create_cluster_role_binding(binding)
            self.made.append((namespace, name))

    def uid(self, name: str) -> str:
        return str(self.api.read_cluster_role(name).metadata.uid)

    def revoke(self) -> None:
        for namespace, name in reversed(self.made):
            if namespace:
                self.api.delete_namespaced_role_binding(name, namespace)
                self.api.delete_namespaced_role(name, namespace)
            else:
                self.api.delete_cluster_role_binding(name)
                self.api.delete_cluster_role(name)
