"""The controller's UPDATEs: the exempt fast path, next to the paths users take.

Argo's controller updates each Workflow several times as it runs (status, nodes, labels, its
spec rewrite); those requests are exempt and must cost little. Measured two ways: the policy
alone (`webhook.handle`, microseconds per call) and through the server (req/s, latency), for
the controller's UPDATE, a user's metadata-only UPDATE, a user's `argo stop` under Secure
(join + compare) and a ref Workflow CREATE. Prints figures; asserts nothing.

    python bench/controller.py [--seconds 4] [--clients 4]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import yaml
from common import review_bodies, run_load, servers, workdir
from server import POLICY, TEMPLATE, ours_spec, running_etl, workload

from admission.core.policyfile import parse_config
from admission.core.review import make_review
from admission.core.webhook import handle
from admission.files.templates import FileTemplateSource

CONTROLLER = "system:serviceaccount:argo:argo"


def requests() -> dict[str, tuple[str, dict]]:
    """name -> (path, review)."""
    running = running_etl()
    running["metadata"]["labels"] = {"workflows.argoproj.io/phase": "Running"}
    by_controller = copy.deepcopy(running)
    by_controller["spec"]["arguments"] = {}
    by_controller["status"]["nodes"] = {"etl-1": {"phase": "Running", "type": "DAG"}}
    labelled = copy.deepcopy(running)
    labelled["metadata"]["labels"]["team"] = "a"
    stopped = copy.deepcopy(running)
    stopped["spec"]["shutdown"] = "Stop"

    def update(obj: dict, username: str) -> dict:
        return make_review(
            obj, namespace="team-a", operation="UPDATE", old=running, username=username
        )

    return {
        "controller UPDATE (exempt)": ("/validate", update(by_controller, CONTROLLER)),
        "user metadata-only UPDATE": ("/validate", update(labelled, "alice")),
        "user argo stop (Secure join)": ("/validate", update(stopped, "alice")),
        "ref Workflow CREATE": workload()[1],
    }


def core_micros(review: dict, config: object, source: FileTemplateSource, n: int = 2000) -> float:
    """Mean microseconds of webhook.handle on the encoded body."""
    body = json.dumps(review)
    started = time.perf_counter()
    for _ in range(n):
        handle(body, endpoint="validate", config=config, templates=source)  # type: ignore[arg-type]
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    work = workdir("controller")
    config = parse_config(yaml.safe_dump(POLICY))
    source = FileTemplateSource([TEMPLATE])
    cases = requests()
    spec = ours_spec(work)
    print(
        f"{'request':32s}{'policy alone us':>17s}{'server req/s':>14s}{'p50 ms':>9s}{'p99 ms':>9s}"
    )
    with servers([spec], work) as (server,):
        for name, (path, review) in cases.items():
            micros = core_micros(review, config, source)
            bodies = review_bodies([(path, review)])
            run_load(server, bodies, clients=args.clients, duration=1)
            result = run_load(server, bodies, clients=args.clients, duration=args.seconds)
            print(
                f"{name:32s}{micros:17.1f}{result.rate:14.0f}{result.percentile(50):9.2f}"
                f"{result.percentile(99):9.2f}"
            )


if __name__ == "__main__":
    main()
