"""Reading YAML and JSON fast: the policy file's keys given twice found by libyaml's loader as
by the pure-Python one, and manifests read by orjson or libyaml as the safe loader reads them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from admission.core import yamldoc
from admission.files.manifests import YAML_LOADER, ManifestError, parse_documents

LOADERS = pytest.mark.parametrize(
    "loader", [yaml.SafeLoader, yaml.CSafeLoader], ids=["pure-python", "libyaml"]
)
POLICY = """\
mode: enforce
exemptions:
  namespaces: [a]
  namespaces: [b]
mode: audit
base: &base {x: 1}
merged:
  <<: *base
  x: 2
labels:
  on: a
  true: b
"""


def test_libyaml_reads_the_policy_and_the_manifests() -> None:
    assert yamldoc.LOADER is yaml.CSafeLoader
    assert YAML_LOADER is yaml.CSafeLoader


@LOADERS
def test_a_key_given_twice_is_found_with_both_lines_by_either_loader(loader: Any) -> None:
    doc, duplicates = yamldoc.load(POLICY, loader_class=loader)
    assert [d.describe() for d in duplicates] == [
        "exemptions.namespaces: key given twice, on lines 3 and 4",
        "mode: key given twice, on lines 1 and 5",
        "labels.true: key given twice, on lines 11 and 12",
    ]
    assert doc["mode"] == "audit" and doc["merged"] == {"x": 2}


def test_both_loaders_read_the_same_document_and_duplicates() -> None:
    assert yamldoc.load(POLICY, loader_class=yaml.SafeLoader) == yamldoc.load(
        POLICY, loader_class=yaml.CSafeLoader
    )


def test_a_json_list_is_read_as_the_yaml_loader_reads_it() -> None:
    text = '{"kind": "List", "items": [{"a": 1, "b": [true, null, 1.5]}, {"a": "on"}]}'
    assert parse_documents(text, "x.json") == yaml.safe_load(text)["items"]


def test_a_json_key_given_twice_keeps_its_last_value_as_yaml_does() -> None:
    text = '{"kind": "Workflow", "spec": {"suspend": true, "suspend": false}}'
    assert parse_documents(text, "x.json") == [yaml.safe_load(text)]


def test_text_orjson_refuses_is_read_as_yaml_with_the_same_error() -> None:
    assert parse_documents('{"a": 1}\n---\n{"a": 2}\n', "two.json") == [{"a": 1}, {"a": 2}]
    with pytest.raises(ManifestError, match=r"^bad.json: not valid YAML/JSON: line 1, column"):
        parse_documents('{"a": [1, 2}', "bad.json")
