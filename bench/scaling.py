"""Policy evaluation time against Workflow size: 1, 10, 100, 500 templates, and deep nesting.

Prints a table; asserts nothing. Each figure is the median of repeated runs of the pure core
(`webhook.handle`, the server's code path without HTTP), so it measures the policy alone.

    python bench/scaling.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from typing import Any

from admission.core.merge import join_workflow_spec
from admission.core.policyfile import parse_config
from admission.core.review import make_review
from admission.core.webhook import handle
from admission.files.templates import FileTemplateSource

POLICY = parse_config(
    """
workflowRestrictions: {templateReferencing: Secure}
workflowDefaults: {spec: {ttlStrategy: {secondsAfterCompletion: 3600}}}
securityContext:
  mode: mutate
  pod: {runAsNonRoot: true}
  container: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
  restricted: true
"""
)


def template_spec(n: int, depth: int = 1) -> dict[str, Any]:
    """A library template with n container templates and a DAG (nested `depth` levels) over them."""
    templates: list[dict[str, Any]] = [
        {
            "name": f"t{i}",
            "inputs": {"parameters": [{"name": "x"}]},
            "container": {
                "image": "alpine:3.19",
                "command": ["echo"],
                "args": [f"{{{{inputs.parameters.x}}}}-{i}"],
                "env": [{"name": "I", "value": str(i)}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            },
        }
        for i in range(n)
    ]
    tasks = [
        {
            "name": f"task{i}",
            "template": f"t{i}",
            "arguments": {"parameters": [{"name": "x", "value": str(i)}]},
        }
        for i in range(n)
    ]
    templates.append({"name": "main", "dag": {"tasks": tasks}})
    for level in range(1, depth):
        templates.append({"name": f"level{level}", "steps": [[{"name": "s", "template": "main"}]]})
    return {"entrypoint": "main", "securityContext": {"runAsNonRoot": True}, "templates": templates}


def cases(n: int, depth: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """The requests timed for one size: name -> (endpoint, review)."""
    spec = template_spec(n, depth)
    library = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "big", "namespace": "team-a"},
        "spec": spec,
    }
    user = {"workflowTemplateRef": {"name": "big"}, "ttlStrategy": {"secondsAfterCompletion": 3600}}
    stored = join_workflow_spec(user, spec, {"ttlStrategy": {"secondsAfterCompletion": 3600}})
    running = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "big-1", "namespace": "team-a"},
        "spec": user,
        "status": {"phase": "Running", "storedWorkflowTemplateSpec": stored},
    }
    stopped = copy.deepcopy(running)
    stopped["spec"]["shutdown"] = "Stop"
    changed = copy.deepcopy(running)
    changed["spec"]["arguments"] = {"parameters": [{"name": "x", "value": "evil"}]}
    plain = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "p-", "namespace": "team-a"},
        "spec": spec,
    }
    return {
        "template CREATE (validate)": ("validate", make_review(library, namespace="team-a")),
        "template CREATE (mutate)": ("mutate", make_review(library, namespace="team-a")),
        "plain Workflow CREATE (Strict deny)": ("validate", make_review(plain, namespace="team-a")),
        "ref Workflow CREATE": (
            "validate",
            make_review(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "metadata": {"generateName": "r-", "namespace": "team-a"},
                    "spec": user,
                },
                namespace="team-a",
            ),
        ),
        "Secure UPDATE: stop (join + compare)": (
            "validate",
            make_review(stopped, namespace="team-a", operation="UPDATE", old=running),
        ),
        "Secure UPDATE: changed args (deny + diff)": (
            "validate",
            make_review(changed, namespace="team-a", operation="UPDATE", old=running),
        ),
    }, library


def timed(body: str, endpoint: str, source: FileTemplateSource, repeat: int) -> float:
    """Median milliseconds of `handle` on this body."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        handle(body, endpoint=endpoint, config=POLICY, templates=source)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    sizes = [(1, 1), (10, 1), (100, 1), (500, 1), (100, 20)]
    rows: dict[str, list[str]] = {}
    body_kib = []
    for n, depth in sizes:
        requests, library = cases(n, depth)
        source = FileTemplateSource([library])
        body_kib.append(len(json.dumps(requests["Secure UPDATE: stop (join + compare)"][1])) / 1024)
        for name, (endpoint, review) in requests.items():
            rows.setdefault(name, []).append(
                f"{timed(json.dumps(review), endpoint, source, args.repeat):8.2f}"
            )
    header = [f"{n} tmpl" + (f" d{d}" if d > 1 else "") for n, d in sizes]
    print(f"{'median ms per request':44s}" + "".join(f"{h:>10s}" for h in header))
    for name, values in rows.items():
        print(f"{name:44s}" + "".join(f"{v:>10s}" for v in values))
    print(f"{'(UPDATE body size, KiB)':44s}" + "".join(f"{k:10.1f}" for k in body_kib))


if __name__ == "__main__":
    main()
