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


KUBECTL_LIST = """\
apiVersion: v1
items:
- apiVersion: argoproj.io/v1alpha1
  kind: Workflow
  metadata: {name: a, namespace: team-a}
  spec:
    arguments:
      parameters:
      - name: msg
        value: on
# a comment at the first column
- kind: Workflow
  metadata:
    name: b
  status:
    message: |
      - not an item
kind: List
metadata:
  resourceVersion: ""
"""


@pytest.fixture
def split_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("admission.files.manifests.SPLIT_ABOVE", 0)


@pytest.mark.usefixtures("split_always")
def test_a_kubectl_list_read_an_item_at_a_time_is_the_list_read_whole() -> None:
    items = parse_documents(KUBECTL_LIST, "list.yaml")
    assert items == yaml.safe_load(KUBECTL_LIST)["items"]
    assert items[1]["status"]["message"] == "- not an item\n"


@pytest.mark.usefixtures("split_always")
@pytest.mark.parametrize(
    "text",
    [
        "items:\n- &a {x: 1}\n- *a\nkind: List\n",
        'items:\n- message: "runs\n- over"\n- b: 1\nkind: List\n',
        "kind: List\nitems:\n- a: 1\n---\nkind: List\nitems:\n- b: 2\n",
    ],
    ids=["alias-to-another-item", "quoted-over-a-dash-line", "two-documents"],
)
def test_a_list_whose_items_do_not_read_alone_is_read_whole(text: str) -> None:
    assert parse_documents(text, "list.yaml") == [
        i for d in yaml.safe_load_all(text) for i in d["items"]
    ]


@pytest.mark.usefixtures("split_always")
def test_a_broken_list_still_names_its_line() -> None:
    with pytest.raises(ManifestError, match=r"^list.yaml: not valid YAML/JSON: line 5, column 1"):
        parse_documents("items:\n- a: 1\n- b: [\nkind: List\n", "list.yaml")
