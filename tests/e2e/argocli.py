"""Argo's own CLI (`argo`, built by tests/e2e/setup.sh) acting as a user against the API server.

Without ARGO_SERVER the CLI runs Argo's API in-process and talks to the API server directly with
the user's kubeconfig: every change it makes reaches the admission webhooks as that user.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from argocontroller import argo_version
from processes import find_binary

if TYPE_CHECKING:
    from controlplane import ControlPlane

TIMEOUT = 60.0


def cli_env() -> dict[str, str]:
    """Our environment without ARGO_* (ARGO_SERVER would send the CLI elsewhere) or KUBECONFIG."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ARGO_") and k != "KUBECONFIG"}


class ArgoCLI:
    """`argo` as one user in one namespace."""

    def __init__(self, plane: ControlPlane, user: str, namespace: str) -> None:
        self.binary = find_binary(f"argo-{argo_version()}")
        self.kubeconfig = plane.kubeconfig(user)
        self.namespace = namespace

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `argo ARGS...`; the finished process (the caller checks the return code)."""
        argv = [str(self.binary), "--kubeconfig", str(self.kubeconfig), "-n", self.namespace,
                *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False, env=cli_env())

    def __call__(self, *args: str) -> str:
        """Run `argo ARGS...` and return its stdout; AssertionError with stderr if it fails."""
        result = self.run(*args)
        assert result.returncode == 0, (
            f"argo {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout
