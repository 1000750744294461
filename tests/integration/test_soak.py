"""Soak: a bounded mixed load against the real server (bench/soak.py), in CI for a minute.

Every request must be answered (no connection error, no HTTP error) and the workers' memory
must stay flat. SOAK_SECONDS lengthens the run; the figures go to the test's output.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from soak import soak

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
GROWTH_MIB = 16  # allowed growth after the first load sample (caches, allocator arenas)


@pytest.mark.integration
@pytest.mark.slow
def test_a_minute_of_mixed_load_is_answered_without_errors_and_memory_stays_flat(
    tmp_path: Path,
) -> None:
    result = soak(seconds=SECONDS, work=tmp_path)
    print(f"soak: {result.requests} requests, {result.rate:.0f} req/s, RSS MiB {result.rss_mib}")
    assert result.requests > 0
    assert result.errors == 0, result.statuses
    assert set(result.statuses) == {200}
    assert result.worker_pids_stable, "a worker died during the soak"
    first_loaded, last = result.rss_mib[1], result.rss_mib[-1]
    for worker, (before, after) in enumerate(zip(first_loaded, last, strict=True)):
        assert after - before < GROWTH_MIB, f"worker {worker} grew {before:.1f} -> {after:.1f} MiB"
