"""What every suite and benchmark shares to run real parts: processes, ports, binaries, servers.

On the import path as `harness` (pytest's `pythonpath` in pyproject.toml; bench/common.py for
the benchmarks). Integration, e2e and bench start `argo-admission serve` through `harness.serve`.
"""
