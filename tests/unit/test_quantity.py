"""resource.Quantity read and written as Go does: tests/fixtures/values/quantity.yaml, and random
spellings answered by Go itself (tests/oracle, `op: value`). QUANTITY_EXAMPLES sets their number.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admission.core.quantity import (
    QuantityError,
    canonical_quantity,
    go_float_text,
    parse_quantity,
)
from support import FIXTURES, MergeOracle, load_yaml

CASES: list[dict[str, Any]] = load_yaml(FIXTURES / "values" / "quantity.yaml")
IDS = [f"{case['in']!r}" for case in CASES]
EXAMPLES = int(os.environ.get("QUANTITY_EXAMPLES", "2000"))


def ours(value: Any) -> dict[str, Any]:
    """Our answer in the oracle's shape."""
    try:
        return {"value": canonical_quantity(value)}
    except QuantityError as exc:
        return {"error": str(exc)}


def assert_case(answer: dict[str, Any], case: dict[str, Any]) -> None:
    if "error" in case:
        assert case["error"] in answer.get("error", ""), answer
    else:
        assert answer == {"value": case["out"]}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_quantity_is_written_as_go_writes_it(case: dict[str, Any]) -> None:
    assert_case(ours(case["in"]), case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_quantity_table_is_gos_answer(case: dict[str, Any], merge_oracle: MergeOracle) -> None:
    assert_case(merge_oracle.ask(op="value", kind="quantity", value=case["in"]), case)


def test_every_table_case_says_why() -> None:
    assert all(case.get("why") and ("out" in case) != ("error" in case) for case in CASES)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.5, "0.5"),
        (100.0, "100"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (5e-324, "5e-324"),
        (-0.0, "-0"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_floats_are_written_as_encoding_json_writes_them(number: float, text: str) -> None:
    assert go_float_text(number) == text


def test_what_go_cannot_encode_is_refused() -> None:
    with pytest.raises(QuantityError):
        go_float_text(float("nan"))
    with pytest.raises(QuantityError):
        canonical_quantity(10**400)


# Spellings near the grammar's edges: signs, dots, zeros, every suffix, exponents.
spellings = st.from_regex(
    r"[ ]?[+-]?0?[0-9]{0,20}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,3}|[numkMGTPE]|[KMGTPE]i|i|ee)?[ ]?",
    fullmatch=True,
)
values = st.one_of(
    spellings,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet="0123456789.+-eEinumkKMGTP \t\u00a0", max_size=8),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=values)
def test_random_quantities_agree_with_go(merge_oracle: MergeOracle, value: Any) -> None:
    """The same string, or both refuse (with Go's own message)."""
    answer = merge_oracle.ask(op="value", kind="quantity", value=value)
    assert ours(value) == answer


@settings(max_examples=500, deadline=None)
@given(text=spellings)
def test_writing_then_reading_again_changes_nothing(text: str) -> None:
    """Argo marshals and reads the spec several times: the first written form is final."""
    try:
        once = str(parse_quantity(text.strip()))
    except QuantityError:
        return
    assert str(parse_quantity(once)) == once
