"""Realistic Argo objects, as Argo's controller leaves them, for the operations oracle.

`workflow(rng)` builds a ref Workflow: a steps or DAG tree (steps nested in DAGs and DAGs in
steps, retry nodes with their attempts, suspend nodes waiting for supplied outputs with and
without `globalName`, Skipped, Omitted, Failed and Error nodes, an onExit handler, hooks),
parameters holding numbers, quantities and booleans, and a running or finished phase, with the
stored spec Argo joined. `cron_workflow(rng)` builds a CronWorkflow as a user's file holds it or
as it stands once it has run. Node IDs follow Argo's scheme (`<wf>-<fnv32a(name)>`).
tests/userops.py lists the operations users run on them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from admission.core.merge import join_workflow_spec

JSON = Any
TEMPLATE = {  # tests/fixtures/templates/library.yaml team-a/hello, the ref of every Workflow
    "entrypoint": "main",
    "arguments": {"parameters": [{"name": "msg", "value": "hi"}]},
    "templates": [
        {
            "name": "main",
            "container": {
                "image": "alpine:3.19",
                "command": ["echo"],
                "args": ["{{workflow.parameters.msg}}"],
            },
        },
        {"name": "other", "container": {"image": "alpine:3.19", "command": ["date"]}},
    ],
}
POLICY = Path(__file__).resolve().parents[1] / "policies" / "secure.yaml"
DEFAULTS = yaml.safe_load(POLICY.read_text(encoding="utf-8"))["workflowDefaults"]["spec"]
T0 = "2026-12-01T10:00:00Z"
T1 = "2026-12-01T10:05:00Z"
VALUES = ("again", "3", "0.5", "500m", "1Gi", "true", "false", "-1", "1e3", "")
FINISHED = ("Succeeded", "Failed", "Error")


def node_id(wf_name: str, name: str) -> str:
    """Argo's Workflow.NodeID: the root is the Workflow's name, others `<wf>-<fnv32a(name)>`."""
    if name == wf_name:
        return wf_name
    h = 0x811C9DC5
    for byte in name.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{wf_name}-{h}"


@dataclass
class Tree:
    """The nodes being built, and the choices that shape them."""

    wf: str
    rng: random.Random
    finished: bool
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, kind: str, phase: str, boundary: str, **extra: Any) -> dict[str, Any]:
        """A node as the controller writes it."""
        nid = node_id(self.wf, name)
        display = name.rsplit(".", 1)[-1] if "." in name else name
        node: dict[str, Any] = {
            "id": nid,
            "name": name,
            "displayName": display,
            "type": kind,
            "templateScope": "local/",
            "phase": phase,
            "startedAt": T0,
            **extra,
        }
        if boundary:
            node["boundaryID"] = boundary
        if phase not in ("Running", "Pending"):
            node["finishedAt"] = T1
            node["progress"] = "1/1" if phase == "Succeeded" else "0/1"
        else:
            node["progress"] = "0/1"
        self.nodes[nid] = node
        return node


def _leaf(tree: Tree, name: str, boundary: str, depth: int) -> dict[str, Any]:
    """One step or task: a pod, a suspend, a retry, a skipped one, or a nested steps/DAG."""
    rng = tree.rng
    kinds = ["Pod", "Pod", "Suspend", "Retry", "Skipped", "Omitted"]
    if depth < 2:
        kinds += ["Steps", "DAG"]
    kind = rng.choice(kinds)
    if kind == "Pod":
        phase = rng.choice(FINISHED) if tree.finished else rng.choice(("Succeeded", "Running"))
        extra: dict[str, Any] = {"templateName": "main", "hostNodeName": "node-1"}
        if phase == "Succeeded":
            extra["outputs"] = {
                "parameters": [{"name": "out", "value": rng.choice(VALUES)}],
                "exitCode": "0",
            }
        elif phase in ("Failed", "Error"):
            extra["message"] = "Error (exit code 1)"
            extra["outputs"] = {"exitCode": "1"}
        return tree.add(name, "Pod", phase, boundary, **extra)
    if kind == "Suspend":
        return _suspend(tree, name, boundary)
    if kind == "Retry":
        return _retry(tree, name, boundary)
    if kind in ("Skipped", "Omitted"):
        return tree.add(
            name, "Skipped", kind, boundary, templateName="main", message="when 'false' evaluated"
        )
    return _steps(tree, name, depth + 1) if kind == "Steps" else _dag(tree, name, depth + 1)


def _suspend(tree: Tree, name: str, boundary: str) -> dict[str, Any]:
    rng = tree.rng
    active = not tree.finished and rng.random() < 0.8
    params = []
    for i in range(rng.randint(0, 2)):
        param: dict[str, Any] = {"name": f"p{i}"}
        if active:
            param["valueFrom"] = {"supplied": {}}
            if rng.random() < 0.7:
                param["valueFrom"]["default"] = rng.choice(VALUES)
        else:
            param["value"] = rng.choice(VALUES)
        if rng.random() < 0.5:
            param["globalName"] = f"g-{name.rsplit('.', 1)[-1]}-{i}"
        params.append(param)
    extra: dict[str, Any] = {"templateName": "approve"}
    if params:
        extra["outputs"] = {"parameters": params}
    phase = "Running" if active else "Succeeded"
    return tree.add(name, "Suspend", phase, boundary, **extra)


def _retry(tree: Tree, name: str, boundary: str) -> dict[str, Any]:
    rng = tree.rng
    attempts = rng.randint(1, 3)
    last = rng.choice(FINISHED) if tree.finished else rng.choice(("Succeeded", "Running"))
    children = []
    for i in range(attempts):
        phase = last if i == attempts - 1 else "Failed"
        extra: dict[str, Any] = {"templateName": "main", "nodeFlag": {"retried": True}}
        if phase != "Succeeded" and phase != "Running":
            extra["message"] = "Error (exit code 1)"
        child = tree.add(f"{name}({i})", "Pod", phase, boundary, **extra)
        children.append(child["id"])
    node = tree.add(name, "Retry", last, boundary, templateName="main", children=children)
    return node


def _steps(tree: Tree, name: str, depth: int) -> dict[str, Any]:
    """A Steps node: step groups in a row, each with one or two steps."""
    rng = tree.rng
    groups = rng.randint(1, 3)
    root = tree.add(name, "Steps", "Running", "", templateName="steps")
    previous = root
    outbound: list[str] = []
    phases = []
    for g in range(groups):
        group = tree.add(f"{name}[{g}]", "StepGroup", "Running", root["id"])
        previous.setdefault("children", []).append(group["id"])
        steps = [
            _leaf(tree, f"{name}[{g}].s{g}{k}", root["id"], depth) for k in range(rng.randint(1, 2))
        ]
        group["children"] = [s["id"] for s in steps]
        group_phase = _combine([s["phase"] for s in steps])
        _finish(group, group_phase)
        phases.append(group_phase)
        outbound = [_outbound(tree, s) for s in steps]
        previous = group
        if group_phase != "Succeeded" and group_phase != "Skipped":
            break
    root["outboundNodes"] = [o for o in outbound if o]
    _finish(root, _combine(phases))
    return root


def _dag(tree: Tree, name: str, depth: int) -> dict[str, Any]:
    """A DAG node: tasks, some depending on the one before."""
    rng = tree.rng
    root = tree.add(name, "DAG", "Running", "", templateName="dag")
    tasks = [_leaf(tree, f"{name}.t{i}", root["id"], depth) for i in range(rng.randint(1, 3))]
    roots, leaves = [], []
    for i, task in enumerate(tasks):
        if i and rng.random() < 0.5:
            tasks[i - 1].setdefault("children", []).append(task["id"])
            if tasks[i - 1]["id"] in leaves:
                leaves.remove(tasks[i - 1]["id"])
        else:
            roots.append(task["id"])
        leaves.append(task["id"])
    root["children"] = roots
    root["outboundNodes"] = [o for o in (_outbound(tree, tree.nodes[t]) for t in leaves) if o]
    _finish(root, _combine([t["phase"] for t in tasks]))
    return root


def _outbound(tree: Tree, node: dict[str, Any]) -> str:
    if node["type"] in ("Steps", "DAG"):
        found = node.get("outboundNodes") or []
        return found[-1] if found else ""
    if node["type"] == "Retry" and node.get("children"):
        return str(node["children"][-1])
    return str(node["id"])


def _combine(phases: list[str]) -> str:
    for phase in ("Running", "Error", "Failed"):
        if phase in phases:
            return phase
    return "Succeeded"


def _finish(node: dict[str, Any], phase: str) -> None:
    node["phase"] = phase
    if phase in ("Running", "Pending"):
        node.pop("finishedAt", None)
    else:
        node["finishedAt"] = T1
        node["progress"] = "1/1" if phase == "Succeeded" else "0/1"


def workflow(rng: random.Random, index: int) -> dict[str, Any]:
    """A ref Workflow of team-a/hello as the controller leaves it, running or finished."""
    name = f"hello-{index:05d}"
    finished = rng.random() < 0.6
    tree = Tree(name, rng, finished)
    root = _steps(tree, name, 0) if rng.random() < 0.6 else _dag(tree, name, 0)
    phase = root["phase"] if finished else "Running"
    if finished and phase == "Running":
        phase = "Failed"
    if finished and rng.random() < 0.3:
        exit_node = tree.add(
            f"{name}.onExit", "Pod", rng.choice(FINISHED), "", templateName="other"
        )
        exit_node["finishedAt"] = T1
    if rng.random() < 0.2:  # a Workflow-level hook (spec.hooks), run beside the entrypoint
        hook_phase = rng.choice(FINISHED) if finished else "Running"
        hook = tree.add(f"{name}.hooks.running", "Pod", hook_phase, "", templateName="other")
        hook["nodeFlag"] = {"hooked": True}
    params = [{"name": "msg", "value": rng.choice(VALUES)}]
    spec: dict[str, Any] = {
        "workflowTemplateRef": {"name": "hello"},
        "arguments": {"parameters": params},
    }
    if rng.random() < 0.3:
        spec["suspend"] = True if not finished else None
        spec = {k: v for k, v in spec.items() if v is not None}
    status: dict[str, Any] = {
        "phase": phase,
        "startedAt": T0,
        "progress": root.get("progress", "0/1"),
        "nodes": tree.nodes,
        "storedWorkflowTemplateSpec": join_workflow_spec(spec, TEMPLATE, DEFAULTS),
        "conditions": [{"type": "PodRunning", "status": "False"}],
        "artifactRepositoryRef": {"default": True, "artifactRepository": {}},
        "taskResultsCompletionStatus": {
            n: True for n, v in tree.nodes.items() if v["type"] == "Pod"
        },
    }
    if finished:
        status["finishedAt"] = T1
        status["conditions"].append({"type": "Completed", "status": "True"})
        if phase != "Succeeded":
            status["message"] = "child failed"
    _publish_globals(tree, status)
    labels = {"workflows.argoproj.io/phase": phase}
    if finished:
        labels["workflows.argoproj.io/completed"] = "true"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "uid": f"uid-{index}",
            "resourceVersion": "100",
            "labels": labels,
        },
        "spec": spec,
        "status": status,
    }


def _publish_globals(tree: Tree, status: dict[str, Any]) -> None:
    """Global outputs of parameters already supplied, as the controller publishes them."""
    published = []
    for node in tree.nodes.values():
        for param in (node.get("outputs") or {}).get("parameters", []):
            if param.get("globalName") and "value" in param:
                published.append({"name": param["globalName"], "value": param["value"]})
    if published:
        status["outputs"] = {"parameters": published}


def cron_workflow(rng: random.Random, index: int, *, ran: bool) -> dict[str, Any]:
    """A ref CronWorkflow as a user's file holds it, or as it stands once it has run."""
    cron: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": f"nightly-{index}", "namespace": "team-a"},
        "spec": {
            "schedule": rng.choice(("0 1 * * *", "*/5 * * * *")),
            "concurrencyPolicy": rng.choice(("Allow", "Forbid", "Replace")),
            "workflowSpec": {
                "workflowTemplateRef": {"name": "hello"},
                "arguments": {"parameters": [{"name": "msg", "value": rng.choice(VALUES)}]},
            },
        },
    }
    if ran:
        cron["metadata"]["resourceVersion"] = "40"
        cron["status"] = {
            "active": [{"name": f"nightly-{index}-1", "namespace": "team-a", "uid": "u"}],
            "lastScheduledTime": T0,
            "succeeded": rng.randint(0, 9),
            "failed": rng.randint(0, 3),
            "phase": "Active",
            "conditions": [],
        }
    return cron
