"""The real server for integration tests: `argo-admission serve` under gunicorn, TLS on loopback.

Certificates come from admission.server.certs in a temporary directory, templates from files
(--templates), so no cluster is needed. `server` is shared by the tests that only send
requests; `start_server` makes a private one for tests that change files or kill processes.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

from admission.core.review import make_review
from admission.server import certs
from harness.processes import Process, free_port
from harness.serve import WORKER_STARTED, serve_argv, start_serve

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "integration"
TEMPLATES = FIXTURES / "templates"
POLICIES = FIXTURES / "policies"
START_SECONDS = 60.0
STOP_SECONDS = 15.0


def load(name: str) -> dict[str, Any]:
    """A fixture object from tests/fixtures/integration/objects."""
    doc: dict[str, Any] = yaml.safe_load((FIXTURES / "objects" / f"{name}.yaml").read_text())
    return doc


def review_of(obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """An AdmissionReview for `obj` in team-a by alice, unless told otherwise."""
    kwargs.setdefault("namespace", "team-a")
    kwargs.setdefault("username", "alice")
    return make_review(obj, **kwargs)


def wait_for(check: Callable[[], bool], *, seconds: float = 30.0, what: str = "") -> None:
    """Poll `check` until it holds; fail the test after `seconds` (a limit, not an assertion)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what or check}")
        time.sleep(0.05)


def decode_patch(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSONPatch of an admission response ([] when none)."""
    if "patch" not in response:
        return []
    assert response["patchType"] == "JSONPatch"
    ops: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return ops


@dataclass
class Server:
    """A running `argo-admission serve` process and how to talk to it."""

    process: Process
    port: int
    cert_dir: Path
    stdout: Path
    stderr: Path
    policy: Path | None = None
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        """The base URL (IP address: the certificate has it as a SAN)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> str:
        """The CA file a client verifies the server with."""
        return str(self.cert_dir / "ca.crt")

    def post(
        self,
        path: str,
        body: bytes | str | dict[str, Any],
        *,
        content_type: str = "application/json",
        session: requests.Session | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """POST a body (a dict is sent as JSON) over the kept-alive session."""
        data = json.dumps(body) if isinstance(body, dict) else body
        return (session or self.session).post(
            self.url + path,
            data=data,
            headers={"Content-Type": content_type},
            verify=self.ca,
            timeout=30,
            **kwargs,
        )

    def get(self, path: str) -> requests.Response:
        """GET a path."""
        return self.session.get(self.url + path, verify=self.ca, timeout=30)

    def admit(
        self,
        review: dict[str, Any],
        *,
        endpoint: str = "validate",
        session: requests.Session | None = None,
    ) -> dict[str, Any]:
        """Send an AdmissionReview and return its `response` (HTTP 200 required)."""
        resp = self.post(f"/{endpoint}", review, session=session)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["kind"] == "AdmissionReview"
        assert body["response"]["uid"] == review["request"]["uid"]
        response: dict[str, Any] = body["response"]
        return response

    def ready(self) -> bool:
        """Whether /readyz answers 200 now."""
        try:
            return self.get("/readyz").status_code == 200
        except requests.RequestException:
            return False

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, keyed by (sample name, sorted labels)."""
        text = self.get("/metrics").text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def audit_lines(self) -> list[dict[str, Any]]:
        """The audit lines written to stdout so far."""
        lines = []
        for raw in self.stdout.read_text().splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if line.get("event") == "admission_decision":
                    lines.append(line)
        return lines

    def log_text(self) -> str:
        """Everything the server wrote to stderr (its JSON operational log)."""
        return self.stderr.read_text()

    def workers(self) -> list[int]:
        """PIDs of the gunicorn workers (children of the master we started)."""
        return children(self.process.pid)

    def serial(self) -> int:
        """The serial of the certificate a brand-new TLS connection is served."""
        context = ssl.create_default_context(cafile=self.ca)
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not stopped; the exit code."""
        self.session.close()
        return self.process.stop(grace=STOP_SECONDS)


def children(pid: int) -> list[int]:
    """Child PIDs of `pid`, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: the ppid follows the last ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return sorted(out)


def replace_file(path: Path, text: str) -> None:
    """Replace a file whole, as a ConfigMap volume update does."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    os.replace(tmp, path)


def rotate(cert_dir: Path, *, days: int = 365) -> int:
    """A new serving certificate from the same CA, written over the old files; its serial."""
    ca_cert = x509.load_pem_x509_certificate((cert_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((cert_dir / "ca.key").read_bytes(), None)
    cert, key = certs.make_serving(ca_cert, ca_key, certs.default_hosts(), days=days)  # type: ignore[arg-type]
    pem = serialization.Encoding.PEM
    certs.write_bundle(
        cert_dir,
        certs.Bundle(
            (cert_dir / "ca.crt").read_bytes(),
            (cert_dir / "ca.key").read_bytes(),
            cert.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ),
    )
    return cert.serial_number


def write_certs(directory: Path) -> certs.Bundle:
    """A fresh CA and serving certificate for the loopback addresses."""
    bundle = certs.make_bundle(certs.default_hosts())
    certs.write_bundle(directory, bundle)
    return bundle


def launch(
    directory: Path,
    args: Sequence[str],
    *,
    cert_dir: Path | None = None,
    policy: Path | None = None,
    cwd: Path | None = None,
    workers: int = 1,
) -> Server:
    """Start `argo-admission serve ARGS`; wait until `workers` workers run and it is ready."""
    port = free_port()
    stdout, stderr = directory / "stdout.log", directory / "stderr.log"
    argv = serve_argv(port=port, cert_dir=cert_dir, config=policy, args=args)
    process = start_serve(argv, log_path=stderr, stdout_path=stdout, cwd=cwd or directory)
    server = Server(process, port, cert_dir or (cwd or directory) / "certs", stdout, stderr, policy)
    deadline = time.monotonic() + START_SECONDS
    while not (server.log_text().count(WORKER_STARTED) >= workers and server.ready()):
        if not process.alive() or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"server did not start: {server.log_text()[-3000:]}")
        time.sleep(0.05)
    return server


StartServer = Callable[..., Server]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start private servers: start_server(policy="enforce.yaml", workers=2, args=[...])."""
    started: list[Server] = []

    def start(
        policy: str | None = "enforce.yaml", *, workers: int = 2, args: Sequence[str] = ()
    ) -> Server:
        directory = tmp_path / f"server{len(started)}"
        cert_dir = directory / "certs"
        directory.mkdir()
        write_certs(cert_dir)
        policy_file = None
        if policy is not None:
            policy_file = directory / "policy.yaml"
            policy_file.write_text((POLICIES / policy).read_text())
        server = launch(
            directory,
            ["--templates", str(TEMPLATES), "--workers", str(workers), *args],
            cert_dir=cert_dir,
            policy=policy_file,
            workers=workers,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the request-only tests: enforce.yaml, 2 workers, an audit file."""
    directory = tmp_path_factory.mktemp("server")
    cert_dir = directory / "certs"
    write_certs(cert_dir)
    started = launch(
        directory,
        [
            "--templates",
            str(TEMPLATES),
            "--workers",
            "2",
            "--audit-file",
            str(directory / "audit.log"),
        ],
        cert_dir=cert_dir,
        policy=POLICIES / "enforce.yaml",
        workers=2,
    )
    yield started
    started.stop()
