"""The semantic compare: Go's zero values are absent, presence that means something is kept."""

from __future__ import annotations

import pytest

from admission.diff import diff_lines, equivalent, normalise


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ({"arguments": {}}, {}),
        (
            {
                "templates": [
                    {
                        "name": "main",
                        "inputs": {},
                        "outputs": {},
                        "metadata": {},
                        "container": {"name": "", "image": "a", "resources": {}},
                    }
                ]
            },
            {"templates": [{"name": "main", "container": {"image": "a"}}]},
        ),
        ({"metrics": {"prometheus": None}}, {}),
        ({"entrypoint": ""}, {"entrypoint": None}),
        (
            {"workflowTemplateRef": {"name": "t", "clusterScope": False}},
            {"workflowTemplateRef": {"name": "t"}},
        ),
        (
            {"arguments": {"parameters": [{"name": "n", "value": "3"}]}},
            {"arguments": {"parameters": [{"name": "n", "value": 3}]}},
        ),
        (
            {"templates": [{"name": "a"}, {"name": "b"}]},
            {"templates": [{"name": "b"}, {"name": "a"}]},
        ),
    ],
    ids=[
        "arguments-{}",
        "template-zero-values",
        "metrics-null",
        "empty-string",
        "plain-bool",
        "any-string",
        "keyed-order",
    ],
)
def test_go_zero_values_and_key_order_do_not_count(stored: dict, sent: dict) -> None:
    assert equivalent(stored, sent)


@pytest.mark.parametrize(
    ("with_presence", "without"),
    [
        ({"volumes": [{"name": "w", "emptyDir": {}}]}, {"volumes": [{"name": "w"}]}),
        ({"securityContext": {}}, {}),
        ({"suspend": False}, {}),
        (
            {"arguments": {"parameters": [{"name": "p", "value": ""}]}},
            {"arguments": {"parameters": [{"name": "p"}]}},
        ),
        ({"templates": [{"name": "wait", "suspend": {}}]}, {"templates": [{"name": "wait"}]}),
        ({"archiveLogs": False}, {}),
    ],
    ids=[
        "emptyDir",
        "securityContext",
        "suspend-false",
        "empty-value",
        "suspend-template",
        "pointer-bool",
    ],
)
def test_presence_that_means_something_counts(with_presence: dict, without: dict) -> None:
    assert not equivalent(with_presence, without)


def test_the_diff_names_the_template_by_name_and_shows_old_and_new() -> None:
    old = {"templates": [{"name": "main", "container": {"image": "alpine:3.19"}}]}
    new = {"templates": [{"name": "main", "container": {"image": "evil:latest"}}]}
    assert diff_lines(old, new) == [
        "spec.templates[name=main].container.image: 'alpine:3.19' -> 'evil:latest'"
    ]


def test_the_diff_shows_added_and_removed_fields() -> None:
    lines = diff_lines({"entrypoint": "main"}, {"podSpecPatch": "x"})
    assert lines == ["spec.entrypoint: 'main' -> (absent)", "spec.podSpecPatch: (absent) -> 'x'"]


def test_a_long_diff_is_cut_with_a_count() -> None:
    old = {"nodeSelector": {f"k{i}": "a" for i in range(30)}}
    new = {"nodeSelector": {f"k{i}": "b" for i in range(30)}}
    lines = diff_lines(old, new, limit=5)
    assert len(lines) == 6 and lines[-1] == "... and 25 more"


def test_lists_with_repeated_keys_stay_lists() -> None:
    norm = normalise({"templates": [{"name": "a"}, {"name": "a", "x": 1}]})
    assert isinstance(norm["templates"], list)
