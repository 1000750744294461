"""The names Argo gives a Workflow's nodes and pods, so a pod's bound token can be tied to a node.

Argo names a node `<workflow>-<FNV-1a 32 of the node's name>` (the root node: the Workflow's
name) (Workflow.NodeID), and the pod of a node by the Workflow's pod-name version, stored by the
controller in the annotation `workflows.argoproj.io/pod-name-format` when the Workflow starts
(workflow/util/pod_name.go GeneratePodName; the same in v3.7.18 and v4.0.5):

- v1: the node ID;
- v2 (the default): the Workflow's name alone for the root node, else
  `<workflow>-<template>-<FNV-1a 32 of the node's name>` (without `-<template>` when the node has
  no template name), the prefix cut to 242 characters. The template is the node's
  `templateRef.template`, else its `templateName` (util.go GetTemplateFromNode).

The agent pod that runs a Workflow's HTTP and plugin nodes is `<NodeID("agent")>-agent`
(workflow/controller/agent.go getAgentPodName).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

POD_NAME_FORMAT: Final = "workflows.argoproj.io/pod-name-format"
V1: Final = "v1"
V2: Final = "v2"
# k8s names are at most 253 characters; Argo keeps 10 for the hash and one for the dash.
MAX_PREFIX: Final = 253 - 10 - 1


def fnv32a(text: str) -> int:
    """FNV-1a, 32 bits, of the UTF-8 bytes of `text` (Go's hash/fnv New32a)."""
    digest = 0x811C9DC5
    for byte in text.encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return digest


def node_id(workflow: str, name: str) -> str:
    """Argo's node ID: the Workflow's name, or name-<FNV-1a 32 of the name> (Workflow.NodeID)."""
    return workflow if name == workflow else f"{workflow}-{fnv32a(name)}"


def pod_name_version(workflow: Mapping[str, Any]) -> str:
    """The pod-name version the controller names this Workflow's pods with (v2 unless v1)."""
    meta = workflow.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    found = annotations.get(POD_NAME_FORMAT) if isinstance(annotations, dict) else None
    return V1 if found == V1 else V2


def node_template(node: Mapping[str, Any]) -> str:
    """The template name a node's pod is named after (GetTemplateFromNode)."""
    ref = node.get("templateRef")
    if isinstance(ref, dict):
        return str(ref.get("template") or "")
    return str(node.get("templateName") or "")


def pod_name(workflow: str, node_name: str, template: str, version: str = V2) -> str:
    """The name of the pod Argo creates for node `node_name` (GeneratePodName)."""
    if version == V1:
        return node_id(workflow, node_name)
    if node_name == workflow:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix[:MAX_PREFIX]}-{fnv32a(node_name)}"


def node_pod_name(workflow: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """The pod of node `node` of `workflow`, as the controller names it."""
    meta = workflow.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    return pod_name(
        name, str(node.get("name") or ""), node_template(node), pod_name_version(workflow)
    )


def agent_pod_name(workflow: str) -> str:
    """The agent pod of a Workflow, which writes its WorkflowTaskSet's status."""
    return f"{node_id(workflow, 'agent')}-agent"
