"""Faults on the template lookup path: an API server that is unreachable or never answers.

The server follows the policy's lookupFailurePolicy within its lookup timeout and says why:
Fail refuses with code 500 naming the API server, Ignore admits with a warning. A template
lookup that never ends would otherwise run into the API server's own webhook timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.processes import free_port
from harness.serve import serve_argv, start_serve

from .conftest import Server, load, review_of, wait_for, write_certs

LOOKUP_TIMEOUT = 1.0
WEBHOOK_TIMEOUT = 10.0  # the API server's timeoutSeconds: an answer must come before it


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections and never says a byte (a hung API server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def kubeconfig(directory: Path, port: int) -> Path:
    """A kubeconfig pointing at 127.0.0.1:port."""
    path = directory / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path


def start(directory: Path, port: int, failure_policy: str) -> Server:
    """A server whose templates come from the API server at `port`; not waiting for /readyz
    (its caches never sync), only for /healthz."""
    directory.mkdir()
    cert_dir = directory / "certs"
    write_certs(cert_dir)
    policy = directory / "policy.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "workflowRestrictions": {"templateReferencing": "Strict"},
                "lookupFailurePolicy": failure_policy,
            }
        )
    )
    server_port = free_port()
    argv = serve_argv(
        port=server_port,
        cert_dir=cert_dir,
        config=policy,
        workers=1,
        kubeconfig=kubeconfig(directory, port),
        args=["--lookup-timeout", str(LOOKUP_TIMEOUT)],
    )
    out, err = directory / "stdout.log", directory / "stderr.log"
    process = start_serve(argv, log_path=err, stdout_path=out, cwd=directory)
    server = Server(process, server_port, cert_dir, out, err, policy)

    def healthy() -> bool:
        try:
            return server.get("/healthz").status_code == 200
        except OSError:
            return False

    wait_for(healthy, what="/healthz")
    return server


def ref_review() -> dict[str, Any]:
    """A Workflow referencing a template no cache has seen: a lookup must go to the API."""
    return review_of(load("ref-workflow"))


@pytest.mark.parametrize("where", ["hung", "refused"])
def test_a_failed_lookup_is_refused_with_500_naming_the_api_server_in_time(
    tmp_path: Path, black_hole: int, where: str
) -> None:
    port = black_hole if where == "hung" else free_port()
    server = start(tmp_path / "fail", port, "Fail")
    try:
        began = time.monotonic()
        response = server.admit(ref_review())
        waited = time.monotonic() - began
    finally:
        server.stop()
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    message = response["status"]["message"]
    assert "[template-lookup] cannot look up WorkflowTemplate team-a/" in message
    assert f"127.0.0.1:{port}" in message
    assert waited < WEBHOOK_TIMEOUT, f"answered after {waited:.1f}s, past the webhook timeout"


def test_with_lookup_failure_policy_ignore_the_workflow_is_admitted_with_a_warning(
    tmp_path: Path, black_hole: int
) -> None:
    server = start(tmp_path / "ignore", black_hole, "Ignore")
    try:
        response = server.admit(ref_review())
    finally:
        server.stop()
    assert response["allowed"] is True
    assert any("(lookupFailurePolicy: Ignore)" in w for w in response.get("warnings", []))


def test_the_server_is_not_ready_while_its_caches_cannot_sync(
    tmp_path: Path, black_hole: int
) -> None:
    server = start(tmp_path / "unready", black_hole, "Fail")
    try:
        assert server.get("/healthz").status_code == 200
        assert server.get("/readyz").status_code == 503
    finally:
        server.stop()
