"""Argo's own CLI (`argo`, built by tests/e2e/setup.sh) acting as a user, by either of its paths.

Without a server the CLI runs Argo's API in-process and talks to the API server directly with
the user's kubeconfig. With an ArgoServer it sends every operation to `argo server` with the
user's token (ARGO_TOKEN), by gRPC or by the JSON API of Argo's UI, and the server carries it
out as that user. Either way every change reaches the admission webhooks as the user.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from argocontroller import argo_env, argo_version
from harness.processes import find_binary

if TYPE_CHECKING:
    from argoserver import ArgoServer
    from controlplane import ControlPlane

TIMEOUT = 60.0


class ArgoCLI:
    """`argo` as one user in one namespace, directly or through `argo server`."""

    def __init__(
        self,
        plane: ControlPlane,
        user: str,
        namespace: str,
        *,
        server: ArgoServer | None = None,
        http1: bool = False,
    ) -> None:
        self.binary = find_binary(f"argo-{argo_version()}")
        self.namespace = namespace
        self.server = server
        if server is None:
            self.path = "kube"
            self.options = ["--kubeconfig", str(plane.kubeconfig(user))]
            self.env = argo_env()
        else:
            self.path = f"argo-server {'http' if http1 else 'grpc'}"
            self.options = []
            self.env = argo_env(**server.client_env(plane.user(user).token, namespace, http1=http1))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `argo ARGS...`; the finished process (the caller checks the return code)."""
        argv = [str(self.binary), *self.options, "-n", self.namespace, *args]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=TIMEOUT, check=False, env=self.env
        )

    def __call__(self, *args: str) -> str:
        """Run `argo ARGS...` and return its stdout; AssertionError with stderr if it fails."""
        result = self.run(*args)
        assert result.returncode == 0, (
            f"argo {' '.join(args)} ({self.path}) exited {result.returncode}: "
            f"{result.stderr.strip()}"
        )
        return result.stdout
