"""Soak: a bounded mixed load for a while, with errors counted and memory sampled.

Loopback only. A few minutes in CI (tests/integration/test_soak.py runs `soak()`), longer by
hand. Prints figures; the test decides what must hold (no errors, memory flat).

    python bench/soak.py [--seconds 300] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import rss_mib, run_load, servers, workdir
from memory import mixed_workload
from server import ours_spec


@dataclass
class SoakResult:
    """What a soak run saw."""

    seconds: float = 0.0
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    rss_mib: list[list[float]] = field(default_factory=list)  # per sample, per worker
    worker_pids_stable: bool = True

    @property
    def rate(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.seconds if self.seconds else 0.0


def soak(
    *, seconds: float, clients: int = 4, samples: int = 6, work: Path | None = None
) -> SoakResult:
    """Run the mixed load against a fresh server for `seconds`, sampling RSS `samples` times."""
    work = work or workdir("soak")
    bodies = mixed_workload()
    spec = ours_spec(work)
    result = SoakResult()
    with servers([spec], work) as (server,):
        pids = server.worker_pids()
        result.rss_mib.append([rss_mib(p) for p in pids])
        for _ in range(samples):
            part = run_load(server, bodies, clients=clients, duration=seconds / samples)
            result.seconds += part.seconds
            result.requests += part.count + part.errors
            result.errors += part.errors
            for status, n in part.statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + n
            result.rss_mib.append([rss_mib(p) for p in pids])
        result.worker_pids_stable = server.worker_pids() == pids
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    result = soak(seconds=args.seconds, clients=args.clients)
    print(
        f"{result.requests} requests in {result.seconds:.0f} s ({result.rate:.0f} req/s), "
        f"{result.errors} errors, statuses {result.statuses}"
    )
    for i, sample in enumerate(result.rss_mib):
        print(f"  sample {i}: worker RSS MiB " + " ".join(f"{x:.1f}" for x in sample))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
