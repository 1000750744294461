"""Manifests from files, directories and standard input, for the offline commands.

Every YAML/JSON document is read (multi-document YAML; the items of a `kind: List`, as
`kubectl get -o yaml` exports them, one by one), each with the file it came from, so a verdict
can name it. `-` is standard input, read once however often it is named. A file that cannot be
read or parsed raises ManifestError with one line naming the file (and the line for YAML).

Speed: a text that is one JSON value (what `kubectl get -o json` writes) is read by orjson; JSON
has no YAML semantics to emulate, and a key given twice in a JSON object keeps its last value,
as YAML's safe loader (and Go's encoding/json, hence the API server) keeps it. Anything orjson
refuses (YAML, several JSON documents, JSON with comments) is read as YAML, by libyaml's C
loader where PyYAML was built with it (the pure-Python loader otherwise), which reads the same
documents with the same YAML 1.1 resolution, about ten times faster. A large `kind: List` laid
out as kubectl writes it (`items:` at the first column, each item a `- ` there) is composed an
item at a time, so libyaml's node tree of the whole export is never held; when an item does not
read on its own (an alias to another item's anchor, a quoted scalar running over a `- ` line),
the whole text is read as one.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import orjson
import yaml

YAML_LOADER: Final[type[yaml.SafeLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SPLIT_ABOVE: Final = 1 << 20  # characters; a smaller text is read whole
LIST_ITEMS: Final = re.compile(r"^items:[ \t]*\n(?=- )", re.MULTILINE)
NOT_AN_ITEM: Final = re.compile(r"^(?!- |[ \t#]|$)", re.MULTILINE)  # a line at column 0
ITEM: Final = re.compile(r"^- ", re.MULTILINE)
DOCUMENT_MARK: Final = re.compile(r"^(---|\.\.\.)", re.MULTILINE)
STDIN: Final = "-"
SUFFIXES: Final = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A manifest cannot be read or parsed; the message is one line naming the file."""


@dataclass(frozen=True)
class Document:
    """One document and where it was read: a file path, or `-` for standard input."""

    source: str
    body: Any


def parse_documents(text: str, source: str) -> list[Any]:
    """Every document of a YAML/JSON text, empty ones dropped, `kind: List` items flattened."""
    docs = _json_document(text)
    if docs is None:
        docs = _yaml_documents(text, source)
    out: list[Any] = []
    for doc in docs:
        if _is_list(doc):
            out.extend(doc["items"])
        else:
            out.append(doc)
    return out


def _json_document(text: str) -> list[Any] | None:
    """[the value] of a text that is one JSON object or array (None: not JSON, read it as YAML)."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return [value] if value is not None else []


def _yaml_documents(
    text: str, source: str, loader: type[yaml.SafeLoader] = YAML_LOADER
) -> list[Any]:
    """Every non-empty YAML document of `text`; ManifestError naming the line."""
    if len(text) > SPLIT_ABOVE:
        doc = _list_by_items(text, loader)
        if doc is not None:
            return [doc]
    try:
        return [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML/JSON: {describe_yaml_error(exc)}") from exc


def _list_by_items(text: str, loader: type[yaml.SafeLoader]) -> Any:
    """The one document of `text` read an item of its top-level `items:` at a time, or None
    when it is not laid out so or an item does not read on its own (then read it whole)."""
    start = LIST_ITEMS.search(text)
    if start is None or DOCUMENT_MARK.search(text) is not None:
        return None
    end = NOT_AN_ITEM.search(text, start.end())
    stop = end.start() if end is not None else len(text)
    offsets = [m.start() for m in ITEM.finditer(text, start.end(), stop)]
    try:
        doc = yaml.load(text[: start.start()] + "items: []\n" + text[stop:], Loader=loader)
        items = [
            yaml.load(text[a:b], Loader=loader)
            for a, b in zip(offsets, [*offsets[1:], stop], strict=True)
        ]
    except yaml.YAMLError:
        return None
    if (
        not isinstance(doc, dict)
        or doc.get("items") != []
        or any(not isinstance(i, list) or len(i) != 1 for i in items)
    ):
        return None
    doc["items"] = [item for (item,) in items]
    return doc


def _is_list(doc: Any) -> bool:
    """`kind: List` (kubectl's export) or a typed list (`WorkflowList`, the API's answer)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return False
    kind = doc.get("kind")
    return isinstance(kind, str) and kind.endswith("List")


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: `line L, column C: problem`."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {text}"
    return " ".join(text.split())


def read_documents(path: str | Path) -> list[Any]:
    """Every document in one file (see parse_documents)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: cannot read: not UTF-8 text ({exc.reason})") from exc
    return parse_documents(text, str(path))


def manifest_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named, and YAML/JSON files under directories named, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.exists():
            yield path
        else:
            raise ManifestError(f"{path}: no such file or directory")


class Reader:
    """Reads manifests from paths and `-`; standard input is read at most once."""

    def __init__(self, stdin: TextIO | None = None) -> None:
        self._stdin = stdin if stdin is not None else sys.stdin
        self._stdin_text: str | None = None

    def stdin_text(self) -> str:
        """All of standard input (the same text every time it is asked for)."""
        if self._stdin_text is None:
            self._stdin_text = self._stdin.read()
        return self._stdin_text

    def text(self, path: str) -> str:
        """The text of one file, or of standard input for `-`."""
        if path == STDIN:
            return self.stdin_text()
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{path}: cannot read: not UTF-8 text ({exc.reason})") from exc

    def documents(self, paths: Iterable[str]) -> list[Document]:
        """Every document under `paths` (files, directories, `-`), in the order given."""
        out: list[Document] = []
        for path in paths:
            if path == STDIN:
                out += [Document(STDIN, d) for d in parse_documents(self.stdin_text(), STDIN)]
                continue
            for file in manifest_files([path]):
                out += [Document(str(file), d) for d in read_documents(file)]
        return out

    def one(self, path: str) -> Any:
        """The single document of a file (or of `-`); ManifestError when there are more or none."""
        docs = parse_documents(self.text(path), path)
        if len(docs) != 1:
            raise ManifestError(f"{path}: expected one document, found {len(docs)}")
        return docs[0]
