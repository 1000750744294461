"""Executors' task-result writes through a real kube-apiserver, decided from the watch's cache.

On the e2e suite's kube-apiserver + etcd: `--workflows` running Workflows (each with one Pod
node and no executor account, so the namespace's `default` account writes its results), then
argo-admission serve (one worker, the chart's webhooks registered) and WorkflowTaskResult
creates as `system:serviceaccount:team-a:default` at `--rate` writes/s for `--seconds`, each
for a node of a different Workflow. The policy takes task results from the account
(`taskResultWriters: ServiceAccount`), so no pod-bound token is needed.

Prints the achieved rate, the client's latency, the webhook's own admission time (its
histogram, so p99 is a bucket bound, and its _sum/_count mean), its Workflow lookups by result
(hit: cache; miss and fresh: a GET each), and the worker's RSS before the Workflows exist and
once its cache holds them all. Asserts nothing.

    tests/e2e/netns.sh .venv/bin/python bench/taskresults.py [--workflows 10000] [--rate 200]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import ssl
import time
from typing import Any

import yaml
from common import Server, free_port, get, make_certs, percentile, rss_mib, serve_command
from prometheus_client.parser import text_string_to_metric_families

from chart_render import render_webhooks
from controlplane import ControlPlane
from identities import ADMIN, EXECUTOR, WEBHOOK

NAMESPACE = "team-a"
PREFIX = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}"
POLICY = {
    "workflowRestrictions": {"templateReferencing": "Secure"},
    "exemptions": {"namespaces": ["kube-system"], "serviceAccounts": ["argo/argo"]},
    "taskResultWriters": "ServiceAccount",
}


def workflow(index: int) -> bytes:
    name = f"run-{index:05d}"
    node = {"id": name, "name": name, "displayName": name, "type": "Pod", "phase": "Running"}
    return json.dumps(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "entrypoint": "main",
                "templates": [{"name": "main", "container": {"image": "alpine:3.19"}}],
            },
            "status": {"phase": "Running", "nodes": {name: {**node, "templateName": "main"}}},
        }
    ).encode()


def task_result(index: int) -> bytes:
    name = f"run-{index:05d}"
    return json.dumps(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTaskResult",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {"workflows.argoproj.io/workflow": name},
            },
            "outputs": {"parameters": [{"name": "out", "value": str(index)}]},
        }
    ).encode()


def _poster(args: tuple[int, str, str, str, list[int], float, float]) -> dict[str, Any]:
    """One client: POST one body per index, `interval` seconds apart (0: as fast as it can)."""
    port, ca, token, kind, indexes, interval, start_at = args
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, context=ssl.create_default_context(cafile=ca), timeout=30
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    make, path = (
        (workflow, "workflows") if kind == "workflow" else (task_result, "workflowtaskresults")
    )
    latencies, errors = [], 0
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    for n, index in enumerate(indexes):
        wait = t0 + n * interval - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        began = time.perf_counter()
        conn.request("POST", f"{PREFIX}/{path}", make(index), headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            errors += 1
            if errors <= 3:
                print(f"{kind} {index}: {response.status} {body[:300]!r}")
            continue
        latencies.append((time.perf_counter() - began) * 1000)
    return {"latencies": latencies, "errors": errors, "t0": t0, "t1": time.perf_counter()}


def post_all(
    plane: ControlPlane, user: str, kind: str, indexes: list[int], *, clients: int, rate: float
) -> dict[str, Any]:
    """POST the bodies of `indexes` from `clients` processes, `rate` a second (0: flat out)."""
    token, start_at = plane.user(user).token, time.time() + 0.3
    interval = clients / rate if rate else 0.0
    jobs = [
        (plane.port, str(plane.ca_path), token, kind, indexes[c::clients], interval, start_at)
        for c in range(clients)
    ]
    with mp.get_context("fork").Pool(clients) as pool:
        parts = pool.map(_poster, jobs)
    latencies = [ms for p in parts for ms in p["latencies"]]
    seconds = max(p["t1"] for p in parts) - min(p["t0"] for p in parts)
    return {
        "rate": len(latencies) / seconds,
        "p50": percentile(latencies, 50) if latencies else float("nan"),
        "p99": percentile(latencies, 99) if latencies else float("nan"),
        "errors": sum(p["errors"] for p in parts),
    }


def server_metrics(server: Server) -> dict[str, Any]:
    """The server's validate histogram (bucket bound -> count), _sum, _count, and lookups."""
    text = get(server.port, server.ca, "/metrics")[1].decode()
    out: dict[str, Any] = {"buckets": {}, "sum": 0.0, "count": 0.0, "lookups": {}}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if family.name == "argo_admission_request_duration_seconds":
                if s.labels.get("endpoint") != "validate":
                    continue
                if s.name.endswith("_bucket"):
                    le = float(s.labels["le"])
                    out["buckets"][le] = out["buckets"].get(le, 0.0) + s.value
                elif s.name.endswith("_sum"):
                    out["sum"] += s.value
                elif s.name.endswith("_count"):
                    out["count"] += s.value
            elif family.name == "argo_admission_workflow_lookups" and s.name.endswith("_total"):
                out["lookups"][s.labels["result"]] = s.value
    return out


def admission_times(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[float, float, float, float]:
    """(count, mean ms, p99 upper bucket bound ms, share within 5 ms) of the requests between
    two readings."""
    count = after["count"] - before["count"]
    mean = (after["sum"] - before["sum"]) / count * 1000 if count else float("nan")
    p99 = float("nan")
    for le in sorted(after["buckets"]):
        if after["buckets"][le] - before["buckets"].get(le, 0.0) >= 0.99 * count:
            p99 = le * 1000
            break
    within = after["buckets"].get(0.005, 0.0) - before["buckets"].get(0.005, 0.0)
    return count, mean, p99, within / count if count else float("nan")


def wait_for_cache(log: Any, workflows: int, timeout: float = 300) -> float:
    """Seconds until the server's log says it listed all the Workflows (its cache is full)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if f"listed {workflows} workflows" in log.read_text():
            return time.monotonic() - began
        time.sleep(0.2)
    raise RuntimeError("the Workflow cache did not fill")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--cache", type=int, default=None, help="--workflow-cache (default: all; 0: GET each)"
    )
    args = parser.parse_args()
    cache = args.workflows + 1000 if args.cache is None else args.cache
    with ControlPlane() as plane:
        work = plane.workdir / "bench"
        work.mkdir()
        ca = make_certs(work / "certs")
        (work / "policy.yaml").write_text(yaml.safe_dump(POLICY))
        port = free_port()
        command = serve_command(
            cert_dir=work / "certs",
            config=work / "policy.yaml",
            kubeconfig=plane.kubeconfig(WEBHOOK),
            workers=1,
            extra=["--workflow-cache", str(cache), "--log-level", "info"],
        )
        ours = Server(
            "argo-admission", [*command, "--port", str(port)], port, ca, work / "ours.log"
        )
        ours.start()
        try:
            time.sleep(2)
            (worker,) = ours.worker_pids()
            idle = rss_mib(worker)
            made = post_all(
                plane, ADMIN, "workflow", list(range(args.workflows)), clients=8, rate=0
            )
            print(
                f"created {args.workflows} running Workflows at {made['rate']:.0f}/s "
                f"({made['errors']} errors)"
            )
            # the watch delivers them one event each; a restart lists them in one go
            ours.stop()
            ours.start()
            (worker,) = ours.worker_pids()
            filled = wait_for_cache(ours.log, args.workflows) if cache else 0.0
            time.sleep(2)
            full = rss_mib(worker)
            print(
                f"worker RSS: {idle:.0f} MiB with no Workflow, {full:.0f} MiB with "
                f"{args.workflows} running, --workflow-cache {cache} (+{full - idle:.0f} MiB, "
                f"listed in {filled:.1f} s)"
            )
            ca_b64 = base64.b64encode(ca.read_bytes()).decode()
            for body in render_webhooks(ours.url(), ca_b64):
                plane.register_webhooks(body, url=ours.url(), ca_bundle=ca.read_bytes())
            time.sleep(3)  # the API server watches these objects; let its informers catch up
            count = min(args.workflows, int(args.rate * args.seconds))
            before = server_metrics(ours)
            load = post_all(
                plane,
                EXECUTOR,
                "result",
                list(range(count)),
                clients=args.clients,
                rate=args.rate,
            )
            after = server_metrics(ours)
        finally:
            ours.stop()
    calls, mean, p99, within = admission_times(before, after)
    lookups = {
        k: after["lookups"].get(k, 0) - before["lookups"].get(k, 0) for k in after["lookups"]
    }
    print(
        f"task-result writes: {load['rate']:.0f}/s asked {args.rate:.0f}/s, "
        f"{load['errors']} errors; client p50 {load['p50']:.1f} ms, p99 {load['p99']:.1f} ms"
    )
    print(
        f"webhook /validate: {calls:.0f} requests, mean {mean:.2f} ms, p99 <= {p99:g} ms "
        f"(histogram bucket), {within:.1%} within 5 ms"
    )
    print("Workflow lookups: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(lookups.items())))


if __name__ == "__main__":
    main()
