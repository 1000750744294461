"""A real Kubernetes control plane (etcd + kube-apiserver) as local processes, for e2e tests.

Built by tests/e2e/setup.sh, the way controller-runtime's envtest runs its binaries: loopback only,
static-token users, RBAC on, Argo's CRDs installed. No pytest in here; conftest.py wraps it.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import ssl
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s
from kubernetes import utils as k8s_utils
from kubernetes.client.rest import ApiException

from admission.server.certs import make_ca, make_serving
from argocontroller import WorkflowController, argo_version
from harness.processes import Process, ProcessError, find_binary, free_port, wait_for
from identities import ADMIN, ALICE, CONTROLLER, User, bootstrap_objects, make_users

__all__ = ["ControlPlane", "WorkflowController", "find_binary", "wait_for"]

START_TIMEOUT = 60.0
WEBHOOK_KINDS = {
    "ValidatingWebhookConfiguration": "validating",
    "MutatingWebhookConfiguration": "mutating",
}


def crd_dir() -> Path:
    """Where setup.sh copied Argo's CRDs for the version under test."""
    name = f"argo-crds-{argo_version()}"
    return find_binary(f"workflow-controller-{argo_version()}").parent / name


def write_pem(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write PEM bytes; private keys readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_crds(directory: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the YAML files of `directory` (kustomization skipped)."""
    if not directory.is_dir():
        raise ProcessError(
            f"no Argo CRDs at {directory}; run tests/e2e/setup.sh workflow-controller"
        )
    crds = [
        doc
        for path in sorted(directory.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    if not crds:
        raise ProcessError(f"no CustomResourceDefinition in {directory}")
    return crds


def read_json(response: Any) -> dict[str, Any]:
    """The body of a raw (`_preload_content=False`) client response as a plain dict."""
    return dict(json.loads(response.data))


def is_established(crd: dict[str, Any]) -> bool:
    """Whether a CRD's Established condition is True."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


class ControlPlane:
    """etcd + kube-apiserver on 127.0.0.1, with users, namespaces, RBAC and Argo's CRDs.

    Use as a context manager, or call start() and stop(). Logs and certificates live in a temp
    directory that stop() removes (kept when start() fails, or with keep=True).
    """

    def __init__(
        self, *, workdir: Path | None = None, keep: bool = False, profiling: bool = False
    ) -> None:
        # Resolved first: a missing binary fails loudly before anything is made.
        self.binaries = {name: find_binary(name) for name in ("etcd", "kube-apiserver")}
        self.crd_dir = crd_dir()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="argo-admission-e2e-"))
        self.keep = keep
        self.profiling = profiling  # /debug/pprof, for benchmarks that force a Go GC
        self.users: dict[str, User] = make_users()
        self.etcd: Process | None = None
        self.apiserver: Process | None = None
        self.port = 0
        self.startup_seconds = 0.0
        self._clients: dict[str, k8s.ApiClient] = {}

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """The API server's HTTPS URL."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The CA that signed the API server's serving certificate."""
        return self.workdir / "ca.crt"

    def start(self) -> ControlPlane:
        """Start etcd and the API server, then create namespaces, RBAC and CRDs."""
        began = time.monotonic()
        try:
            self._start_etcd()
            self._start_apiserver()
            self._bootstrap()
        except BaseException:
            self.keep = True  # the logs are the only witness of a failed start
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the API server, then etcd; remove the temp directory unless kept."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for process in (self.apiserver, self.etcd):
            if process is not None:
                process.stop()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self) -> dict[str, Path]:
        """Log file of each process started, by name."""
        return {p.name: p.log_path for p in (self.etcd, self.apiserver) if p is not None}

    # -- processes ---------------------------------------------------------------------------

    def _start_etcd(self) -> None:
        client_port, peer_port = free_port(), free_port()
        peer = f"http://127.0.0.1:{peer_port}"
        client = f"http://127.0.0.1:{client_port}"
        self.etcd_url = client
        argv = [
            self.binaries["etcd"],
            "--name=e2e",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=e2e={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        self.etcd = Process("etcd", argv, log_path=self.workdir / "etcd.log").start()
        wait_for(
            lambda: self.http_get(f"{client}/health"),
            until=lambda body: '"true"' in body,
            what=f"etcd health at {client} ({self.etcd.log_path})",
            timeout=START_TIMEOUT,
            check=self.etcd.check_alive,
        )

    def _start_apiserver(self) -> None:
        self.port = free_port()
        self.apiserver = Process(
            "kube-apiserver",
            [self.binaries["kube-apiserver"], *self._apiserver_flags()],
            log_path=self.workdir / "kube-apiserver.log",
        ).start()
        wait_for(
            lambda: self.http_get(f"{self.api_url}/readyz", user=ADMIN),
            until=lambda body: body.strip() == "ok",
            what=f"kube-apiserver /readyz ({self.apiserver.log_path})",
            timeout=START_TIMEOUT,
            check=self.apiserver.check_alive,
        )

    def _apiserver_flags(self) -> list[str]:
        """Flags for a single loopback API server that trusts our token file and CA."""
        cert_dir = self.workdir / "pki"
        cert_dir.mkdir(exist_ok=True)
        ca_cert, ca_key = make_ca("argo-admission-e2e-ca")
        cert, key = make_serving(
            ca_cert, ca_key, ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc"]
        )
        pem = serialization.Encoding.PEM
        write_pem(self.ca_path, ca_cert.public_bytes(pem))
        tls_crt = write_pem(cert_dir / "apiserver.crt", cert.public_bytes(pem))
        tls_key = write_pem(cert_dir / "apiserver.key", pem_key(key), private=True)
        signer = ec.generate_private_key(ec.SECP256R1())
        sa_key = write_pem(cert_dir / "sa.key", pem_key(signer), private=True)
        sa_pub = write_pem(
            cert_dir / "sa.pub",
            signer.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
        )
        tokens = self.workdir / "tokens.csv"
        tokens.write_text("".join(u.token_line() + "\n" for u in self.users.values()))
        tokens.chmod(0o600)
        return [
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            # No Endpoints for the `kubernetes` Service: nothing in-cluster needs to reach us.
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={tls_crt}",
            f"--tls-private-key-file={tls_key}",
            f"--cert-dir={cert_dir}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            # The ServiceAccount plugin stays on, as on any cluster: it gives a pod without an
            # account `default` (which a token bound to the pod must match) and refuses a pod
            # whose account does not exist, so bootstrap creates every account a pod names.
            f"--service-account-issuer={self.api_url}",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            f"--profiling={'true' if self.profiling else 'false'}",
        ]

    def http_get(self, url: str, *, user: str | None = None) -> str:
        """GET a URL (HTTPS trusts our CA; `user` sends that user's token) and return the body."""
        request = urllib.request.Request(url)
        if user:
            request.add_header("Authorization", f"Bearer {self.users[user].token}")
        context = (
            ssl.create_default_context(cafile=self.ca_path) if url.startswith("https") else None
        )
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.read().decode()

    # -- objects -----------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        """Namespaces, RBAC and Argo's CRDs; return once they are all in force."""
        admin = self.client(ADMIN)
        for body in bootstrap_objects():
            k8s_utils.create_from_dict(admin, body)
        self.install_crds(self.crd_dir)
        # RBAC and CRD serving both follow the API server's own informers: wait until the
        # least-privileged users can use what they were given.
        custom = k8s.CustomObjectsApi(self.client(ALICE))
        wait_for(
            lambda: custom.list_namespaced_custom_object(
                "argoproj.io", "v1alpha1", "team-a", "workflows"
            ),
            what="alice to list workflows in team-a",
            timeout=START_TIMEOUT,
        )
        core = k8s.CoreV1Api(self.client(CONTROLLER))
        wait_for(
            lambda: core.list_pod_for_all_namespaces(limit=1),
            what="the Argo controller identity to list pods",
            timeout=START_TIMEOUT,
        )

    def install_crds(self, directory: Path) -> None:
        """Create every CRD found in `directory` and wait until each is Established."""
        self.create_crds(load_crds(directory))

    def create_crds(self, crds: list[dict[str, Any]]) -> None:
        """Create the CRDs as the admin and wait until each is Established."""
        extensions = k8s.ApiextensionsV1Api(self.client(ADMIN))
        for crd in crds:
            extensions.create_custom_resource_definition(crd)
        for crd in crds:
            name = crd["metadata"]["name"]
            wait_for(
                lambda n=name: read_json(
                    extensions.read_custom_resource_definition(n, _preload_content=False)
                ),
                until=is_established,
                what=f"CRD {name} to be Established",
                timeout=START_TIMEOUT,
            )

    def delete_crds(self, names: Iterable[str]) -> None:
        """Delete the CRDs as the admin and wait until they are gone, with their objects."""
        extensions = k8s.ApiextensionsV1Api(self.client(ADMIN))
        wanted = set(names)
        for name in wanted:
            extensions.delete_custom_resource_definition(name)
        wait_for(
            lambda: (
                wanted
                & {c.metadata.name for c in extensions.list_custom_resource_definition().items}
            ),
            until=lambda left: not left,
            what=f"CRDs {sorted(wanted)} to be deleted",
            timeout=START_TIMEOUT,
        )

    # -- clients -----------------------------------------------------------------------------

    def user(self, name: str) -> User:
        """A known user by name (admin, alice, bob, the controller's or the webhook's)."""
        try:
            return self.users[name]
        except KeyError:
            raise KeyError(f"unknown user {name!r}; known: {sorted(self.users)}") from None

    def token_client(self, token: str) -> k8s.ApiClient:
        """An ApiClient that sends `token` (e.g. one the TokenRequest API minted for a pod)."""
        config = k8s.Configuration(host=self.api_url)
        config.ssl_ca_cert = str(self.ca_path)
        config.api_key = {"BearerToken": token}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        return k8s.ApiClient(config)

    def client(self, user: str) -> k8s.ApiClient:
        """A `kubernetes` ApiClient acting as `user` over HTTPS, trusting our CA (cached)."""
        if user not in self._clients:
            config = k8s.Configuration(host=self.api_url)
            config.ssl_ca_cert = str(self.ca_path)
            config.api_key = {"BearerToken": self.user(user).token}
            config.api_key_prefix = {"BearerToken": "Bearer"}
            self._clients[user] = k8s.ApiClient(config)
        return self._clients[user]

    def kubeconfig(self, user: str) -> Path:
        """A kubeconfig file that talks to this API server as `user`."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", user)
        path = self.workdir / f"kubeconfig-{safe}.yaml"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "e2e",
            "clusters": [
                {
                    "name": "e2e",
                    "cluster": {"server": self.api_url, "certificate-authority": str(self.ca_path)},
                }
            ],
            "users": [{"name": user, "user": {"token": self.user(user).token}}],
            "contexts": [
                {"name": "e2e", "context": {"cluster": "e2e", "user": user, "namespace": "default"}}
            ],
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle)
        return path

    # -- webhooks ----------------------------------------------------------------------------

    def register_webhooks(
        self, body: dict[str, Any], *, url: str, ca_bundle: bytes
    ) -> dict[str, Any]:
        """Create a Validating/MutatingWebhookConfiguration whose webhooks call `url`.

        Each webhook's `clientConfig.service` (as a chart renders it) becomes
        `url` + the service's path, with `caBundle` set — as envtest does for its webhooks.
        The API server starts calling it a moment later (it watches these objects): wait on an
        effect, not on this call returning.
        """
        kind = body.get("kind")
        if kind not in WEBHOOK_KINDS:
            raise ValueError(f"not a webhook configuration: kind {kind!r}")
        body = point_webhooks_at(body, url=url, ca_bundle=ca_bundle)
        api = k8s.AdmissionregistrationV1Api(self.client(ADMIN))
        create = getattr(api, f"create_{WEBHOOK_KINDS[kind]}_webhook_configuration")
        return read_json(create(body, _preload_content=False))

    def delete_webhooks(self, body: dict[str, Any]) -> None:
        """Delete the webhook configuration named by `body` (kind + metadata.name), if present."""
        api = k8s.AdmissionregistrationV1Api(self.client(ADMIN))
        delete = getattr(api, f"delete_{WEBHOOK_KINDS[body['kind']]}_webhook_configuration")
        try:
            delete(body["metadata"]["name"])
        except ApiException as error:
            if error.status != 404:
                raise


def point_webhooks_at(body: dict[str, Any], *, url: str, ca_bundle: bytes) -> dict[str, Any]:
    """A copy of a webhook configuration with every clientConfig set to `url` + path and our CA."""
    body = copy.deepcopy(body)
    base = url.rstrip("/")
    for webhook in body.get("webhooks") or []:
        config = webhook.get("clientConfig") or {}
        path = (config.get("service") or {}).get("path") or urlsplit(config.get("url", "")).path
        webhook["clientConfig"] = {
            "url": base + (path or ""),
            "caBundle": base64.b64encode(ca_bundle).decode(),
        }
    return body
