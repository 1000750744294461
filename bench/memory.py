"""Memory per worker: RSS at idle and while 10k requests flow, sampled every 1k.

The load mixes what a cluster sends: ref Workflow CREATEs (mutate + validate), denials with a
message, Secure day-2 UPDATEs (join + compare) and the controller's exempt UPDATEs. Prints
figures; asserts nothing.

    python bench/memory.py [--requests 10000] [--workers 2 --threads 4]
"""

from __future__ import annotations

import argparse
import copy
import json

from common import review_bodies, rss_mib, run_load, servers, workdir
from server import ours_spec, running_etl, workload

from admission.core.review import make_review


def mixed_workload() -> list[tuple[str, bytes]]:
    """CREATE pair, a Strict denial, a Secure stop, a Secure denial, a controller UPDATE."""
    running = running_etl()
    stopped = copy.deepcopy(running)
    stopped["spec"]["shutdown"] = "Stop"
    changed = copy.deepcopy(running)
    changed["spec"]["arguments"] = {"parameters": [{"name": "date", "value": "$(evil)"}]}
    progressed = copy.deepcopy(running)
    progressed["status"]["nodes"] = {"etl-1": {"phase": "Running"}}
    inline = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "x-", "namespace": "team-a"},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "evil"}}],
        },
    }
    reviews = [
        *workload(),
        ("/validate", make_review(inline, namespace="team-a", username="alice")),
        (
            "/validate",
            make_review(
                stopped, namespace="team-a", operation="UPDATE", old=running, username="alice"
            ),
        ),
        (
            "/validate",
            make_review(
                changed, namespace="team-a", operation="UPDATE", old=running, username="alice"
            ),
        ),
        (
            "/validate",
            make_review(
                progressed,
                namespace="team-a",
                operation="UPDATE",
                old=running,
                username="system:serviceaccount:argo:argo",
            ),
        ),
    ]
    return review_bodies(reviews)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--step", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    work = workdir("memory")
    bodies = mixed_workload()
    spec = ours_spec(work, workers=args.workers, threads=args.threads)
    with servers([spec], work) as (server,):
        pids = server.worker_pids()
        print(
            f"{len(pids)} workers x {args.threads} threads; mixed load of {len(bodies)} kinds "
            f"of request from {args.clients} clients"
        )
        print(
            f"{'requests':>9s}  "
            + "  ".join(f"worker {i} RSS MiB" for i in range(len(pids)))
            + "   errors"
        )
        print(f"{'idle':>9s}  " + "  ".join(f"{rss_mib(p):16.1f}" for p in pids))
        sent = errors = 0
        while sent < args.requests:
            per_client = args.step // args.clients
            result = run_load(server, bodies, clients=args.clients, duration=600, limit=per_client)
            sent += result.count + result.errors
            errors += result.errors
            print(f"{sent:9d}  " + "  ".join(f"{rss_mib(p):16.1f}" for p in pids) + f"   {errors}")
        print(f"worker pids unchanged: {server.worker_pids() == pids}")
    print(json.dumps({"requests": sent, "errors": errors}))


if __name__ == "__main__":
    main()
