"""Workflow creates through a real kube-apiserver, with and without admission in the way.

Set-ups, measured in interleaved rounds on one control plane (the e2e suite's kube-apiserver +
etcd, built by tests/e2e/setup.sh):
  none       no admission
  vap        a ValidatingAdmissionPolicy with the Strict rule (CEL, in the API server)
  trivial    a trivial webhook, validating + mutating, registered like ours (the chart's configs)
  argo-admission  the real server, validating + mutating, templates from its watch cache
  vap+webhook  the policy exported as a ValidatingAdmissionPolicy (`argo-admission export vap`,
             with the library index ConfigMap) and the same server, its validating webhook
             narrowed by matchConditions to what the policy does not decide (vap.webhook_condition)
  exported   that policy alone, no webhook (what the policy itself costs)
  narrowed   those narrowed webhooks alone, no policy (what their matchConditions cost)
Three workloads: `ref`, a ref Workflow as kubectl or Argo Events' sensors send it (an ordinary
user); `cron`, the Workflow the cron controller creates from a CronWorkflow of that ref, as Argo's
controller (an exempt identity, whose Workflows still meet the library); `cli`, the same Workflow
as `argo submit --from` sends it, with status.storedTemplates (the webhook's to judge under every
set-up but none).
Each round: configure, let the API server pick the configuration up, force a Go GC in the API
server, warm up, then time sequential creates and creates from 8 concurrent clients (raw HTTPS
with keep-alive, bearer token, as the ordinary user alice). The webhooks' own time comes from the
API server's metrics (`_sum/_count` of apiserver_admission_webhook_admission_duration_seconds;
its first bucket is 5 ms, so no percentiles from it), and kube-apiserver's own CPU time per create
(/proc: less sensitive than a rate to other load on the machine). Prints figures; asserts
nothing.

Run it inside a loopback-only network namespace like the e2e suite:
    tests/e2e/netns.sh .venv/bin/python bench/apiserver.py [--rounds 3] [--creates 400]
"""

from __future__ import annotations

import argparse
import base64
import copy
import http.client
import json
import multiprocessing as mp
import os
import re
import ssl
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from common import ROOT, Server, free_port, make_certs, percentile, serve_command, trivial_command
from kubernetes import client as k8s

from admission.core.policyfile import parse_config
from admission.core.vap import policy_objects, webhook_condition
from admission.core.vapindex import library_index
from admission.files.templates import FileTemplateSource
from chart_render import render_webhooks
from controlplane import ControlPlane
from identities import ADMIN, ALICE, CONTROLLER, WEBHOOK

NAMESPACE = "team-a"
SETUPS = ("none", "vap", "trivial", "argo-admission", "vap+webhook", "exported", "narrowed")
WORKLOADS = ("ref", "cli", "cron")
LIBRARY = ("argo-admission", "argo-admission-library")
# The chart's default values render the webhooks below: no workflowDefaults, so a ref Workflow
# has nothing /mutate could set and the mutating webhook's matchConditions skip it.
POLICY = {
    "workflowRestrictions": {"templateReferencing": "Secure"},
    "exemptions": {"namespaces": ["kube-system"], "serviceAccounts": ["argo/argo"]},
}
TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "etl", "namespace": NAMESPACE},
    "spec": {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "alpine:3.19", "command": ["echo"]}}],
    },
}
_TRUST = yaml.safe_load((ROOT / "tests/fixtures/suites/trust.yaml").read_text())
PIPELINE = next(
    doc
    for doc in yaml.safe_load_all((ROOT / "tests/fixtures/templates/trust.yaml").read_text())
    if doc and doc.get("kind") == "WorkflowTemplate" and doc["metadata"]["name"] == "pipeline"
)
# What `argo submit --from workflowtemplate/pipeline` sends: the stored templates in Go's rendering.
CLI_WORKFLOW = json.dumps(
    {
        **_TRUST["bases"]["submitted"],
        "status": {"storedTemplates": _TRUST["bases"]["stored-templates"]},
    }
).encode()
WORKFLOW = json.dumps(
    {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "etl-", "namespace": NAMESPACE},
        "spec": {
            "workflowTemplateRef": {"name": "etl"},
            "arguments": {"parameters": [{"name": "date", "value": "2026-11-25"}]},
        },
    }
).encode()
# What the cron controller creates from a CronWorkflow of the same ref: as Argo's controller
# (an exempt identity: the exempt policy, or the webhook, checks the library alone).
CRON_WORKFLOW = json.dumps(
    {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": "etl-nightly-",
            "namespace": NAMESPACE,
            "labels": {"workflows.argoproj.io/cron-workflow": "etl-nightly"},
            "annotations": {"workflows.argoproj.io/scheduled-time": "2026-12-04T00:00:00Z"},
        },
        "spec": {
            "workflowTemplateRef": {"name": "etl"},
            "arguments": {"parameters": [{"name": "date", "value": "2026-11-25"}]},
        },
    }
).encode()
BODIES = {
    "ref": (WORKFLOW, ALICE),
    "cli": (CLI_WORKFLOW, ALICE),
    "cron": (CRON_WORKFLOW, CONTROLLER),
}
VAP = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "strict-template-ref"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": ["argoproj.io"],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["workflows"],
                }
            ]
        },
        "validations": [
            {
                "expression": "has(object.spec.workflowTemplateRef)",
                "message": "workflows must use workflowTemplateRef",
            }
        ],
    },
}
VAP_BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "strict-template-ref"},
    "spec": {"policyName": "strict-template-ref", "validationActions": ["Deny"]},
}


def _creator(args: tuple[int, str, str, int, float, bytes]) -> dict[str, Any]:
    """One client: `count` creates on one keep-alive connection; latencies in ms."""
    port, ca, token, count, start_at, body = args
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, context=ssl.create_default_context(cafile=ca), timeout=30
    )
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies, errors, first_error = [], 0, ""
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    for _ in range(count):
        began = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 201:
            errors += 1
            first_error = first_error or answer.decode(errors="replace")[-400:]
            continue
        latencies.append((time.perf_counter() - began) * 1000)
    return {
        "latencies": latencies,
        "errors": errors,
        "first_error": first_error,
        "t0": t0,
        "t1": time.perf_counter(),
    }


def create_load(
    plane: ControlPlane, *, clients: int, count: int, body: bytes = WORKFLOW, user: str = ALICE
) -> dict[str, Any]:
    """`count` creates spread over `clients` processes, as `user`."""
    token = plane.user(user).token
    start_at = time.time() + 0.2
    jobs = [(plane.port, str(plane.ca_path), token, count // clients, start_at, body)] * clients
    with mp.get_context("fork").Pool(clients) as pool:
        parts = pool.map(_creator, jobs)
    latencies = [ms for p in parts for ms in p["latencies"]]
    seconds = max(p["t1"] for p in parts) - min(p["t0"] for p in parts)
    return {
        "rate": len(latencies) / seconds,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": sum(p["errors"] for p in parts),
        "first_error": next((p["first_error"] for p in parts if p["first_error"]), ""),
    }


def webhook_seconds(plane: ControlPlane) -> dict[str, tuple[float, float]]:
    """(sum, count) of admission time per webhook name, from the API server's /metrics."""
    text = plane.http_get(plane.api_url + "/metrics", user=ADMIN)
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    pattern = re.compile(
        r"^apiserver_admission_webhook_admission_duration_seconds_(sum|count)"
        r"\{([^}]*)\} (\S+)$"
    )
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            name = re.search(r'name="([^"]+)"', match.group(2))
            key = name.group(1) if name else "?"
            out[key][0 if match.group(1) == "sum" else 1] += float(match.group(3))
    return {k: (v[0], v[1]) for k, v in out.items()}


def force_gc(plane: ControlPlane) -> None:
    """A Go GC in the API server, so its garbage from the last set-up is not billed here."""
    token = plane.user(ADMIN).token
    conn = http.client.HTTPSConnection(
        "127.0.0.1", plane.port, context=ssl.create_default_context(cafile=str(plane.ca_path))
    )
    conn.request("GET", "/debug/pprof/heap?gc=1", headers={"Authorization": f"Bearer {token}"})
    conn.getresponse().read()  # a gzipped profile; the GC is the point
    conn.close()


class Admission:
    """Switches the API server between the set-ups."""

    def __init__(self, plane: ControlPlane, ours: Server, trivial: Server, ca: bytes) -> None:
        self.plane, self.ours, self.trivial, self.ca = plane, ours, trivial, ca
        self.api = k8s.AdmissionregistrationV1Api(plane.client(ADMIN))
        ca_b64 = base64.b64encode(ca).decode()
        self.configs = {
            "trivial": render_webhooks(trivial.url(), ca_b64),
            "argo-admission": render_webhooks(ours.url(), ca_b64),
            "vap+webhook": narrowed(render_webhooks(ours.url(), ca_b64)),
            "narrowed": narrowed(render_webhooks(ours.url(), ca_b64)),
        }
        config = parse_config(yaml.safe_dump(POLICY), source="bench")
        self.exported = policy_objects(config, library=LIBRARY)
        templates = [TEMPLATE, PIPELINE]
        self.index = library_index(config, templates, FileTemplateSource(templates))
        self._install_exported()

    def _install_exported(self) -> None:
        """The exported policy and its index stay in place; only its binding comes and goes
        (a policy with a paramKind deleted and created again under its name may find no
        params: seen on v1.36.3)."""
        core = k8s.CoreV1Api(self.plane.client(ADMIN))
        core.create_namespace({"metadata": {"name": LIBRARY[0]}})
        core.create_namespaced_config_map(
            LIBRARY[0], {"metadata": {"name": LIBRARY[1]}, "data": self.index}
        )
        for obj in self.exported:
            if obj["kind"] == "ValidatingAdmissionPolicy":
                self.api.create_validating_admission_policy(obj)

    def _bind_exported(self, bound: bool) -> None:
        for obj in self.exported:
            if obj["kind"] != "ValidatingAdmissionPolicyBinding":
                continue
            if bound:
                try:
                    self.api.create_validating_admission_policy_binding(obj)
                except k8s.ApiException as exc:
                    if exc.status != 409:  # bound already, by the set-up before
                        raise
                continue
            try:
                self.api.delete_validating_admission_policy_binding(obj["metadata"]["name"])
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise

    def use(self, setup: str) -> None:
        """Remove whatever is registered and register `setup`."""
        for configs in self.configs.values():
            for body in configs:
                self.plane.delete_webhooks(body)
        for delete in (
            self.api.delete_validating_admission_policy_binding,
            self.api.delete_validating_admission_policy,
        ):
            try:
                delete("strict-template-ref")
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise
        self._bind_exported(setup in ("vap+webhook", "exported"))
        if setup == "vap":
            self.api.create_validating_admission_policy(VAP)
            self.api.create_validating_admission_policy_binding(VAP_BINDING)
        if setup in self.configs:
            server = self.trivial if setup == "trivial" else self.ours
            for body in self.configs[setup]:
                self.plane.register_webhooks(body, url=server.url(), ca_bundle=self.ca)
        time.sleep(3)  # the API server watches these objects; let every informer catch up


def narrowed(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chart's webhook configurations with the validating webhooks narrowed to what the
    exported policy does not decide."""
    condition = webhook_condition(
        parse_config(yaml.safe_dump(POLICY), source="bench"), library=True
    )
    assert condition is not None
    out = copy.deepcopy(configs)
    for config in out:
        if config["kind"] != "ValidatingWebhookConfiguration":
            continue
        for webhook in config["webhooks"]:
            webhook["matchConditions"] = [*webhook.get("matchConditions", []), condition]
    return out


def clean(plane: ControlPlane) -> None:
    """Delete the Workflows a round created, so etcd stays small."""
    api = k8s.CustomObjectsApi(plane.client(ADMIN))
    api.delete_collection_namespaced_custom_object(
        "argoproj.io", "v1alpha1", NAMESPACE, "workflows"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--creates", type=int, default=400, help="per measurement")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=SETUPS)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    admission_ms: dict[str, list[float]] = defaultdict(list)
    with ControlPlane(profiling=True) as plane:
        work = plane.workdir / "bench"
        work.mkdir()
        ca = make_certs(work / "certs")
        (work / "policy.yaml").write_text(yaml.safe_dump(POLICY))
        for template in (TEMPLATE, PIPELINE):
            k8s.CustomObjectsApi(plane.client(ADMIN)).create_namespaced_custom_object(
                "argoproj.io", "v1alpha1", NAMESPACE, "workflowtemplates", template
            )
        port, tport = free_port(), free_port()
        ours = Server(
            "argo-admission",
            [
                *serve_command(
                    cert_dir=work / "certs",
                    config=work / "policy.yaml",
                    kubeconfig=plane.kubeconfig(WEBHOOK),
                ),
                "--port",
                str(port),
            ],
            port,
            ca,
            work / "ours.log",
        )
        trivial = Server(
            "trivial",
            [*trivial_command(cert_dir=work / "certs"), "--port", str(tport)],
            tport,
            ca,
            work / "trivial.log",
        )
        ours.start()
        trivial.start()
        try:
            admission = Admission(plane, ours, trivial, ca.read_bytes())
            for round_no in range(args.rounds):
                for setup in args.setups:
                    admission.use(setup)
                    for workload in args.workloads:
                        measure(plane, setup, workload, args, results, admission_ms)
                    clean(plane)
                print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            ours.stop()
            trivial.stop()
    report(results, admission_ms, args)


def measure(
    plane: ControlPlane,
    setup: str,
    workload: str,
    args: argparse.Namespace,
    results: dict[tuple[str, str], list[dict[str, Any]]],
    admission_ms: dict[str, list[float]],
) -> None:
    """One workload under one set-up: warm up, then sequential and concurrent creates."""
    body, user = BODIES[workload]
    warm = create_load(plane, clients=1, count=50, body=body, user=user)
    if warm["errors"]:
        print(
            f"{setup} {workload}: {warm['errors']} errors warming up: {warm['first_error']}",
            file=sys.stderr,
        )
    for mode, clients in (
        (f"{workload} sequential", 1),
        (f"{workload} {args.clients} clients", args.clients),
    ):
        force_gc(plane)
        before = webhook_seconds(plane)
        cpu = apiserver_cpu(plane)
        load = create_load(plane, clients=clients, count=args.creates, body=body, user=user)
        load["cpu_ms"] = (apiserver_cpu(plane) - cpu) * 1000 / max(args.creates, 1)
        results[(setup, mode)].append(load)
        after = webhook_seconds(plane)
        spent = sum(after[k][0] - before.get(k, (0, 0))[0] for k in after)
        calls = max((after[k][1] - before.get(k, (0, 0))[1] for k in after), default=0)
        if calls:
            admission_ms[f"{setup} {mode}"].append(spent / calls * 1000)


def apiserver_cpu(plane: ControlPlane) -> float:
    """CPU seconds kube-apiserver has used (user + system, /proc): what admission costs it,
    less sensitive to other load on the machine than a rate."""
    assert plane.apiserver is not None and plane.apiserver.popen is not None
    stat = Path(f"/proc/{plane.apiserver.popen.pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio(rates: dict[str, float], setup: str, base: str) -> str:
    """rates[setup] / rates[base], or '-' when base was not measured."""
    return f"{rates[setup] / rates[base]:.2f}" if base in rates else "-"


def report(
    results: dict[tuple[str, str], list[dict[str, Any]]],
    admission_ms: dict[str, list[float]],
    args: argparse.Namespace,
) -> None:
    """Creates/s (median of rounds), client p50/p99, webhook time per create, ratios."""
    modes = [f"{w} {m}" for w in args.workloads for m in ("sequential", f"{args.clients} clients")]
    print(
        f"kube-apiserver v1.36.3 + etcd on loopback, {args.rounds} interleaved rounds x "
        f"{args.creates} creates per measurement (median over rounds)"
    )
    for mode in modes:
        setups = [s for s in SETUPS if (s, mode) in results]
        rates = {s: sorted(r["rate"] for r in results[(s, mode)]) for s in setups}
        med = {s: v[len(v) // 2] for s, v in rates.items()}
        print(f"\n{mode}")
        print(
            f"  {'set-up':16s}{'creates/s':>10s}{'x none':>8s}{'x trivial':>10s}"
            f"{'p50 ms':>8s}{'p99 ms':>8s}{'webhook ms/create':>19s}{'apiserver CPU ms':>18s}"
        )
        for setup in setups:
            runs = results[(setup, mode)]
            p50 = sorted(r["p50"] for r in runs)[len(runs) // 2]
            p99 = sorted(r["p99"] for r in runs)[len(runs) // 2]
            spent = admission_ms.get(f"{setup} {mode}", [])
            webhook = f"{sorted(spent)[len(spent) // 2]:.2f}" if spent else "-"
            cpu = sorted(r["cpu_ms"] for r in runs)[len(runs) // 2]
            print(
                f"  {setup:16s}{med[setup]:10.0f}{ratio(med, setup, 'none'):>8s}"
                f"{ratio(med, setup, 'trivial'):>10s}{p50:8.2f}{p99:8.2f}{webhook:>19s}"
                f"{cpu:18.2f}"
            )
        if "trivial" in setups and "argo-admission" in setups:
            per_round = sorted(
                ours["rate"] / base["rate"]
                for ours, base in zip(
                    results[("argo-admission", mode)], results[("trivial", mode)], strict=True
                )
            )
            webhook_rounds = sorted(
                a / b
                for a, b in zip(
                    admission_ms.get(f"argo-admission {mode}", []),
                    admission_ms.get(f"trivial {mode}", []),
                    strict=False,
                )
            )
            print(
                "  argo-admission / trivial, per round: creates/s "
                + " ".join(f"{x:.2f}" for x in per_round)
                + f" (median {per_round[len(per_round) // 2]:.2f}); webhook time "
                + " ".join(f"{x:.2f}" for x in webhook_rounds)
                + (
                    f" (median {webhook_rounds[len(webhook_rounds) // 2]:.2f})"
                    if webhook_rounds
                    else ""
                )
            )
        errors = sum(r["errors"] for s in setups for r in results[(s, mode)])
        print(f"  errors: {errors}")


if __name__ == "__main__":
    main()
