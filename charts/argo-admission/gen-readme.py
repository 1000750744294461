#!/usr/bin/env python3
"""Write the chart's README.md from README.md.gotmpl and the `# --` comments of values.yaml.

The values table is the one helm-docs renders (`helm-docs --sort-values-order file`, its
`chart.valuesTable` template): a row for every key whose comment starts with `# --`, continued
by the `#` lines under it; a documented map or list is one row with its whole default (JSON), and
keys below it are rows only when documented themselves; a key under no documented map is a row
even without a comment. README.md.gotmpl may use `{{ template "chart.valuesTable" . }}` and
nothing else of helm-docs, so either tool renders it.

The project README shows a few of the rows between `<!-- values-table: KEY ... -->` and
`<!-- end values-table -->`; this script rewrites that block too.

    charts/argo-admission/gen-readme.py           # rewrite both READMEs
    charts/argo-admission/gen-readme.py --check   # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

CHART = Path(__file__).resolve().parent
PROJECT_README = CHART.parent.parent / "README.md"
TABLE_TEMPLATE = '{{ template "chart.valuesTable" . }}'
HEADER = "| Key | Type | Default | Description |\n|-----|------|---------|-------------|"
DESCRIPTION = re.compile(r"^\s*#\s*(.*)\s+--\s*(.*)$")  # helm-docs' valuesDescriptionRegex
CONTINUATION = re.compile(r"^\s*#(\s?)(.*)$")
DEFAULT = re.compile(r"^\s*# @default -- (.*)$")
BLOCK = re.compile(
    r"(<!-- values-table: (?P<keys>[^>]*?) -->\n)(?:.*?\n)?(<!-- end values-table -->)", re.DOTALL
)


@dataclass(frozen=True)
class Row:
    """One line of the values table."""

    key: str
    type: str
    default: str
    description: str

    def markdown(self) -> str:
        return f"| {self.key} | {self.type} | {self.default} | {self.description} |"


def comment_above(lines: list[str], node: Node) -> tuple[str, str] | None:
    """(description, default override) from the `# --` comment right above a key, if any."""
    above: list[str] = []
    index = node.start_mark.line - 1
    while index >= 0 and lines[index].lstrip().startswith("#"):
        above.insert(0, lines[index])
        index -= 1
    starts = [i for i, line in enumerate(above) if line.lstrip().startswith("# --")]
    if not starts:
        return None
    first, *rest = above[starts[-1] :]  # helm-docs reads the last `# --` group only
    match = DESCRIPTION.match(first)
    if match is None or match[1]:  # `# key -- text` names a key elsewhere: not ours
        return None
    description, default = match[2], ""
    for line in rest:
        if found := DEFAULT.match(line):
            default = found[1]
        elif line.lstrip().startswith("# @"):
            raise SystemExit(f"values.yaml line {line.strip()!r}: annotation not supported here")
        elif found := CONTINUATION.match(line):
            description += " " + found[2]
    return description, default


def go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def go_json(value: Any) -> str:
    """JSON as Go's encoder writes it without HTML escaping (map keys sorted)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def child_key(prefix: str, key: str) -> str:
    shown = f'"{key}"' if "." in key or " " in key else key
    return f"{prefix}.{shown}" if prefix else shown


class Table:
    """The rows of values.yaml, in file order."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.loader = yaml.SafeLoader(text)
        self.rows: list[Row] = []
        root = self.loader.get_single_node()
        if isinstance(root, MappingNode):
            self.walk_mapping("", None, root, leaves=True)

    def value(self, node: Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def row(self, key: str, node: Node, comment: tuple[str, str] | None) -> None:
        value = self.value(node)
        description, default = comment or ("", "")
        if value is None:
            self.rows.append(Row(key, "string", default or "`nil`", description))
        else:
            shown = default or f"`{go_json(value)}`"
            self.rows.append(Row(key, go_type(value), shown, description))

    def walk(self, key: str, key_node: Node | None, node: Node, *, leaves: bool) -> None:
        comment = comment_above(self.lines, key_node) if key_node is not None else None
        if isinstance(node, MappingNode):
            self.walk_mapping(key, comment, node, leaves=leaves)
        elif isinstance(node, SequenceNode):
            if not node.value:
                if leaves or comment:
                    self.row(key, node, comment)
                return
            if comment:
                self.row(key, node, comment)
                leaves = False
            for index, item in enumerate(node.value):
                # an item's own comment is the one above its `- ` line; a flow list has none
                described = None if node.flow_style else item
                self.walk(f"{key}[{index}]", described, item, leaves=leaves)
        elif leaves or comment:
            self.row(key, node, comment)

    def walk_mapping(
        self, key: str, comment: tuple[str, str] | None, node: MappingNode, *, leaves: bool
    ) -> None:
        if not node.value:
            if key and (leaves or comment):
                self.row(key, node, comment)
            return
        if comment:
            self.row(key, node, comment)
            leaves = False
        for key_node, value_node in node.value:
            assert isinstance(key_node, ScalarNode)
            self.walk(child_key(key, key_node.value), key_node, value_node, leaves=leaves)

    def markdown(self, keys: list[str] | None = None) -> str:
        rows = self.rows if keys is None else [self.find(key) for key in keys]
        return "\n".join([HEADER, *(row.markdown() for row in rows)])

    def find(self, key: str) -> Row:
        for row in self.rows:
            if row.key == key:
                return row
        raise SystemExit(f"README.md names {key!r}, which is not a row of the values table")


def chart_readme(table: Table, template: str) -> str:
    """README.md.gotmpl with the values table in place."""
    rest = template.replace(TABLE_TEMPLATE, "")
    if TABLE_TEMPLATE not in template or "{{" in rest:
        raise SystemExit(f"README.md.gotmpl must use {TABLE_TEMPLATE} and no other template")
    return template.replace(TABLE_TEMPLATE, table.markdown())


def project_readme(table: Table, text: str) -> str:
    """The project README with each values-table block rewritten from the rows it names."""

    def fill(match: re.Match[str]) -> str:
        return match[1] + table.markdown(match["keys"].split()) + "\n" + match[3]

    return BLOCK.sub(fill, text)


def outputs() -> dict[Path, str]:
    """Each README and the text it should have."""
    table = Table((CHART / "values.yaml").read_text(encoding="utf-8"))
    template = (CHART / "README.md.gotmpl").read_text(encoding="utf-8")
    return {
        CHART / "README.md": chart_readme(table, template),
        PROJECT_README: project_readme(table, PROJECT_README.read_text(encoding="utf-8")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether they are current")
    args = parser.parse_args(argv)
    stale = [path for path, text in outputs().items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date: run {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
