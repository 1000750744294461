"""What an Argo object says: its parts, the template it references, whether it has finished.

One home for reading Workflows, CronWorkflows and templates as plain dicts (kopf's bodies.py):
every rule, the template sources and the CLI read objects through these. Pure; no I/O.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import yaml

NAMESPACED: Final = "WorkflowTemplate"
CLUSTER: Final = "ClusterWorkflowTemplate"
FINISHED: Final = ("Succeeded", "Failed", "Error")
"""Workflow phases after which the controller runs nothing more."""


@dataclass(frozen=True)
class TemplateKey:
    """A (Cluster)WorkflowTemplate by kind, namespace ("" for cluster scope) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.kind == CLUSTER:
            return f"ClusterWorkflowTemplate {self.name}"
        return f"WorkflowTemplate {self.namespace}/{self.name}"


def spec_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """obj.spec as a dict ({} when absent or not a mapping)."""
    spec = obj.get("spec") if isinstance(obj, Mapping) else None
    return spec if isinstance(spec, dict) else {}


def status_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """obj.status as a dict ({} when absent or not a mapping)."""
    status = obj.get("status") if isinstance(obj, Mapping) else None
    return status if isinstance(status, dict) else {}


def metadata_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """obj.metadata as a dict ({} when absent or not a mapping)."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, dict) else {}


def labels_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """obj.metadata.labels as a dict."""
    labels = metadata_of(obj).get("labels")
    return labels if isinstance(labels, dict) else {}


def is_finished(workflow: Mapping[str, Any] | None) -> bool:
    """Whether a Workflow's phase is one the controller runs nothing more after."""
    return status_of(workflow).get("phase") in FINISHED


def nodes_of(workflow: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A Workflow's nodes, decompressed as Argo does (packer.DecompressWorkflow), or None."""
    status = status_of(workflow)
    nodes = status.get("nodes")
    if isinstance(nodes, dict) and nodes:
        return nodes
    packed = status.get("compressedNodes")
    if isinstance(packed, str) and packed:
        unpacked = orjson.loads(gzip.decompress(base64.b64decode(packed)))
        return unpacked if isinstance(unpacked, dict) else {}
    if status.get("offloadNodeStatusVersion"):
        return None
    return {}


def ref_key(spec: Mapping[str, Any], namespace: str) -> TemplateKey | None:
    """The template a Workflow spec's workflowTemplateRef names, where Argo looks for it.

    A namespaced ref is looked up in the Workflow's own namespace, a `clusterScope` one among
    ClusterWorkflowTemplates (operator.go fetchWorkflowSpec).
    """
    ref = spec.get("workflowTemplateRef")
    if not isinstance(ref, dict):
        return None
    name = ref.get("name")
    name = name if isinstance(name, str) else ""
    if ref.get("clusterScope") is True:
        return TemplateKey(CLUSTER, "", name)
    return TemplateKey(NAMESPACED, namespace, name)


def workflow_ref(workflow: Mapping[str, Any]) -> TemplateKey | None:
    """The template a Workflow object references, in its own namespace."""
    namespace = metadata_of(workflow).get("namespace")
    return ref_key(spec_of(workflow), namespace if isinstance(namespace, str) else "")


def template_key(kind: str, obj: Mapping[str, Any]) -> TemplateKey | None:
    """The key of a (Cluster)WorkflowTemplate object of `kind`; None without a name."""
    meta = metadata_of(obj)
    name = meta.get("name")
    if not isinstance(name, str):
        return None
    namespace = "" if kind == CLUSTER else str(meta.get("namespace") or "")
    return TemplateKey(kind, namespace, name)


def qualified_name(obj: Mapping[str, Any]) -> str:
    """`namespace/name` of an object."""
    meta = metadata_of(obj)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def pod_spec_patch(holder: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `podSpecPatch` of a WorkflowSpec or template (YAML or JSON) as a mapping;
    `{"unparsable": True}` for one Argo cannot read (it fails the pod); None when absent or not
    a mapping."""
    value = holder.get("podSpecPatch")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return {"unparsable": True}
    return parsed if isinstance(parsed, dict) else None


# --- walking a Workflow spec: its templates, calls, refs and containers -------------------------

STORED_SPEC: Final = "storedWorkflowTemplateSpec"
STORED_TEMPLATES: Final = "storedTemplates"
CONTAINER_LISTS: Final = ("initContainers", "sidecars")


def template_names(spec: Mapping[str, Any]) -> set[str]:
    """Names of the templates in a Workflow spec."""
    templates = spec.get("templates")
    if not isinstance(templates, list):
        return set()
    return {t["name"] for t in templates if isinstance(t, dict) and isinstance(t.get("name"), str)}


def template_refs(spec: Mapping[str, Any], namespace: str) -> Iterator[TemplateKey]:
    """Every `templateRef` of a spec, where Argo resolves them: steps, DAG tasks and hooks."""
    for holder in ref_holders(spec):
        ref = holder.get("templateRef")
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            if ref.get("clusterScope") is True:
                yield TemplateKey(CLUSTER, "", ref["name"])
            else:
                yield TemplateKey(NAMESPACED, namespace, ref["name"])


def ref_holders(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """What may carry a templateRef: steps, DAG tasks, hooks, at any depth of inline templates."""
    yield from hooks_of(spec)
    for template, call in walk(spec):
        if call is None:
            yield from hooks_of(template)
        else:
            yield call
            yield from hooks_of(call)


def walk(spec: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """(template, None) for each template, inline ones at any depth, then (template, call) for
    each of its steps and DAG tasks."""
    pending = list(dicts(spec.get("templates")))
    while pending:
        template = pending.pop()
        yield template, None
        for call in calls(template):
            yield template, call
            inline = call.get("inline")
            if isinstance(inline, dict):
                pending.append(inline)


def calls(template: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The steps and DAG tasks of a template."""
    for group in spec_list(template.get("steps")):
        yield from dicts(group)
    dag = template.get("dag")
    yield from dicts(dag.get("tasks") if isinstance(dag, dict) else None)


def hooks_of(holder: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The hooks a Workflow spec, a step or a DAG task declares."""
    hooks = holder.get("hooks")
    if isinstance(hooks, dict):
        yield from (hook for hook in hooks.values() if isinstance(hook, dict))


def dicts(value: Any) -> list[Mapping[str, Any]]:
    """The mappings of a list (other items and non-lists: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def spec_list(value: Any) -> list[Any]:
    """`value` if it is a list, else []."""
    return value if isinstance(value, list) else []


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(path, label, container) for every container a spec's templates can start."""
    templates = spec.get("templates")
    for i, template in enumerate(templates if isinstance(templates, list) else []):
        if not isinstance(template, dict):
            continue
        name = template.get("name", i)
        base = f"spec.templates[name={name}]"
        for field in ("container", "script"):
            if isinstance(template.get(field), dict):
                yield f"{base}.{field}", f"template {name!r} {field}", template[field]
        for field in CONTAINER_LISTS:
            for j, item in enumerate(dicts(template.get(field))):
                label = f"template {name!r} {field[:-1]} {item.get('name', j)!r}"
                yield f"{base}.{field}[{j}]", label, item
        container_set = template.get("containerSet")
        if isinstance(container_set, dict):
            for j, item in enumerate(dicts(container_set.get("containers"))):
                label = f"template {name!r} containerSet container {item.get('name', j)!r}"
                yield f"{base}.containerSet.containers[{j}]", label, item
