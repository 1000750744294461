"""YAML read as Argo's controller reads its ConfigMap, and every key given twice found.

PyYAML's safe loader (YAML 1.1: `on`, `yes` are true, as in the controller) keeps the last of two
equal keys in a mapping without a word, so a policy that says `mode: enforce` and, further down,
`mode: audit` silently audits. `load` returns the document and every key given twice within one
mapping, with both lines. Keys compare as the loaded mapping compares them: `on` and `true`
are one key. The text is composed by libyaml's C loader where PyYAML was built with it, by the
pure-Python one otherwise: the same nodes, lines and keys, so the same duplicates and messages.
Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MERGE_TAG: Final = "tag:yaml.org,2002:merge"  # `<<: *base` merges; its keys may be overridden
LOADER: Final[type[yaml.SafeLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DuplicateKey:
    """A key given twice in one mapping: where (dotted path of the key) and on which lines."""

    path: str
    first_line: int
    again_line: int

    def describe(self, *, within: str = "") -> str:
        """`path: key given twice, on lines A and B` (lines of `within` when it is embedded)."""
        lines = f"on lines {self.first_line} and {self.again_line}"
        if within:
            return f"{within}: {self.path}: key given twice, {lines} of this YAML string"
        return f"{self.path}: key given twice, {lines}"


def load(
    text: str, *, loader_class: type[yaml.SafeLoader] = LOADER
) -> tuple[Any, list[DuplicateKey]]:
    """The single document in `text` (None when empty) and its repeated keys.

    Raises yaml.YAMLError as yaml.safe_load does.
    """
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        duplicates = sorted(_duplicates(loader, node, "", set()), key=lambda d: d.again_line)
        return loader.construct_document(node), duplicates
    finally:
        loader.dispose()


def _duplicates(
    loader: yaml.SafeLoader, node: Node, path: str, seen: set[int]
) -> Iterator[DuplicateKey]:
    """Repeated keys in `node` and below; an aliased node is looked at once, where defined."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicates(loader, item, f"{path}[{index}]", seen)
    if not isinstance(node, MappingNode):
        return
    lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            continue
        name = key_node.value if isinstance(key_node, ScalarNode) else "?"
        where = f"{path}.{name}" if path else str(name)
        key = _key(loader, key_node)
        line = key_node.start_mark.line + 1
        if key is not None and key in lines:
            yield DuplicateKey(where, lines[key], line)
        elif key is not None:
            lines[key] = line
        yield from _duplicates(loader, value_node, where, seen)


def _key(loader: yaml.SafeLoader, node: Node) -> Any:
    """The key as the document will hold it, or None when it cannot be a dict key (compared)."""
    if not isinstance(node, ScalarNode):
        return None
    key = loader.construct_object(node)
    try:
        hash(key)
    except TypeError:
        return None
    return key  # as a dict compares it: `on` is `true`, and `1` is `true` too
