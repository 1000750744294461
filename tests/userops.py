"""The operations Argo's users run, as requests for the operations oracle, and their forgeries.

`operations(rng, wf)` lists what Argo's clients allow on a Workflow of tests/shapes.py (retry,
resubmit, suspend, resume, stop, terminate, node set) with their flags; `submission(rng)` an
`argo submit` of a file or `--from` each kind. `perturbations` and `cron_perturbations` list
single-field forgeries of an operation's result in the fields the controller trusts
(docs/status-trust.md).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import random
from collections.abc import Iterator
from typing import Any

from shapes import FINISHED, JSON, VALUES, cron_workflow, node_id


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
