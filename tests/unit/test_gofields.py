"""admission/core/gofields.py is Argo's own Go types, and goreading reads zero values by them."""

from __future__ import annotations

import os

import pytest

from admission.core import goreading
from admission.core.gofields import DIFFERENCES, TYPES, VERSIONS
from harness.processes import built
from oracle import gofields as generator
from support import require_binaries

# make test runs the suite per Argo version (ARGO_VERSION, the -m argo tests again for the others)
UNDER_TEST = (os.environ["ARGO_VERSION"],) if os.environ.get("ARGO_VERSION") else VERSIONS


@pytest.mark.argo
@pytest.mark.parametrize("version", UNDER_TEST)
def test_the_checked_in_table_is_what_argos_go_types_say(version: str) -> None:
    """Every field of the version's Go types is in the module as reflection sees it (make gofields).

    A field whose `omitempty` or held type differs between versions is listed in DIFFERENCES.
    """
    binary = built(f"ops-oracle-{version}")
    if binary is None:
        message = f"ops-oracle-{version} not built: run tests/e2e/setup.sh ops-oracle"
        if require_binaries():
            pytest.fail(message)
        pytest.skip(message)
    assert version in VERSIONS
    table = generator.table_of(binary)
    for type_name, fields in table.items():
        for name, (kind, omitempty, held) in fields.items():
            where = f"{type_name}.{name}"
            assert TYPES[type_name][name][0] == kind, where
            if not any(d.startswith(where + ":") for d in DIFFERENCES):
                assert TYPES[type_name][name][1:] == (omitempty, held), where
    assert set(table) <= set(TYPES)


@pytest.mark.parametrize(
    ("type_name", "field", "kind", "omitempty"),
    [
        ("CronWorkflowStatus", "failed", "number", False),
        ("CronWorkflowStatus", "active", "slice", False),
        ("Metrics", "prometheus", "slice", False),
        ("WorkflowStatus", "nodes", "map", True),
        ("WorkflowSpec", "metrics", "ptr", True),
    ],
)
def test_the_table_holds_the_fields_the_rules_depend_on(
    type_name: str, field: str, kind: str, omitempty: bool
) -> None:
    """The fields whose reading the cron, node and merge rules rely on."""
    entry = TYPES[type_name][field]
    assert (entry[0], entry[1]) == (kind, omitempty)


def test_argo_cron_creates_zero_status_reads_as_no_status() -> None:
    """null, 0 and "" in fields without omitempty are Go's zero values."""
    zero = {"active": None, "conditions": None, "failed": 0, "lastScheduledTime": None}
    assert goreading.read_set("CronWorkflowStatus", {**zero, "phase": "", "succeeded": 0}) == {}
    assert goreading.same("CronWorkflowStatus", {}, {**zero, "succeeded": 0})
    assert not goreading.same("CronWorkflowStatus", {}, {"succeeded": 2})


def test_a_pointer_to_an_empty_struct_is_set_and_false_is_not_zero_for_a_number() -> None:
    """`{}` behind a pointer is a value; a boolean is not the number 0."""
    assert goreading.read_set("WorkflowSpec", {"metrics": {}}) == {"metrics": {}}
    assert not goreading.is_zero("number", False)
    assert goreading.is_zero("bool", False)


def test_an_empty_list_without_omitempty_is_kept_and_with_it_is_not() -> None:
    """Metrics.prometheus [] is written by Go; WorkflowSpec.templates [] is not."""
    assert goreading.kept_when_empty("Metrics", "prometheus")
    assert not goreading.kept_when_empty("WorkflowSpec", "templates")
    assert goreading.kept_when_empty("DAG", "tasks")  # the merge tables' name for DAGTemplate
