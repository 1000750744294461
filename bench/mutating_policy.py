"""WorkflowTemplate creates through a real kube-apiserver, the baseline filled in by the exported
MutatingAdmissionPolicy or by the mutating webhook.

Set-ups, measured in interleaved rounds on one control plane (the e2e suite's kube-apiserver +
etcd, built by tests/e2e/setup.sh):
  none     no admission
  map-noop the same policy with a mutation that patches nothing (`[]`): the machinery's cost
  map-one  the same policy with one constant operation (the pod's securityContext): a patch's cost
  map-seven seven constant operations, as many as the exported policy makes here (pod + six)
  map-eval the exported policy's expression evaluated whole, its operations dropped: CEL's cost
  map      the policy exported by `argo-admission export map` (policies/default.yaml's baseline)
  webhook  the real server with the same policy, the chart's mutating webhook alone
The template has three templates of two containers each (a container and a sidecar), none with
a securityContext: every create gets the whole baseline, pod-level and on six containers. Each
round: configure, let the API server pick the configuration up, warm up, then time sequential
creates (raw HTTPS with keep-alive, as the admin, who is not exempt); then, for no admission,
the policy and the webhook, three creates each of templates with 10, 100 and 500 templates.
Prints figures; asserts nothing.

Run it inside a loopback-only network namespace like the e2e suite:
    tests/e2e/netns.sh .venv/bin/python bench/mutating_policy.py [--rounds 3] [--creates 300]
"""

from __future__ import annotations

import argparse
import base64
import copy
import http.client
import json
import ssl
import sys
import time
from collections import defaultdict
from typing import Any

from common import ROOT, Server, free_port, make_certs, percentile, serve_command
from kubernetes import client as k8s

from admission.core import mutatingpolicy
from admission.files.policy import load_config
from chart_render import render_webhooks
from controlplane import ControlPlane
from identities import ADMIN, WEBHOOK

NAMESPACE = "team-a"
LARGE = ("none", "map", "webhook")
SETUPS = ("none", "map-noop", "map-one", "map-seven", "map-eval", "map", "webhook")
# The mutation of the set-ups that replace the exported one (a JSONPatch list must be typed).
EXPRESSIONS = {
    "map-noop": "false ? [JSONPatch{op: 'test', path: '/spec'}] : []",
    "map-one": "[JSONPatch{op: 'add', path: '/spec/securityContext', "
    "value: {'runAsNonRoot': true}}]",
    "map-seven": "[JSONPatch{op: 'add', path: '/spec/securityContext', "
    "value: {'runAsNonRoot': true}}] + "
    + " + ".join(
        f"[JSONPatch{{op: 'add', path: '/spec/templates/{i}/{where}/securityContext', "
        "value: {'allowPrivilegeEscalation': false}}]"
        for i in range(3)
        for where in ("container", "sidecars/0")
    ),
}
POLICY = ROOT / "policies" / "default.yaml"
PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflowtemplates"


def template(count: int) -> bytes:
    """A WorkflowTemplate of `count` templates, each a container and a sidecar."""
    return json.dumps(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"generateName": "bench-", "namespace": NAMESPACE},
            "spec": {
                "entrypoint": "t0",
                "templates": [
                    {
                        "name": f"t{i}",
                        "container": {"image": "alpine:3.19", "command": ["echo"]},
                        "sidecars": [
                            {"name": "side", "image": "alpine:3.19", "command": ["sleep"]}
                        ],
                    }
                    for i in range(count)
                ],
            },
        }
    ).encode()


TEMPLATE = template(3)
SIZES = (10, 100, 500)
GROUP, VERSION = "admissionregistration.k8s.io", "v1"


def creates(plane: ControlPlane, count: int, body: bytes = TEMPLATE) -> dict[str, Any]:
    """`count` sequential creates on one keep-alive connection: rate, p50, p99, errors, and
    whether the last one came back with the baseline."""
    conn = http.client.HTTPSConnection(
        "127.0.0.1", plane.port, context=ssl.create_default_context(cafile=str(plane.ca_path))
    )
    headers = {"Authorization": f"Bearer {plane.user(ADMIN).token}"}
    headers["Content-Type"] = "application/json"
    latencies, errors, last = [], 0, {}
    began = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("POST", PATH, body, headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 201:
            errors += 1
            continue
        latencies.append((time.perf_counter() - t0) * 1000)
        last = json.loads(answer)
    seconds = time.perf_counter() - began
    conn.close()
    return {
        "rate": len(latencies) / seconds,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": errors,
        "mutated": "securityContext" in last.get("spec", {}),
    }


class Admission:
    """Switches the API server between the set-ups."""

    def __init__(self, plane: ControlPlane, server: Server, ca: bytes) -> None:
        self.plane, self.ca, self.server = plane, ca, server
        self.objects = mutatingpolicy.policy_objects(load_config(POLICY))
        self.custom = k8s.CustomObjectsApi(plane.client(ADMIN))
        ca_b64 = base64.b64encode(ca).decode()
        self.webhooks = [
            doc
            for doc in render_webhooks(server.url(), ca_b64)
            if doc["kind"] == "MutatingWebhookConfiguration"
        ]

    def use(self, setup: str) -> None:
        """Remove whatever is in place and put `setup` in place."""
        for body in self.webhooks:
            self.plane.delete_webhooks(body)
        for plural in ("mutatingadmissionpolicybindings", "mutatingadmissionpolicies"):
            for item in self.custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]:
                name = item["metadata"]["name"]
                self.custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
        if setup.startswith("map"):
            policy, binding = copy.deepcopy(self.objects)
            jsonpatch = policy["spec"]["mutations"][0]["jsonPatch"]
            if setup == "map-eval":  # evaluated whole, its operations dropped
                jsonpatch["expression"] = f"({jsonpatch['expression']}).filter(p, false)"
            if setup in EXPRESSIONS:
                jsonpatch["expression"] = EXPRESSIONS[setup]
            self.custom.create_cluster_custom_object(
                GROUP, VERSION, "mutatingadmissionpolicies", policy
            )
            self.custom.create_cluster_custom_object(
                GROUP, VERSION, "mutatingadmissionpolicybindings", binding
            )
        if setup == "webhook":
            for body in self.webhooks:
                self.plane.register_webhooks(body, url=self.server.url(), ca_bundle=self.ca)
        time.sleep(3)  # the API server watches these objects; let every informer catch up


def clean(plane: ControlPlane) -> None:
    """Delete the templates a round created, so etcd stays small."""
    k8s.CustomObjectsApi(plane.client(ADMIN)).delete_collection_namespaced_custom_object(
        "argoproj.io", "v1alpha1", NAMESPACE, "workflowtemplates"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--creates", type=int, default=300, help="per measurement")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    large: dict[tuple[str, int], list[float]] = defaultdict(list)
    with ControlPlane() as plane:
        work = plane.workdir / "bench"
        work.mkdir()
        ca = make_certs(work / "certs")
        port = free_port()
        command = serve_command(
            cert_dir=work / "certs", config=POLICY, kubeconfig=plane.kubeconfig(WEBHOOK)
        )
        server = Server("argo-admission", [*command, "--port", str(port)], port, ca, work / "log")
        server.start()
        try:
            admission = Admission(plane, server, ca.read_bytes())
            for round_no in range(args.rounds):
                for setup in SETUPS:
                    admission.use(setup)
                    creates(plane, 30)  # warm up
                    results[setup].append(creates(plane, args.creates))
                    for size in SIZES if setup in LARGE else ():
                        large[(setup, size)].append(creates(plane, 3, template(size))["p50"])
                    clean(plane)
                print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            server.stop()
    report(results, args)
    report_large(large)


def report(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    """Creates/s (median of rounds), p50/p99, and whether the baseline was there."""
    print(
        f"kube-apiserver v1.36.3 + etcd on loopback, WorkflowTemplate creates (6 containers), "
        f"{args.rounds} interleaved rounds x {args.creates} sequential creates (median)"
    )
    print(f"  {'set-up':10s}{'creates/s':>10s}{'x none':>8s}{'p50 ms':>8s}{'p99 ms':>8s}  baseline")
    none = sorted(r["rate"] for r in results["none"])[len(results["none"]) // 2]
    for setup in SETUPS:
        runs = results[setup]
        mid = len(runs) // 2
        rate = sorted(r["rate"] for r in runs)[mid]
        p50 = sorted(r["p50"] for r in runs)[mid]
        p99 = sorted(r["p99"] for r in runs)[mid]
        errors = sum(r["errors"] for r in runs)
        mutated = "yes" if all(r["mutated"] for r in runs) else "no"
        note = f"  ({errors} errors)" if errors else ""
        print(f"  {setup:10s}{rate:10.0f}{rate / none:8.2f}{p50:8.1f}{p99:8.1f}  {mutated}{note}")


def report_large(large: dict[tuple[str, int], list[float]]) -> None:
    """Milliseconds per create of larger templates (median of 3 creates, median of rounds)."""
    print("\nlarger templates (N templates of a container and a sidecar): ms per create")
    print("  " + f"{'set-up':10s}" + "".join(f"{f'N={n}':>10s}" for n in SIZES))
    for setup in LARGE:
        cells = []
        for size in SIZES:
            values = sorted(large[(setup, size)])
            cells.append(f"{values[len(values) // 2]:10.0f}")
        print(f"  {setup:10s}" + "".join(cells))


if __name__ == "__main__":
    main()
