"""Helpers shared by the test suites: fixture files, AdmissionReviews, and the merge oracle."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from admission.core.diff import diff_lines, diff_normalised, equivalent, strip_empty
from admission.core.review import make_review

__all__ = [
    "BAD_WORKFLOW",
    "FIXTURES",
    "GOOD_WORKFLOW",
    "MergeOracle",
    "assert_same",
    "load_script",
    "load_yaml",
    "make_review",
    "require_binaries",
    "run_cli",
]

# Two Workflows for the offline commands: one a Strict policy admits, one it denies.
GOOD_WORKFLOW = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: hello-, namespace: team-a}
spec: {workflowTemplateRef: {name: hello}}
"""
BAD_WORKFLOW = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: inline-, namespace: team-a}
spec: {entrypoint: main, templates: [{name: main, container: {image: evil}}]}
"""


def run_cli(args: list[str], capsys: Any, stdin: str = "") -> tuple[int, str, str]:
    """`argo-admission ARGS` in process, as the console script runs it: (code, stdout, stderr)."""
    from admission.cli.main import main

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(args)
    finally:
        sys.stdin = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err


FIXTURES = Path(__file__).parent / "fixtures"


def load_yaml(path: str | Path) -> Any:
    """One YAML document from a file."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def require_binaries() -> bool:
    """Whether missing binaries fail the run (CI sets ARGO_ADMISSION_REQUIRE_BINARIES=1)."""
    return os.environ.get("ARGO_ADMISSION_REQUIRE_BINARIES") == "1"


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Both errored, or both produced equivalent specs (and metadata for `defaults`)."""
    if "error" in want:
        assert "error" in got, f"Argo errors ({want['error']}) but we merged: {got}"
        return
    assert "error" not in got, f"we error ({got['error']}) but Argo merged"
    if "workflow" in want:
        for field in ("labels", "annotations"):
            assert (got["workflow"].get("metadata") or {}).get(field) == (
                want["workflow"].get("metadata") or {}
            ).get(field)
        got_spec, want_spec = got["workflow"].get("spec"), want["workflow"].get("spec")
    else:
        got_spec, want_spec = got["spec"], want["spec"]
    assert equivalent(got_spec, want_spec), "\n".join(diff_lines(want_spec, got_spec))
    # equivalent() reads values as Go does (`cpu: 0.5` equals "500m"); the join must also write
    # them as Go does, in Go's order: compare with nothing but zero values left out.
    strict_got, strict_want = strip_empty(got_spec), strip_empty(want_spec)
    assert strict_got == strict_want, "\n".join(diff_normalised(strict_want, strict_got))


def load_script(name: str, path: Path) -> ModuleType:
    """A script that is not a module on the path (charts/argo-admission/gen-readme.py), loaded
    as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class MergeOracle:
    """Argo's own JoinWorkflowSpec / MergeTo / ValidateUserOverrides behind a pipe.

    tests/oracle/main.go, built by `tests/e2e/setup.sh oracle` against the Argo Go module.
    """

    def __init__(self, binary: Path, *, quiet: bool = False) -> None:
        self._proc = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else None,
            text=True,
            bufsize=1,
        )

    def ask(self, **request: Any) -> dict[str, Any]:
        """Send one request, read one answer."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("merge oracle exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        """Stop the oracle process."""
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=10)
