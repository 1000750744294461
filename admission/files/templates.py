"""File-backed template source for the offline CLI and the tests.

Reads (Cluster)WorkflowTemplates, and optionally Workflows for the template-edit warning, from
YAML/JSON files or directories (multi-document YAML, `kind: List` too). A namespaced template
without `metadata.namespace` answers for any namespace, as `kubectl apply -n NS` would place it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from admission.core.objects import (
    CLUSTER,
    NAMESPACED,
    TemplateKey,
    is_finished,
    metadata_of,
    qualified_name,
    workflow_ref,
)
from admission.files.manifests import manifest_files, read_documents


class FileTemplateSource:
    """Templates (and Workflows) read once from files."""

    def __init__(self, objects: Iterable[Mapping[str, Any]] = ()) -> None:
        self._templates: dict[TemplateKey, Mapping[str, Any]] = {}
        self._workflows: list[Mapping[str, Any]] = []
        for obj in objects:
            self.add(obj)

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> FileTemplateSource:
        """Load every document under `paths`; raises ManifestError on unreadable input."""
        source = cls()
        for path in manifest_files(paths):
            for doc in read_documents(path):
                if isinstance(doc, dict):
                    source.add(doc)
        return source

    def add(self, obj: Mapping[str, Any]) -> None:
        """Index one object if it is a template or a Workflow; ignore anything else."""
        kind = obj.get("kind")
        meta = metadata_of(obj)
        name = meta.get("name", "")
        if kind == NAMESPACED:
            self._templates[TemplateKey(NAMESPACED, meta.get("namespace", ""), name)] = obj
        elif kind == CLUSTER:
            self._templates[TemplateKey(CLUSTER, "", name)] = obj
        elif kind == "Workflow":
            self._workflows.append(obj)

    def templates(self) -> list[Mapping[str, Any]]:
        """Every template read, as written."""
        return list(self._templates.values())

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        """The template, or one without a namespace of that name."""
        found = self._templates.get(key)
        if found is None and key.kind == NAMESPACED:
            found = self._templates.get(TemplateKey(NAMESPACED, "", key.name))
        return found

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """The Workflow of that name (one without a namespace matches any)."""
        for wf in self._workflows:
            meta = metadata_of(wf)
            if meta.get("name") == name and meta.get("namespace", "") in ("", namespace):
                return wf
        return None

    def workflows_using(self, key: TemplateKey) -> Sequence[str]:
        """Unfinished Workflows whose workflowTemplateRef names `key`."""
        return sorted(
            qualified_name(wf)
            for wf in self._workflows
            if not is_finished(wf) and _same_template(workflow_ref(wf), key)
        )


def _same_template(ref: TemplateKey | None, key: TemplateKey) -> bool:
    """Whether a Workflow's ref names `key`; a Workflow file without a namespace matches any."""
    if ref is None or (ref.kind, ref.name) != (key.kind, key.name):
        return False
    return key.kind == CLUSTER or ref.namespace in ("", key.namespace) or not key.namespace
