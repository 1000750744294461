"""Run every benchmark in turn and print their figures (README "Performance").

    python bench/run_all.py [--quick]

The through-the-API-server benchmark runs inside a loopback-only network namespace
(tests/e2e/netns.sh) with the binaries tests/e2e/setup.sh builds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, noisier figures")
    args = parser.parse_args()
    py = sys.executable
    quick = args.quick
    runs = [
        [py, "bench/scaling.py", "--repeat", "10" if quick else "30"],
        [
            py,
            "bench/server.py",
            "--rounds",
            "2" if quick else "3",
            "--seconds",
            "3" if quick else "5",
        ],
        [py, "bench/controller.py", "--seconds", "2" if quick else "4"],
        [py, "bench/memory.py", "--requests", "3000" if quick else "10000"],
        [
            "tests/e2e/netns.sh",
            py,
            "bench/apiserver.py",
            "--rounds",
            "1" if quick else "3",
            "--creates",
            "200" if quick else "400",
        ],
        [
            "tests/e2e/netns.sh",
            py,
            "bench/mutating_policy.py",
            "--rounds",
            "1" if quick else "5",
            "--creates",
            "100" if quick else "200",
        ],
        [
            "tests/e2e/netns.sh",
            py,
            "bench/taskresults.py",
            "--workflows",
            "2000" if quick else "10000",
        ],
    ]
    failed = 0
    for argv in runs:
        print(f"\n=== {' '.join(argv[1:] if argv[0] == py else argv)}", flush=True)
        failed += subprocess.run(argv, cwd=ROOT).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
