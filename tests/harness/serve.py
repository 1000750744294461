"""`argo-admission serve` as a process on 127.0.0.1: the one way integration, e2e and bench
start the server under test."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.processes import Process

CLI = Path(sys.executable).parent / "argo-admission"
WORKER_STARTED = "started with the policy from"
"""What each worker logs once it serves (the server's log)."""


def serve_env() -> dict[str, str]:
    """Our environment without what would steer the server elsewhere (kubeconfig, metrics dir)."""
    return {
        k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PROMETHEUS_MULTIPROC_DIR")
    }


def serve_argv(
    *,
    port: int,
    cert_dir: Path | None = None,
    config: Path | None = None,
    kubeconfig: Path | None = None,
    workers: int | None = None,
    args: Sequence[str | os.PathLike[str]] = (),
) -> list[str]:
    """The command line of `argo-admission serve` on 127.0.0.1:`port`."""
    argv = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]
    for flag, value in (
        ("--cert-dir", cert_dir),
        ("--config", config),
        ("--kubeconfig", kubeconfig),
        ("--workers", workers),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv + [str(arg) for arg in args]


def start_serve(
    argv: Sequence[str],
    *,
    log_path: Path,
    stdout_path: Path | None = None,
    cwd: Path | None = None,
) -> Process:
    """Start `argv` (from serve_argv) as our own process; the caller waits for it to be ready."""
    return Process(
        "argo-admission",
        argv,
        log_path=log_path,
        stdout_path=stdout_path,
        env=serve_env(),
        cwd=cwd,
    ).start()
