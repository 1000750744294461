"""argo-admission in front of the e2e API server: the door the end-to-end tests walk through.

`AdmissionServer` runs `argo-admission serve` as a local process (gunicorn + TLS on 127.0.0.1,
its own CA, reading the cluster as the `argo-admission` user). `Door` adds the Helm chart: one
set of chart values renders both the policy the server loads and the webhook configurations the
API server is given, so what is proven is what the chart installs. Changing the values restarts
the server (same port, same CA) and/or replaces the registration, and waits until the API server
calls the server as configured — never a sleep.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families

from admission.core.review import make_review
from admission.server import certs
from chart_render import deep_merge, render_policy, render_webhooks
from controlplane import ControlPlane
from harness.processes import Process, ProcessError, Supervised, find_binary, free_port, wait_for
from harness.serve import CLI, serve_argv, serve_env, start_serve
from identities import ADMIN, WEBHOOK
from workflows import API_VERSION, GROUP, VERSION, container, unique

# The webhook names the chart gives, and how the API server reports a denial by the first.
VALIDATE_WEBHOOK = "validate.argo-admission.io"
MUTATE_WEBHOOK = "mutate.argo-admission.io"
DENIED = f'admission webhook "{VALIDATE_WEBHOOK}" denied the request: '
READY_TIMEOUT = 60.0
REGISTER_TIMEOUT = 30.0
# argo-admission's counters of answered requests: by endpoint and decision; by endpoint, kind
# and operation.
REQUESTS = "argo_admission_requests"
REVIEWED = "argo_admission_reviewed_objects"
# Every door exempts, on top of the chart's own: `exempt` (alice may write there, the tests of
# exemption use it) and `argo`, where WorkflowController's canary (an inline Workflow) checks
# which restriction the controller runs with.
BASE_VALUES: dict[str, Any] = {"policy": {"exemptions": {"namespaces": ["argo", "exempt"]}}}
PROBE_NAMESPACE = "team-a"


def chart_values(referencing: str, **policy: Any) -> dict[str, Any]:
    """Chart values for a door: BASE_VALUES, `templateReferencing`, and more `policy:` keys."""
    wanted = {"policy": {"workflowRestrictions": {"templateReferencing": referencing}, **policy}}
    return deep_merge(BASE_VALUES, wanted)


# The chart's `webhook.skipExempt: false`: the API server then sends the controller's own
# requests to argo-admission too (as on Kubernetes < 1.30, which has no matchConditions), and the
# policy's exemption is what lets them through — which the audit log can then show.
EVERY_REQUEST: dict[str, Any] = {"webhook": {"skipExempt": False}}
STRICT = deep_merge(chart_values("Strict"), EVERY_REQUEST)
SECURE = deep_merge(chart_values("Secure"), EVERY_REQUEST)


def apiserver_version() -> str:
    """The version of the kube-apiserver binary under test, as it says itself (`1.36.3`).

    The chart gates matchConditions on it (setup.sh stamps it into the binary).
    """
    result = subprocess.run(
        [str(find_binary("kube-apiserver")), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip().removeprefix("Kubernetes ").removeprefix("v")


def generate_certs(out: Path) -> Path:
    """`argo-admission certs generate` for 127.0.0.1 into `out`; returns `out`."""
    result = subprocess.run(
        [str(CLI), "certs", "generate", "--out", str(out), "--host", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=serve_env(),
    )
    if result.returncode != 0:
        raise ProcessError(f"argo-admission certs generate failed: {result.stderr.strip()}")
    return out


class AdmissionServer(Supervised):
    """`argo-admission serve` on 127.0.0.1 with a policy file, restartable on the same port."""

    label = "argo-admission"

    def __init__(self, plane: ControlPlane, workdir: Path, *, workers: int = 2) -> None:
        self.plane = plane
        self.workdir = workdir
        self.workers = workers
        self.port = free_port()
        self.cert_dir = generate_certs(workdir / "certs")
        self.policy_path = workdir / "policy.yaml"
        self.audit_path = workdir / "audit.jsonl"
        self.log_path = workdir / "serve.log"
        self.process: Process | None = None
        self.policy: str | None = None
        self._tls = ssl.create_default_context(cafile=self.ca_path)

    @property
    def url(self) -> str:
        """The server's HTTPS base URL."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The CA that signed the server's certificate (the webhooks' caBundle)."""
        return self.cert_dir / "ca.crt"

    def start(self, policy: str) -> None:
        """(Re)start the server with `policy` (YAML text) and wait until /readyz says ok."""
        self.stop()
        self.policy_path.write_text(policy, encoding="utf-8")
        self.policy = policy
        argv = serve_argv(
            port=self.port,
            cert_dir=self.cert_dir,
            config=self.policy_path,
            kubeconfig=self.plane.kubeconfig(WEBHOOK),
            workers=self.workers,
            args=["--threads", "4", "--audit-file", self.audit_path],
        )
        self.process = start_serve(argv, log_path=self.log_path)
        try:
            wait_for(
                lambda: self.get("/readyz"),
                until=lambda body: body.get("status") == "ok",
                what=f"argo-admission /readyz at {self.url} ({self.log_path})",
                timeout=READY_TIMEOUT,
                check=self.process.check_alive,
            )
        except BaseException:
            self.stop()
            raise

    def get(self, path: str) -> Any:
        """GET `path` over HTTPS, trusting our CA; JSON decoded when it is JSON."""
        with urllib.request.urlopen(self.url + path, timeout=5, context=self._tls) as response:
            body = response.read().decode()
        return (
            json.loads(body) if response.headers.get_content_type() == "application/json" else body
        )

    def request_counts(self, **labels: str) -> dict[str, float]:
        """Admission requests answered so far, by endpoint, among those matching `labels`:
        a `decision`, or a `kind` and/or an `operation` (the metrics count those apart)."""
        if "decision" in labels and len(labels) > 1:
            raise ValueError(f"argo-admission counts decisions apart from kinds: {labels}")
        wanted = REQUESTS if "decision" in labels else REVIEWED
        counts = {"validate": 0.0, "mutate": 0.0}
        for family in text_string_to_metric_families(self.get("/metrics")):
            if family.name != wanted:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    endpoint = sample.labels["endpoint"]
                    counts[endpoint] = counts.get(endpoint, 0.0) + sample.value
        return counts

    def audit_lines(self) -> list[dict[str, Any]]:
        """Every audit line the server has written to its --audit-file."""
        try:
            text = self.audit_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def probe_template() -> dict[str, Any]:
    """A WorkflowTemplate nobody else creates while the door is (re)registered."""
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkflowTemplate",
        "metadata": {"name": unique("door-probe"), "namespace": PROBE_NAMESPACE},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": container("alpine:3.20")}],
        },
    }


class Door:
    """Our server plus the chart's webhook configurations, registered with the API server."""

    def __init__(self, plane: ControlPlane, workdir: Path) -> None:
        self.plane = plane
        self.server = AdmissionServer(plane, workdir)
        self.values: dict[str, Any] | None = None
        self.registered: list[dict[str, Any]] = []
        self._rendered: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._admin = k8s.CustomObjectsApi(plane.client(ADMIN))

    @property
    def ca_bundle(self) -> bytes:
        """The PEM CA the webhook configurations carry."""
        return self.server.ca_path.read_bytes()

    def configure(self, values: Mapping[str, Any]) -> None:
        """Serve the policy and register the webhooks the chart renders from `values`.

        A no-op for what is already in force: the server restarts only when its policy changed
        or it is down, the registration is replaced only when the rendered webhooks changed.
        """
        policy, webhooks = self.render(values)
        if not self.server.alive() or policy != self.server.policy:
            self.server.start(policy)
        if webhooks != self.registered:
            self.unregister()
            for body in webhooks:
                self.plane.register_webhooks(body, url=self.server.url, ca_bundle=self.ca_bundle)
            self.registered = webhooks
            self._wait_until_called(webhooks)
        self.values = dict(values)

    def render(self, values: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """The policy and the webhook configurations the chart renders from `values` (cached:
        tests switch between a few sets of values, and each helm run takes a moment)."""
        key = json.dumps(values, sort_keys=True)
        if key not in self._rendered:
            ca = base64.b64encode(self.ca_bundle).decode()
            version = apiserver_version()
            self._rendered[key] = (
                render_policy(values, kube_version=version),
                render_webhooks(self.server.url, ca, values, kube_version=version),
            )
        return self._rendered[key]

    def unregister(self) -> None:
        """Delete our webhook configurations and wait until the API server stops calling us."""
        if not self.registered:
            return
        for body in self.registered:
            self.plane.delete_webhooks(body)
        self.registered = []
        if not self.server.alive():
            self.server.start(self.server.policy or self.render(self.values or BASE_VALUES)[0])
        wait_for(
            self.probe,
            until=lambda seen: not any(seen.values()),
            what="the API server to stop calling argo-admission once its webhook "
            f"configurations are deleted ({self.server.log_path})",
            timeout=REGISTER_TIMEOUT,
        )

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Nobody at the door for the duration: the server stopped, its webhooks still
        registered; then the server started again with its policy (the cleanup after a test
        deletes templates, which the validating webhook sees)."""
        self.server.stop()
        try:
            yield
        finally:
            self.server.start(self.server.policy or self.render(self.values or BASE_VALUES)[0])

    def close(self) -> None:
        """Unregister, then stop the server: the API server never calls a dead door after us."""
        try:
            self.unregister()
        finally:
            self.server.stop()

    def probe(self) -> dict[str, float]:
        """Dry-run CREATE a WorkflowTemplate as admin; how many calls each endpoint got for it."""
        labels = {"kind": "WorkflowTemplate", "operation": "CREATE"}
        before = self.server.request_counts(**labels)
        body = probe_template()
        try:
            self._admin.create_namespaced_custom_object(
                GROUP, VERSION, PROBE_NAMESPACE, "workflowtemplates", body, dry_run="All"
            )
        except ApiException as error:
            if error.status != 403:  # a policy denial still means we were called
                raise
        after = self.server.request_counts(**labels)
        return {endpoint: after[endpoint] - before.get(endpoint, 0.0) for endpoint in after}

    def _wait_until_called(self, webhooks: list[dict[str, Any]]) -> None:
        """Wait until the API server calls every endpoint the new configurations name."""
        wanted = {
            "mutate" if body["kind"].startswith("Mutating") else "validate" for body in webhooks
        }
        wait_for(
            self.probe,
            until=lambda seen: all(seen[e] > 0 for e in wanted),
            what=f"the API server to call argo-admission's {sorted(wanted)} webhooks "
            f"({self.server.log_path})",
            timeout=REGISTER_TIMEOUT,
            check=self.server.check_alive,
        )

    def tail(self, lines: int = 40) -> str:
        """The server's log tail, for a failed test's report."""
        return self.server.tail(lines)


# --- a bare server: what the tests of serve itself use ------------------------------------


class Webhook:
    """A bare `argo-admission serve --kubeconfig` (no chart, no registration) and a client."""

    def __init__(self, port: int, cert_dir: Path, process: Process) -> None:
        self.url, self.ca, self.process = f"https://127.0.0.1:{port}", cert_dir / "ca.crt", process

    def answer(self, obj: dict[str, Any], *, old: dict[str, Any] | None = None) -> dict[str, Any]:
        """The server's response to alice's CREATE of `obj`, or to her UPDATE of `old` to it."""
        operation = "CREATE" if old is None else "UPDATE"
        review = make_review(
            obj, namespace="team-a", username="alice", operation=operation, old=old
        )
        resp = requests.post(f"{self.url}/validate", json=review, verify=self.ca, timeout=30)
        return dict(resp.json()["response"])

    def allowed(self, obj: dict[str, Any]) -> bool:
        return bool(self.answer(obj)["allowed"])

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/readyz", verify=self.ca, timeout=5).ok
        except requests.RequestException:
            return False


@contextlib.contextmanager
def serve(
    control_plane: ControlPlane,
    tmp_path: Path,
    *args: str,
    port: int | None = None,
    user: str = WEBHOOK,
    ready: bool = True,
) -> Iterator[Webhook]:
    """`argo-admission serve --kubeconfig` as `user` (the webhook's identity), until ready."""
    cert_dir = tmp_path / "certs"
    if not (cert_dir / "tls.crt").exists():
        certs.write_bundle(cert_dir, certs.make_bundle(certs.default_hosts()))
    port = port or free_port()
    argv = serve_argv(
        port=port,
        cert_dir=cert_dir,
        workers=1,
        kubeconfig=control_plane.kubeconfig(user),
        args=args,
    )
    process = start_serve(argv, log_path=tmp_path / "serve.log")
    hook = Webhook(port, cert_dir, process)
    try:
        if ready:
            wait_for(
                hook.ready,
                what=f"the webhook to sync its cache ({tmp_path / 'serve.log'})",
                timeout=60,
            )
        yield hook
    finally:
        process.stop()
