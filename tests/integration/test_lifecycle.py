"""The server over time: policy reloads, certificate rotation, a killed worker, SIGTERM."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import (
    POLICIES,
    Server,
    StartServer,
    launch,
    load,
    replace_file,
    review_of,
    rotate,
    wait_for,
)

pytestmark = pytest.mark.integration


def plain_verdict(server: Server) -> bool:
    """Whether an inline Workflow is admitted, on a new connection (any worker)."""
    with requests.Session() as session:
        return bool(server.admit(review_of(load("plain-workflow")), session=session)["allowed"])


def every_worker_logged(server: Server, text: str, workers: int) -> Callable[[], bool]:
    return lambda: server.log_text().count(text) >= workers


def test_invalid_policy_file_keeps_the_old_policy_and_logs_why(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=2)
    assert server.policy is not None
    replace_file(server.policy, (POLICIES / "invalid.yaml").read_text())
    wait_for(every_worker_logged(server, "keeping the previous policy", 2), what="reload errors")
    log = server.log_text()
    assert "workflowRestrictions.templateReferencing: 'Sometimes' is not one of" in log
    assert "modes: unknown key" in log
    assert not any(plain_verdict(server) for _ in range(10))
    assert server.ready()


def test_valid_new_policy_file_takes_effect(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=2)
    assert server.policy is not None
    assert not plain_verdict(server)
    replace_file(server.policy, (POLICIES / "open.yaml").read_text())
    wait_for(every_worker_logged(server, "policy reloaded", 2), what="both workers reloading")
    assert all(plain_verdict(server) for _ in range(10))
    reloads = server.metrics()[("argo_admission_config_reloads_total", (("result", "ok"),))]
    assert reloads >= 2


def test_a_worker_respawned_after_an_invalid_edit_keeps_the_last_good_policy(
    start_server: StartServer,
) -> None:
    server = start_server("enforce.yaml", workers=1)
    assert server.policy is not None
    replace_file(server.policy, (POLICIES / "open.yaml").read_text())
    wait_for(every_worker_logged(server, "policy reloaded", 1), what="the reload")
    replace_file(server.policy, (POLICIES / "invalid.yaml").read_text())
    wait_for(every_worker_logged(server, "keeping the previous policy", 1), what="the refusal")
    old = server.workers()
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: server.workers() not in ([], old) and server.ready(), what="a new worker")
    assert plain_verdict(server)  # open.yaml, the last good one: not the start-up policy


@contextmanager
def traffic(server: Server, *, threads: int = 3) -> Iterator[dict[str, list[str]]]:
    """Requests sent continuously while the block runs: kept-alive and new connections."""
    stop = threading.Event()
    results: dict[str, list[str]] = {"ok": [], "failed": []}

    def send(fresh: bool) -> None:
        session = requests.Session()
        while not stop.is_set():
            if fresh:
                session.close()
                session = requests.Session()
            try:
                response = server.admit(review_of(load("ref-workflow")), session=session)
                results["ok" if response["allowed"] else "failed"].append("denied")
            except (requests.RequestException, AssertionError) as exc:
                results["failed"].append(repr(exc))
        session.close()

    workers = [threading.Thread(target=send, args=(i % 2 == 1,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield results
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def test_rotated_certificate_is_served_without_failing_a_request(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=2)
    old_serial = server.serial()
    with traffic(server) as results:
        wait_for(lambda: len(results["ok"]) >= 20, what="traffic before the rotation")
        new_serial = rotate(server.cert_dir)
        wait_for(
            lambda: all(server.serial() == new_serial for _ in range(10)),
            what="new connections to get the new certificate",
        )
        count = len(results["ok"])
        wait_for(lambda: len(results["ok"]) >= count + 20, what="traffic after the rotation")
    assert new_serial != old_serial
    assert results["failed"] == []


def test_killed_worker_is_respawned_and_requests_succeed_again(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=2)
    before = server.workers()
    assert len(before) == 2
    with traffic(server) as results:
        wait_for(lambda: len(results["ok"]) >= 20, what="traffic before the kill")
        os.kill(before[0], signal.SIGKILL)
        wait_for(
            lambda: len(server.workers()) == 2 and before[0] not in server.workers(),
            what="gunicorn to respawn the worker",
        )
        wait_for(server.ready, what="readiness after the respawn")
    after = [
        server.admit(review_of(load("ref-workflow")), session=requests.Session()) for _ in range(20)
    ]
    assert all(response["allowed"] for response in after)
    assert server.process.alive()


def test_sigterm_stops_the_server_gracefully(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=2)
    assert server.admit(review_of(load("ref-workflow")))["allowed"] is True
    assert server.stop() == 0
    assert "Shutting down" in server.log_text()


def test_serve_with_no_policy_or_certificate_flags_generates_certs_and_serves_the_default(
    tmp_path: Path,
) -> None:
    server = launch(tmp_path, [], cwd=tmp_path, workers=2)
    try:
        assert (tmp_path / "certs" / "ca.crt").exists()
        assert server.get("/readyz").json()["policy"] == "policies/default.yaml"
        response = server.admit(review_of(load("plain-workflow")))
        assert response["allowed"] is False
        assert "templateReferencing: Secure" in response["status"]["message"]
    finally:
        assert server.stop() == 0


def test_serve_warns_when_the_library_rests_on_rbac_alone(start_server: StartServer) -> None:
    without = start_server("enforce.yaml", workers=1)
    with_authors = start_server("authors.yaml", workers=1)
    assert "templateLibrary.authors is not set" in without.log_text()
    assert "templateLibrary.authors is not set" not in with_authors.log_text()
