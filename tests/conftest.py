"""Shared fixtures; helpers live in tests/support.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support import MergeOracle, find_binary, require_binaries


@pytest.fixture(scope="session")
def merge_oracle() -> Iterator[MergeOracle]:
    """Argo's own merge code; skipped where it is not built, a failure where CI requires it."""
    binary = find_binary("merge-oracle")
    if binary is None:
        message = "merge-oracle not built: run tests/e2e/setup.sh oracle"
        if require_binaries():
            pytest.fail(message)
        pytest.skip(message)
    oracle = MergeOracle(binary)
    yield oracle
    oracle.close()
