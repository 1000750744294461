"""Server throughput and latency: the full policy against a trivial handler served identically.

Both run under the same gunicorn setup (gthread workers x threads, TLS, keep-alive); the load is
the pair a ref Workflow CREATE costs the API server - /mutate, then /validate of the mutated
object - under Secure with the template in the cache. Rounds alternate between the two servers
in one run, so both see the same machine. Prints figures; asserts nothing.

    python bench/server.py [--rounds 3] [--seconds 5] [--clients 1 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from common import (
    LoadResult,
    median,
    review_bodies,
    run_load,
    running_workflow,
    serve_command,
    servers,
    trivial_command,
    workdir,
)

from admission.core.review import make_review

POLICY = {
    "workflowRestrictions": {"templateReferencing": "Secure"},
    "workflowDefaults": {
        "spec": {
            "ttlStrategy": {"secondsAfterCompletion": 86400},
            "podGC": {"strategy": "OnPodCompletion"},
        }
    },
    "mutation": {"refDefaults": ["ttlStrategy", "podGC"]},
    "securityContext": {
        "mode": "mutate",
        "pod": {"runAsNonRoot": True},
        "container": {"allowPrivilegeEscalation": False},
    },
    "templateLibrary": {"selector": {"matchLabels": {"argo-admission.io/library": "approved"}}},
    "exemptions": {"serviceAccounts": ["argo/argo"]},
}

TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {
        "name": "etl",
        "namespace": "team-a",
        "labels": {"argo-admission.io/library": "approved"},
    },
    "spec": {
        "entrypoint": "main",
        "securityContext": {"runAsNonRoot": True},
        "arguments": {
            "parameters": [{"name": "date", "value": "today"}, {"name": "table", "value": "events"}]
        },
        "templates": [
            {
                "name": "main",
                "dag": {
                    "tasks": [
                        {
                            "name": "extract",
                            "template": "step",
                            "arguments": {"parameters": [{"name": "what", "value": "extract"}]},
                        },
                        {
                            "name": "load",
                            "template": "step",
                            "dependencies": ["extract"],
                            "arguments": {"parameters": [{"name": "what", "value": "load"}]},
                        },
                    ]
                },
            },
            {
                "name": "step",
                "inputs": {"parameters": [{"name": "what"}]},
                "container": {
                    "image": "alpine:3.19",
                    "command": ["sh", "-c"],
                    "args": ["echo {{inputs.parameters.what}} {{workflow.parameters.date}}"],
                    "securityContext": {"allowPrivilegeEscalation": False},
                },
            },
        ],
    },
}


def ours_spec(work: Path, *, workers: int = 2, threads: int = 4) -> tuple[str, list[str]]:
    """The server spec for `servers`: argo-admission with POLICY and TEMPLATE written to `work`."""
    (work / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    (work / "library.yaml").write_text(yaml.safe_dump(TEMPLATE))
    command = serve_command(
        cert_dir=work / "certs",
        config=work / "policy.yaml",
        templates=[work / "library.yaml"],
        workers=workers,
        threads=threads,
    )
    return "argo-admission", command


def running_etl() -> dict[str, Any]:
    """The typical ref Workflow once Argo started it (spec as /mutate left it, stored spec)."""
    user = {
        "workflowTemplateRef": {"name": "etl"},
        "ttlStrategy": {"secondsAfterCompletion": 86400},
        "podGC": {"strategy": "OnPodCompletion"},
    }
    return running_workflow(
        user, TEMPLATE["spec"], POLICY["workflowDefaults"]["spec"], name="etl-1"
    )


def workload() -> list[tuple[str, dict[str, Any]]]:
    """The /mutate + /validate pair of a typical ref Workflow CREATE."""
    created = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "etl-", "namespace": "team-a"},
        "spec": {
            "workflowTemplateRef": {"name": "etl"},
            "arguments": {"parameters": [{"name": "date", "value": "2026-11-25"}]},
        },
    }
    mutated = json.loads(json.dumps(created))
    mutated["spec"]["ttlStrategy"] = {"secondsAfterCompletion": 86400}
    mutated["spec"]["podGC"] = {"strategy": "OnPodCompletion"}
    return [
        ("/mutate?timeout=10s", make_review(created, namespace="team-a", username="alice")),
        ("/validate?timeout=10s", make_review(mutated, namespace="team-a", username="alice")),
    ]


def row(name: str, results: list[LoadResult]) -> dict[str, float]:
    """Pooled figures of one server over its rounds."""
    latencies = [ms for r in results for ms in r.latencies_ms]
    pooled = LoadResult(
        seconds=sum(r.seconds for r in results),
        latencies_ms=latencies,
        errors=sum(r.errors for r in results),
    )
    return {
        "rate": pooled.rate,
        "p50": pooled.percentile(50),
        "p95": pooled.percentile(95),
        "p99": pooled.percentile(99),
        "errors": pooled.errors,
        "round_rates": [r.rate for r in results],
    }  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    work = workdir("server")
    bodies = review_bodies(workload())
    specs = [
        ours_spec(work, workers=args.workers, threads=args.threads),
        (
            "trivial",
            trivial_command(cert_dir=work / "certs", workers=args.workers, threads=args.threads),
        ),
    ]
    print(
        f"gunicorn gthread {args.workers}x{args.threads}, TLS, keep-alive; load: /mutate + "
        f"/validate of a ref Workflow CREATE (Secure, template cached); {args.rounds} "
        f"alternating rounds x {args.seconds:g} s"
    )
    with servers(specs, work) as (ours, trivial):
        for clients in args.clients:
            run_load(ours, bodies, clients=clients, duration=1)  # warm up both
            run_load(trivial, bodies, clients=clients, duration=1)
            results: dict[str, list[LoadResult]] = {"argo-admission": [], "trivial": []}
            for _ in range(args.rounds):
                for server in (ours, trivial):
                    results[server.name].append(
                        run_load(server, bodies, clients=clients, duration=args.seconds)
                    )
            report(clients, {name: row(name, rs) for name, rs in results.items()})


def report(clients: int, rows: dict[str, dict[str, float]]) -> None:
    """One table per client count."""
    print(f"\n{clients} client(s), keep-alive connection each")
    print(
        f"  {'server':16s}{'req/s':>9s}{'p50 ms':>9s}{'p95 ms':>9s}{'p99 ms':>9s}"
        f"{'errors':>8s}   per-round req/s"
    )
    for name, r in rows.items():
        rounds = " ".join(f"{x:.0f}" for x in r["round_rates"])  # type: ignore[attr-defined]
        print(
            f"  {name:16s}{r['rate']:9.0f}{r['p50']:9.2f}{r['p95']:9.2f}{r['p99']:9.2f}"
            f"{r['errors']:8.0f}   {rounds}"
        )
    ratio = rows["argo-admission"]["rate"] / rows["trivial"]["rate"]
    per_round = [
        a / b
        for a, b in zip(
            rows["argo-admission"]["round_rates"],  # type: ignore[call-overload]
            rows["trivial"]["round_rates"],
            strict=True,
        )
    ]
    print(f"  full policy / trivial: {ratio:.2f} (per round median {median(per_round):.2f})")


if __name__ == "__main__":
    main()
