"""AnyString and IntOrString read as Go reads them, case by case (tests/fixtures/values/), each
case also answered by Go itself where the merge oracle is built.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admission.core.govalues import (
    ANY_STRING_PTR,
    INT_OR_STRING,
    QUANTITY,
    RESOURCE_LIST,
    VALUE_FIELDS,
    VALUE_KINDS,
    GoValueError,
    map_value_type,
    normal_value,
    read_value,
)
from admission.core.merge import FIELDS
from support import FIXTURES, MergeOracle, load_yaml

TABLES = {"anystring": ANY_STRING_PTR, "intorstring": INT_OR_STRING}
CASES = [
    (name, case) for name in TABLES for case in load_yaml(FIXTURES / "values" / f"{name}.yaml")
]
IDS = [f"{name}:{case['in']!r}" for name, case in CASES]
EXAMPLES = int(os.environ.get("QUANTITY_EXAMPLES", "2000"))


def ours(kind: str, value: Any) -> dict[str, Any]:
    try:
        return {"value": read_value(kind, value)}
    except GoValueError as exc:
        return {"error": str(exc)}


def assert_case(answer: dict[str, Any], case: dict[str, Any]) -> None:
    if "error" in case:
        assert case["error"] in answer.get("error", ""), answer
    else:
        assert answer == {"value": case["out"]}
        assert type(answer["value"]) is type(case["out"])  # 3 and "3" are different values


@pytest.mark.parametrize(("table", "case"), CASES, ids=IDS)
def test_value_is_read_as_go_reads_it(table: str, case: dict[str, Any]) -> None:
    assert_case(ours(TABLES[table], case["in"]), case)


@pytest.mark.parametrize(("table", "case"), CASES, ids=IDS)
def test_value_table_is_gos_answer(
    table: str, case: dict[str, Any], merge_oracle: MergeOracle
) -> None:
    assert_case(merge_oracle.ask(op="value", kind=table, value=case["in"]), case)


def test_every_value_field_names_a_known_type() -> None:
    """A typo in the field map would silently leave a value unread."""
    known = VALUE_KINDS | VALUE_FIELDS.keys() | FIELDS.keys()
    for type_name, fields in VALUE_FIELDS.items():
        for field, field_type in fields.items():
            assert (map_value_type(field_type) or field_type) in known, f"{type_name}.{field}"


def test_compare_form_keeps_what_go_cannot_read_and_drops_zero_values() -> None:
    assert normal_value(QUANTITY, "one") == "one"
    assert normal_value(QUANTITY, None) is None
    assert normal_value(QUANTITY, 0) is None  # a divisor of "0" is the unset divisor
    assert normal_value(INT_OR_STRING, None) is None
    assert normal_value(RESOURCE_LIST, {"cpu": 0.5, "memory": None}) == {
        "cpu": "500m",
        "memory": "0",
    }


json_values = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.just({"a": 1}),
    st.just([]),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(table=st.sampled_from(sorted(TABLES)), value=json_values)
def test_random_values_agree_with_go(merge_oracle: MergeOracle, table: str, value: Any) -> None:
    """The same value of the same JSON type, or both refuse."""
    answer = merge_oracle.ask(op="value", kind=table, value=value)
    got = ours(TABLES[table], value)
    assert ("error" in got) == ("error" in answer), (got, answer)
    if "value" in answer:
        assert got["value"] == answer["value"]
        assert type(got["value"]) is type(answer["value"])
