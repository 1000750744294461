"""Shared pieces of the benchmarks: servers started as processes, a keep-alive HTTPS load
generator in several processes (so the client's GIL is not the bottleneck), statistics.

Benchmarks print figures; nothing here asserts anything.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# The test harness (processes, ports) and the e2e control plane, shared with the test suites;
# pytest finds them through its `pythonpath`, a benchmark run as a script through this line.
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests/e2e")]

from harness.processes import Process, free_port  # noqa: E402


def make_certs(directory: Path) -> Path:
    """A CA and serving certificate for 127.0.0.1/localhost; returns the CA path."""
    from admission.server import certs

    certs.write_bundle(directory, certs.make_bundle(certs.default_hosts()))
    return directory / "ca.crt"


def ssl_context(ca: Path) -> ssl.SSLContext:
    """A client context trusting only our CA."""
    return ssl.create_default_context(cafile=str(ca))


@dataclass
class Server:
    """A webhook server process (ours or the trivial one) on 127.0.0.1."""

    name: str
    command: list[str]
    port: int
    ca: Path
    log: Path
    process: Process | None = None

    def start(self, timeout: float = 60) -> None:
        """Start and wait until /readyz answers 200."""
        self.process = Process(self.name, self.command, log_path=self.log, cwd=ROOT).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if get(self.port, self.ca, "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL after 15 s."""
        if self.process is not None:
            self.process.stop()

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def url(self) -> str:
        """Base URL."""
        return f"https://127.0.0.1:{self.port}"


def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(port: int, ca: Path, path: str) -> tuple[int, bytes]:
    """One GET over a fresh TLS connection."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl_context(ca), timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@contextmanager
def servers(specs: Sequence[tuple[str, list[str]]], workdir: Path) -> Iterator[list[Server]]:
    """Start every (name, argv-without-port) server; argv gets `--port P` appended."""
    started: list[Server] = []
    ca = make_certs(workdir / "certs")
    try:
        for name, argv in specs:
            port = free_port()
            server = Server(
                name,
                [*argv, "--port", str(port)],
                port,
                ca,
                workdir / f"{name.replace(' ', '-')}.log",
            )
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()


def serve_command(
    *,
    cert_dir: Path,
    config: Path | None,
    templates: Sequence[Path] = (),
    kubeconfig: Path | None = None,
    workers: int = 2,
    threads: int = 4,
    extra: Sequence[str] = (),
) -> list[str]:
    """`argo-admission serve` on 127.0.0.1 (port appended by `servers`)."""
    cmd = [
        PYTHON,
        "-m",
        "admission.cli.main",
        "serve",
        *_flags(cert_dir, workers, threads),
        "--log-level",
        "warning",
    ]
    if config is not None:
        cmd += ["--config", str(config)]
    if kubeconfig is not None:
        cmd += ["--kubeconfig", str(kubeconfig)]
    else:
        flags = [arg for path in templates for arg in ("--templates", str(path))]
        cmd += flags if templates else ["--no-cluster"]
    return [*cmd, *extra]


def trivial_command(*, cert_dir: Path, workers: int = 2, threads: int = 4) -> list[str]:
    """The trivial Flask handler, served by the same gunicorn setup."""
    return [PYTHON, str(ROOT / "bench/trivial_server.py"), *_flags(cert_dir, workers, threads)]


def _flags(cert_dir: Path, workers: int, threads: int) -> list[str]:
    """The serving flags both servers take, so they are served identically."""
    return [
        "--host",
        "127.0.0.1",
        "--cert-dir",
        str(cert_dir),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]


# --- load ----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a load run measured."""

    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Requests answered."""
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in ms."""
        return percentile(self.latencies_ms, p)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _client(args: tuple[int, str, list[tuple[str, bytes]], float, int, Any]) -> dict[str, Any]:
    port, ca, requests, duration, limit, start_at = args
    context = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    end = t0 + duration
    i = 0
    while time.perf_counter() < end and (limit <= 0 or i < limit):
        path, body = requests[i % len(requests)]
        i += 1
        began = time.perf_counter()
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status != 200:
                errors += 1
                continue
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
            continue
        latencies.append((time.perf_counter() - began) * 1000)
    conn.close()
    return {
        "latencies": latencies,
        "errors": errors,
        "statuses": statuses,
        "t0": t0,
        "t1": time.perf_counter(),
    }


def run_load(
    server: Server,
    requests: Sequence[tuple[str, bytes]],
    *,
    clients: int,
    duration: float,
    limit: int = 0,
) -> LoadResult:
    """`clients` processes, each on one keep-alive connection, for `duration` seconds (or
    `limit` requests each)."""
    start_at = time.time() + 0.3
    jobs = [
        (server.port, str(server.ca), list(requests), duration, limit, start_at)
        for _ in range(clients)
    ]
    with mp.get_context("fork").Pool(clients) as pool:
        parts = pool.map(_client, jobs)
    # CLOCK_MONOTONIC is one clock for every process on Linux
    elapsed = max(p["t1"] for p in parts) - min(p["t0"] for p in parts)
    result = LoadResult(seconds=max(elapsed, 1e-9))
    for part in parts:
        result.latencies_ms.extend(part["latencies"])
        result.errors += part["errors"]
        for status, n in part["statuses"].items():
            result.statuses[status] = result.statuses.get(status, 0) + n
    return result


def review_bodies(reviews: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, bytes]]:
    """(path, encoded body) pairs."""
    return [(path, json.dumps(review).encode()) for path, review in reviews]


def running_workflow(
    user_spec: dict[str, Any],
    template_spec: dict[str, Any],
    defaults_spec: dict[str, Any],
    *,
    name: str,
) -> dict[str, Any]:
    """A ref Workflow as it stands once Argo's controller started it: Running, with the
    stored spec joined from the Workflow, its template and workflowDefaults."""
    from admission.core.merge import join_workflow_spec

    stored = join_workflow_spec(user_spec, template_spec, defaults_spec)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": user_spec,
        "status": {"phase": "Running", "storedWorkflowTemplateSpec": stored},
    }


def median(values: Sequence[float]) -> float:
    """statistics.median, nan for no values."""
    return statistics.median(values) if values else float("nan")


def workdir(prefix: str) -> Path:
    """A temporary directory for one benchmark run."""
    return Path(tempfile.mkdtemp(prefix=f"argo-admission-bench-{prefix}-"))
