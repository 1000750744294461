"""`argo-admission audit -f` of thousands of exported Workflows: time and peak memory.

Files: generates a `kind: List` as `kubectl get workflows -A -o yaml` (and `-o json`) writes it: the
library template team-a/hello and N ref Workflows as the controller leaves them (tests/shapes.py:
steps and DAG node trees, retries, suspends, onExit, stored specs; 60 % finished), audited
under policies/secure.yaml. Each audit runs as its own process; its peak RSS is read with
getrusage(RUSAGE_CHILDREN) after it exits (the maximum over the children waited for, so each
run is made from a fresh helper process).

Cluster (`--cluster N`): `argo-admission audit --kubeconfig` against an HTTP endpoint in another
process that answers the four list calls as the API server does (limit/continue pages of 500,
each Workflow in full, nodes and all, serialised per page from a pool of 500 generated ones
renamed), so what is measured is the audit's side: the client's decoding, the judging a page at
a time and the memory it holds. It is not the API server's own listing cost (etcd, conversion).

Through the real API server (`--apiserver N`, inside the e2e netns): the e2e control plane
(kube-apiserver + etcd, tests/e2e/controlplane.py) filled with N such Workflows by 8 processes,
then `audit --kubeconfig` as admin.

Prints figures; asserts nothing.

    python bench/audit_scale.py [--count 10000] [--formats yaml json] [--keep DIR]
    python bench/audit_scale.py --cluster 100000 --formats
    tests/e2e/netns.sh .venv/bin/python bench/audit_scale.py --apiserver 100000 --formats \
        [--before DIR]   # DIR holds an older admission/ (git archive REV admission | tar -x)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
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


def measured(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float, int, bytes]:
    """(seconds, peak RSS MiB, exit code, stdout) of one command, run from a fresh helper so
    that RUSAGE_CHILDREN holds this command's peak alone."""
    helper = (
        "import resource,subprocess,sys,time,json;t=time.monotonic();"
        "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE);"
        "d=time.monotonic()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "sys.stderr.write(json.dumps([d,r,p.returncode])+'\\n');sys.stdout.buffer.write(p.stdout)"
    )
    done = subprocess.run([PYTHON, "-c", helper, *argv], capture_output=True, check=False, env=env)
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


def serve_lists(port: int, count: int) -> None:
    """Answer the audit's list calls on 127.0.0.1:port: `count` Workflows in pages."""
    import http.server
    import urllib.parse

    import orjson

    rng = random.Random(29)
    pool = [shapes.workflow(rng, index) for index in range(500)]
    template = {k: v for k, v in TEMPLATE.items() if k != "kind"}

    def page(query: dict[str, list[str]]) -> dict[str, Any]:
        limit = int(query.get("limit", ["500"])[0])
        start = int(query.get("continue", ["0"])[0] or 0)
        items = []
        for index in range(start, min(start + limit, count)):
            wf = pool[index % len(pool)]
            meta = {**wf["metadata"], "name": f"hello-{index:06d}", "uid": f"uid-{index}"}
            items.append({**{k: v for k, v in wf.items() if k != "kind"}, "metadata": meta})
        rest = str(start + limit) if start + limit < count else ""
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "items": items,
            "metadata": {"continue": rest},
        }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(url.query)
            plural = url.path.rsplit("/", 1)[-1]
            empty: dict[str, Any] = {"items": [], "metadata": {}}
            if plural == "workflows":
                body = page(query)
            elif plural == "workflowtemplates":
                body = {"items": [template], "metadata": {}}
            else:
                body = empty
            data = orjson.dumps(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def audit_cluster(count: int, directory: Path) -> None:
    """`audit --kubeconfig` of `count` Workflows served by serve_lists."""
    import multiprocessing

    from common import free_port

    port = free_port()
    server = multiprocessing.Process(target=serve_lists, args=(port, count), daemon=True)
    server.start()
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    while True:  # the pool is generated before the server listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    argv = [*audit_argv(Path("-"))[:4], "--kubeconfig", str(kubeconfig)]
    argv += ["--config", str(POLICY), "-o", "json"]
    try:
        seconds, peak, code, out = measured(argv)
    finally:
        server.terminate()
    findings = len(json.loads(out)) if out.strip() else 0
    print(
        f"audit --kubeconfig, {count} Workflows in pages of 500: {seconds:.1f} s, "
        f"peak RSS {peak:.0f} MiB, exit {code}, {findings} finding(s)"
    )


def fill(kubeconfig: str, first: int, count: int) -> None:
    """Create Workflows first..first+count-1 in team-a (one process of several)."""
    from kubernetes import client, config

    api = client.CustomObjectsApi(config.new_client_from_config(kubeconfig))
    rng = random.Random(first)
    for index in range(first, first + count):
        wf = shapes.workflow(rng, index)
        wf["metadata"] = {"name": f"hello-{index:06d}", "namespace": "team-a"}
        api.create_namespaced_custom_object("argoproj.io", "v1alpha1", "team-a", "workflows", wf)


def audit_apiserver(count: int, before: Path | None, processes: int = 8) -> None:
    """`audit --kubeconfig` of `count` Workflows stored in a real API server."""
    import multiprocessing

    from kubernetes import client

    from controlplane import ControlPlane
    from identities import ADMIN

    with ControlPlane() as plane:
        client.CustomObjectsApi(plane.client(ADMIN)).create_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "team-a", "workflowtemplates", TEMPLATE
        )
        kubeconfig = str(plane.kubeconfig(ADMIN))
        began = time.monotonic()
        share = count // processes
        workers = [
            multiprocessing.Process(target=fill, args=(kubeconfig, i * share, share))
            for i in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        print(f"created {share * processes} Workflows in {time.monotonic() - began:.0f} s")
        argv = [*audit_argv(Path("-"))[:4], "--kubeconfig", kubeconfig]
        argv += ["--config", str(POLICY), "-o", "json"]
        runs: dict[str, Path | None] = {"this tree": None}
        if before is not None:  # the same audit by an older tree of the package, run from it
            runs[str(before)] = before
        for name, tree in runs.items():
            env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
            seconds, peak, code, out = measured(argv, env, tree)
            findings = len(json.loads(out)) if out.strip() else 0
            print(
                f"audit --kubeconfig (kube-apiserver, {name}), {share * processes} Workflows: "
                f"{seconds:.1f} s, peak RSS {peak:.0f} MiB, exit {code}, {findings} finding(s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--formats", nargs="*", default=["yaml", "json"])
    parser.add_argument("--keep", type=Path, help="write the inputs here (kept)")
    parser.add_argument("--cluster", type=int, default=0, help="Workflows listed from a cluster")
    parser.add_argument("--apiserver", type=int, default=0, help="Workflows in a kube-apiserver")
    parser.add_argument("--before", type=Path, help="also audit with this older package tree")
    args = parser.parse_args()
    directory = args.keep or workdir("audit")
    directory.mkdir(parents=True, exist_ok=True)
    if args.cluster:
        audit_cluster(args.cluster, directory)
    if args.apiserver:
        audit_apiserver(args.apiserver, args.before)
    if not args.formats:
        return
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
