"""The semantic compare: Go's zero values are absent, presence that means something is kept."""

from __future__ import annotations

import pytest

from admission.core.diff import diff_lines, equivalent, normalise


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


def _container(resources: dict) -> dict:
    return {"templates": [{"name": "main", "container": {"image": "a", "resources": resources}}]}


def _steps(value: object) -> dict:
    step = {
        "name": "s",
        "template": "t",
        "arguments": {"parameters": [{"name": "n", "value": value}]},
    }
    return {"templates": [{"name": "main", "steps": [[step]]}]}


def _volume(source: str, value: dict) -> dict:
    return {"volumes": [{"name": "v", source: value}]}


def _divisor(*divisor: str) -> dict:
    ref = {"resource": "limits.cpu", **({"divisor": divisor[0]} if divisor else {})}
    return _volume("downwardAPI", {"items": [{"path": "c", "resourceFieldRef": ref}]})


def _claim(storage: str) -> dict:
    return {"volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": storage}}}}]}


def _hook(value: object) -> dict:
    arguments = {"parameters": [{"name": "n", "value": value}]}
    return {"hooks": {"exit": {"template": "t", "arguments": arguments}}}


def _enum(*items: object) -> dict:
    return {"arguments": {"parameters": [{"name": "p", "enum": list(items)}]}}


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        (_container({"limits": {"cpu": "500m"}}), _container({"limits": {"cpu": 0.5}})),
        (
            _container({"requests": {"memory": "1Gi"}}),
            _container({"requests": {"memory": "1024Mi"}}),
        ),
        (_container({"limits": {"cpu": "0"}}), _container({"limits": {"cpu": None}})),
        (_volume("emptyDir", {"sizeLimit": "512Mi"}), _volume("emptyDir", {"sizeLimit": "0.5Gi"})),
        (_claim("1536Mi"), _claim("1.5Gi")),
        (_divisor("0"), _divisor()),
        (_steps("3"), _steps(3)),
        (_steps("true"), _steps(True)),
        (_enum("1", "2.5", "false"), _enum(1, 2.5, False)),
        (_hook("1"), _hook(1)),
    ],
    ids=[
        "cpu-fraction",
        "memory-binary",
        "resource-null-is-zero",
        "emptyDir-sizeLimit",
        "claim-storage",
        "divisor-unset-is-zero",
        "step-argument-number",
        "step-argument-bool",
        "enum-items",
        "hook-argument",
    ],
)
def test_values_spelled_differently_that_go_stores_alike_are_equal(
    stored: dict, sent: dict
) -> None:
    assert equivalent(stored, sent)
    assert diff_lines(stored, sent) == []


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        (_container({"limits": {"cpu": "1"}}), _container({"limits": {"cpu": "2"}})),
        (_container({"limits": {"cpu": "1"}}), _container({"limits": {"cpu": "one"}})),
        (
            {"templates": [{"name": "main", "retryStrategy": {"limit": 3}}]},
            {"templates": [{"name": "main", "retryStrategy": {"limit": "3"}}]},
        ),
        (_volume("emptyDir", {"sizeLimit": "0"}), _volume("emptyDir", {})),
        (_divisor("1m"), _divisor()),
        (_steps("3"), _steps(4)),
    ],
    ids=[
        "cpu",
        "unreadable",
        "int-or-string-keeps-its-type",
        "sizeLimit-pointer",
        "divisor",
        "step-argument",
    ],
)
def test_values_go_stores_differently_are_different(stored: dict, sent: dict) -> None:
    assert not equivalent(stored, sent)


def test_the_diff_shows_quantities_as_go_writes_them() -> None:
    lines = diff_lines(_container({"limits": {"cpu": "500m"}}), _container({"limits": {"cpu": 2}}))
    assert lines == ["spec.templates[name=main].container.resources.limits.cpu: '500m' -> '2'"]
