"""`argo-admission audit -f` of thousands of exported Workflows: time and peak memory.

Generates a `kind: List` as `kubectl get workflows -A -o yaml` (and `-o json`) writes it: the
library template team-a/hello and N ref Workflows as the controller leaves them (tests/shapes.py:
steps and DAG node trees, retries, suspends, onExit, stored specs; 60 % finished), audited
under policies/secure.yaml. Each audit runs as its own process; its peak RSS is read with
getrusage(RUSAGE_CHILDREN) after it exits (the maximum over the children waited for, so each
run is made from a fresh helper process). Prints figures; asserts nothing.

    python bench/audit_scale.py [--count 10000] [--formats yaml json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from common import PYTHON, ROOT, workdir

import shapes

POLICY = ROOT / "policies" / "secure.yaml"
TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {
        "name": "hello",
        "namespace": "team-a",
        "labels": {"argo-admission.io/library": "approved"},
    },
    "spec": shapes.TEMPLATE,
}


def exported(count: int, seed: int = 29) -> dict[str, Any]:
    """The List: the template, then `count` Workflows."""
    rng = random.Random(seed)
    items = [TEMPLATE, *(shapes.workflow(rng, index) for index in range(count))]
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def write(listing: dict[str, Any], directory: Path, fmt: str) -> Path:
    """The List as kubectl writes it: block YAML, or indented JSON."""
    path = directory / f"workflows.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(listing, indent=4) + "\n", encoding="utf-8")
    else:
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text = yaml.dump(listing, Dumper=dumper, default_flow_style=False, sort_keys=False)
        path.write_text(text, encoding="utf-8")
    return path


def measured(argv: list[str]) -> tuple[float, float, int, bytes]:
    """(seconds, peak RSS MiB, exit code, stdout) of one command, run from a fresh helper so
    that RUSAGE_CHILDREN holds this command's peak alone."""
    helper = (
        "import resource,subprocess,sys,time,json;t=time.monotonic();"
        "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE);"
        "d=time.monotonic()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "sys.stderr.write(json.dumps([d,r,p.returncode])+'\\n');sys.stdout.buffer.write(p.stdout)"
    )
    done = subprocess.run([PYTHON, "-c", helper, *argv], capture_output=True, check=False)
    seconds, kib, code = json.loads(done.stderr.decode().strip().splitlines()[-1])
    return seconds, kib / 1024, code, done.stdout


def audit_argv(path: Path) -> list[str]:
    """`argo-admission audit -f PATH --config policies/secure.yaml -o json`."""
    return [
        PYTHON,
        "-c",
        "import sys; from admission.cli.main import main; sys.exit(main())",
        "audit",
        "-f",
        str(path),
        "--config",
        str(POLICY),
        "-o",
        "json",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--formats", nargs="+", default=["yaml", "json"])
    parser.add_argument("--keep", type=Path, help="write the inputs here (kept)")
    args = parser.parse_args()
    directory = args.keep or workdir("audit")
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    listing = exported(args.count)
    paths = {fmt: write(listing, directory, fmt) for fmt in args.formats}
    del listing
    print(f"generated {args.count} Workflows in {time.monotonic() - started:.1f} s ({directory})")
    outputs = {}
    for fmt, path in paths.items():
        size = path.stat().st_size / 2**20
        seconds, peak, code, out = measured(audit_argv(path))
        outputs[fmt] = out
        findings = len(json.loads(out)) if out.strip() else 0
        print(
            f"audit -f {path.name} ({size:.1f} MiB): {seconds:.1f} s, peak RSS {peak:.0f} MiB, "
            f"exit {code}, {findings} finding(s)"
        )
    if len(outputs) > 1:
        same = len({bytes(o) for o in outputs.values()}) == 1
        print(f"identical findings across {', '.join(outputs)}: {same}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
