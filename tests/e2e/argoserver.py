"""Argo's API server (`argo server`, the path of Argo's UI and API) as a local process.

It runs with `--auth-mode=client`: every call must carry a Kubernetes bearer token, and the
server makes its Kubernetes requests with that token, so the API server (and argo-admission
behind it) sees the user who called, never the server. Its own identity,
`system:serviceaccount:argo:argo-server` with Argo's argo-server ClusterRole, only reads its
configuration and watches templates and Workflows. It serves TLS with the self-signed
certificate it makes at start (`--secure`, Argo's default) on 127.0.0.1.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from argocontroller import ARGO_STOP_GRACE, CONFIGMAP, argo_env, argo_version
from harness.processes import Process, Supervised, find_binary, free_port, wait_for
from identities import ARGO_NAMESPACE, ARGO_SERVER

if TYPE_CHECKING:
    from controlplane import ControlPlane

READY_TIMEOUT = 60.0
# One path per service of Argo's JSON API that the tests call (server/apiserver/argoserver.go
# registers each service's gateway on a connection of its own).
SERVICES = (
    "/api/v1/version",
    "/api/v1/workflows/argo",
    "/api/v1/workflow-templates/argo",
    "/api/v1/cluster-workflow-templates",
    "/api/v1/cron-workflows/argo",
)


class ArgoServer(Supervised):
    """`argo server --auth-mode=client --secure` on a free port of 127.0.0.1."""

    label = "argo-server"
    stop_grace = ARGO_STOP_GRACE

    def __init__(self, plane: ControlPlane, *, version: str | None = None) -> None:
        self.plane = plane
        self.version = version or argo_version()
        self.binary = find_binary(f"argo-{self.version}")
        self.port = free_port()
        self.log_path = plane.workdir / f"argo-server-{self.version}.log"
        self.process: Process | None = None
        # The certificate is the server's own, made at start: nothing to pin it to.
        self._tls = ssl.create_default_context()
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE

    @property
    def address(self) -> str:
        """host:port, as ARGO_SERVER takes it."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> ArgoServer:
        """Start the server and wait until it serves."""
        self.stop()
        kubeconfig = self.plane.kubeconfig(ARGO_SERVER)
        argv = [
            self.binary,
            "server",
            "--kubeconfig",
            kubeconfig,
            "--namespace",
            ARGO_NAMESPACE,
            "--configmap",
            CONFIGMAP,
            "--auth-mode=client",
            "--secure=true",
            "--port",
            str(self.port),
        ]
        # In client mode the server builds each user's client from the default kubeconfig
        # loading rules, not from --kubeconfig (DefaultClientForAuthorization in
        # server/auth/gatekeeper.go, util/kubeconfig): KUBECONFIG names the API server to it.
        env = argo_env(KUBECONFIG=str(kubeconfig))
        self.process = Process("argo-server", argv, log_path=self.log_path, env=env).start()
        # Its JSON API reaches each gRPC service through a connection the server dials to itself
        # before it listens: until that connection is up again, the service answers 503 (and
        # without a token, 401 once it is up).
        try:
            wait_for(
                lambda: {path: self.status(path) for path in SERVICES},
                until=lambda codes: 503 not in codes.values(),
                what=f"argo-server's API at {self.address} ({self.log_path})",
                timeout=READY_TIMEOUT,
                check=self.process.check_alive,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def status(self, path: str) -> int:
        """The HTTP status of a GET of `path` without a token."""
        try:
            with urllib.request.urlopen(
                f"https://{self.address}{path}", timeout=5, context=self._tls
            ) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def client_env(self, token: str, namespace: str, *, http1: bool) -> dict[str, str]:
        """What Argo's CLI needs to call this server as the user whose token this is.

        By gRPC, the CLI's own way; with `http1` by the JSON REST API that Argo's UI uses
        (grpc-gateway in front of the same services).
        """
        return {
            "ARGO_SERVER": self.address,
            "ARGO_TOKEN": f"Bearer {token}",
            "ARGO_SECURE": "true",
            "ARGO_INSECURE_SKIP_VERIFY": "true",
            "ARGO_HTTP1": "true" if http1 else "false",
            "ARGO_NAMESPACE": namespace,
        }
