"""Realistic Argo objects and the operations users run on them, for the operations oracle.

`workflow(rng)` builds a ref Workflow as Argo's controller leaves it: a steps or DAG tree (steps
nested in DAGs and DAGs in steps, retry nodes with their attempts, suspend nodes waiting for
supplied outputs with and without `globalName`, Skipped, Omitted, Failed and Error nodes, an
onExit handler, hooks), parameters holding numbers, quantities and booleans, and a running or
finished phase, with the stored spec Argo joined. `operations(rng, wf)` lists the user
operations Argo's clients allow on it with their flags, as requests for tests/oracle/ops;
`cron_workflow(rng)` and `cron_operations` do the same for CronWorkflows. `perturbations` lists
single-field forgeries of an operation's result in the fields the controller trusts
(docs/status-trust.md). Node IDs follow Argo's scheme (`<wf>-<fnv32a(name)>`).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import random
from collections.abc import Iterator
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


def operations(rng: random.Random, wf: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The operations Argo's clients allow on `wf`, with flags, as oracle requests."""
    status = wf["status"]
    nodes = (status.get("nodes") or _decompressed(status)).values()
    phase = status["phase"]
    names = [n["displayName"] for n in nodes if n["type"] in ("Pod", "Suspend", "Retry")]
    if phase in ("Failed", "Error"):
        yield {"op": "retry"}
        yield {"op": "retry", "parameters": [f"msg={rng.choice(VALUES)}"]}
        yield {
            "op": "resubmit",
            "memoized": rng.random() < 0.7,
            "parameters": [f"msg={rng.choice(VALUES)}"] if rng.random() < 0.3 else None,
        }
    elif phase == "Succeeded":
        yield {"op": "resubmit"}
    if phase in FINISHED and names:
        yield {
            "op": "retry",
            "restartSuccessful": True,
            "nodeFieldSelector": f"displayName={rng.choice(names)}",
            "parameters": [f"msg={rng.choice(VALUES)}"] if rng.random() < 0.5 else None,
        }
    if phase != "Running":
        return
    yield {"op": rng.choice(("suspend", "terminate", "stop"))}
    active = [n for n in nodes if n["type"] == "Suspend" and n["phase"] == "Running"]
    if active:
        yield from _suspend_operations(rng, active)
    elif wf["spec"].get("suspend"):
        yield {"op": "resume"}


def _decompressed(status: dict[str, Any]) -> dict[str, Any]:
    """status.compressedNodes read back (base64 of gzip of the nodes' JSON)."""
    packed = status.get("compressedNodes")
    nodes: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(packed))) if packed else {}
    return nodes


def _suspend_operations(
    rng: random.Random, active: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    node = rng.choice(active)
    selector = f"displayName={node['displayName']}"
    params = (node.get("outputs") or {}).get("parameters", [])
    if all("default" in p.get("valueFrom", {}) for p in params if "valueFrom" in p):
        yield {"op": "resume"}
    yield {"op": "resume", "nodeFieldSelector": selector}
    yield {"op": "stop", "nodeFieldSelector": selector, "message": rng.choice(("no", ""))}
    supplied = {p["name"]: rng.choice(VALUES) for p in params if rng.random() < 0.7}
    yield {
        "op": "set",
        "nodeFieldSelector": selector,
        "phase": rng.choice(("Succeeded", "Failed", "Error", "")),
        "message": rng.choice(("approved", "")),
        "outputParameters": supplied or None,
    }


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


def perturbations(
    rng: random.Random, old: dict[str, Any], new: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, object): one field the controller trusts changed in an operation's result."""
    nodes = (new.get("status") or {}).get("nodes") or {}
    before = (old.get("status") or {}).get("nodes") or {}
    same = [i for i, n in nodes.items() if before.get(i) == n and not _active_suspend(n)]
    if same:
        nid = rng.choice(same)
        node = nodes[nid]
        forged = "Succeeded" if node["phase"] != "Succeeded" else "Failed"
        yield f"node {nid} phase", _with(new, ["status", "nodes", nid, "phase"], forged)
        outputs = {"parameters": [{"name": "out", "value": "forged"}], "exitCode": "0"}
        yield f"node {nid} outputs", _with(new, ["status", "nodes", nid, "outputs"], outputs)
        yield (
            f"node {nid} startedAt",
            _with(new, ["status", "nodes", nid, "startedAt"], "2026-12-02T00:00:00Z"),
        )
        children = [*node.get("children", []), f"{new['metadata']['name']}-1"]
        yield f"node {nid} children", _with(new, ["status", "nodes", nid, "children"], children)
    touched = [i for i, n in nodes.items() if i in before and before[i] != n]
    if touched:  # a node the operation changed: no operation adds an output parameter
        nid = rng.choice(touched)
        outputs = copy.deepcopy(nodes[nid].get("outputs") or {})
        outputs["parameters"] = [*outputs.get("parameters", []), {"name": "extra", "value": "x"}]
        yield (
            f"changed node {nid} outputs",
            _with(new, ["status", "nodes", nid, "outputs"], outputs),
        )
    phase = (new.get("status") or {}).get("phase")
    if phase != "Succeeded":
        yield "status.phase", _with(new, ["status", "phase"], "Succeeded")
    yield "status.finishedAt", _with(new, ["status", "finishedAt"], "2030-01-01T00:00:00Z")
    forged_out = {"parameters": [{"name": "result", "value": "forged"}]}
    yield "status.outputs", _with(new, ["status", "outputs"], forged_out)
    forged_node = {
        "id": "x",
        "name": "x",
        "type": "Pod",
        "phase": "Succeeded",
        "outputs": {"parameters": [{"name": "out", "value": "1"}]},
    }
    wf = new["metadata"].get("name") or new["metadata"].get("generateName", "wf-")
    yield (
        "a new node",
        _with(
            new,
            ["status", "nodes", node_id(wf, wf + ".forged")],
            {**forged_node, "id": node_id(wf, wf + ".forged"), "name": wf + ".forged"},
        ),
    )
    yield (
        "storedTemplates",
        _with(
            new,
            ["status", "storedTemplates"],
            {"namespaced/hello/main": {"name": "main", "container": {"image": "evil"}}},
        ),
    )
    yield (
        "artifactRepositoryRef",
        _with(new, ["status", "artifactRepositoryRef"], {"configMap": "evil", "key": "repo"}),
    )
    yield (
        "synchronization",
        _with(
            new,
            ["status", "synchronization"],
            {"mutex": {"holding": [{"mutex": "team-b/lock", "holder": "x"}]}},
        ),
    )
    yield (
        "persistentVolumeClaims",
        _with(
            new,
            ["status", "persistentVolumeClaims"],
            [{"name": "v", "persistentVolumeClaim": {"claimName": "other-team-data"}}],
        ),
    )
    yield (
        "stored spec image",
        _with(
            new,
            ["status", "storedWorkflowTemplateSpec", "templates"],
            [{"name": "main", "container": {"image": "evil"}}],
        ),
    )
    yield (
        "taskResultsCompletionStatus",
        _with(new, ["status", "taskResultsCompletionStatus"], {"x": False}),
    )


def _active_suspend(node: dict[str, Any]) -> bool:
    return node.get("type") == "Suspend" and node.get("phase") == "Running"


def _with(obj: dict[str, Any], path: list[str], value: JSON) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    here = out
    for key in path[:-1]:
        nxt = here.get(key)
        if not isinstance(nxt, dict):
            nxt = here[key] = {}
        here = nxt
    here[path[-1]] = value
    return out


def cron_perturbations(
    rng: random.Random, old: dict[str, Any], new: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, object): one field of a CronWorkflow's status the cron controller trusts."""
    del rng, old
    victim = [{"name": "other-workflow", "namespace": "team-a", "uid": "x"}]
    yield "status.active", _with(new, ["status", "active"], victim)
    yield "status.phase", _with(new, ["status", "phase"], "Stopped")
    yield "status.succeeded", _with(new, ["status", "succeeded"], 99)
    yield (
        "status.lastScheduledTime",
        _with(new, ["status", "lastScheduledTime"], "2020-01-01T00:00:00Z"),
    )


# Library templates a user of team-a may run (tests/fixtures/templates/library.yaml): one with
# a parameter, one with Workflow-level settings, one calling a ClusterWorkflowTemplate by ref.
SUBMITTABLE = (
    ("workflowtemplate", "hello"),
    ("workflowtemplate", "tuned"),
    ("workflowtemplate", "calls-cluster"),
    ("clusterworkflowtemplate", "shared-steps"),
)


def submission(rng: random.Random, index: int) -> dict[str, Any]:
    """An `argo submit` request: a file with a ref, or --from a template or a CronWorkflow,
    with the SubmitOpts flags a ref Workflow may carry (-p, --entrypoint, -l, --annotations,
    --generate-name / --name)."""
    kind, name = rng.choice(SUBMITTABLE)
    opts: dict[str, Any] = {}
    if name == "hello" and rng.random() < 0.6:
        opts["parameters"] = [f"msg={rng.choice(VALUES)}"]
    if rng.random() < 0.3:
        opts["labels"] = "team=a,run=nightly"
    if rng.random() < 0.2:
        opts["annotations"] = "note=from the CLI"
    if rng.random() < 0.15:
        opts["generateName"] = f"sub-{index}-"
    elif rng.random() < 0.15:
        opts["name"] = f"sub-{index}"
    how = rng.choice(("file", "from", "cronwf"))
    request: dict[str, Any] = {"op": "submit", "submitOptions": opts or None}
    ref: dict[str, Any] = {"name": name}
    if kind == "clusterworkflowtemplate":
        ref["clusterScope"] = True
    if how == "from":
        request["from"] = f"{kind}/{name}"
    elif how == "cronwf":
        cron = cron_workflow(rng, index, ran=False)
        cron["spec"]["workflowSpec"] = {"workflowTemplateRef": ref}
        request["from"] = f"cronwf/{cron['metadata']['name']}"
        request["cron"] = cron
    else:
        request["object"] = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": f"{name}-", "namespace": "team-a"},
            "spec": {"workflowTemplateRef": ref},
        }
    return request
