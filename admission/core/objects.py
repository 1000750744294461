"""What an Argo object says: its parts, the template it references, whether it has finished.

One home for reading Workflows, CronWorkflows and templates as plain dicts (kopf's bodies.py):
every rule, the template sources and the CLI read objects through these. Pure; no I/O.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
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
