"""Shared fixtures; helpers live in tests/support.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.processes import built
from support import MergeOracle, require_binaries


@pytest.fixture(scope="session")
def merge_oracle() -> Iterator[MergeOracle]:
    """Argo's own merge code; skipped where it is not built, a failure where CI requires it."""
    binary = built("merge-oracle")
    if binary is None:
        message = "merge-oracle not built: run tests/e2e/setup.sh oracle"
        if require_binaries():
            pytest.fail(message)
        pytest.skip(message)
    oracle = MergeOracle(binary)
    yield oracle
    oracle.close()
