"""The chart's server as the e2e suites run it outside a cluster: its RBAC bound to the
webhook's user, and its serve flags for keeping a policy in the API server.

No pytest in here; test_policy_install_e2e.py and test_map_install_e2e.py use it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from admission.server import certs
from chart_render import render_policy, render_webhooks
from identities import WEBHOOK, user_subject


def server_files(
    tmp_path: Path, port: int, values: dict[str, Any], *, release: str, namespace: str, api: str
) -> tuple[Path, Path, Path]:
    """Certificates, the chart's webhook configurations for a server on `port` and its policy
    file, written under `tmp_path`: (webhooks, policy, audit file)."""
    certs.write_bundle(tmp_path / "certs", certs.make_bundle(certs.default_hosts()))
    hooks = render_webhooks(
        f"https://127.0.0.1:{port}",
        base64.b64encode((tmp_path / "certs" / "ca.crt").read_bytes()).decode(),
        values,
        release=release,
        namespace=namespace,
        api_versions=(api,),
    )
    webhooks, policy = tmp_path / "webhooks.yaml", tmp_path / "policy.yaml"
    webhooks.write_text(yaml.safe_dump_all(hooks))
    policy.write_text(render_policy(values, release=release, namespace=namespace))
    return webhooks, policy, tmp_path / "audit.log"


def gone(delete: Callable[..., Any], *args: Any) -> None:
    """Call `delete`; an object already gone (404) is fine."""
    try:
        delete(*args)
    except ApiException as exc:
        if exc.status != 404:
            raise


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
