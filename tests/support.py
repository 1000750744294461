"""Helpers shared by the test suites: fixture files, AdmissionReviews, and the merge oracle."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from admission.core.review import make_review

__all__ = [
    "BAD_WORKFLOW",
    "FIXTURES",
    "GOOD_WORKFLOW",
    "MergeOracle",
    "find_binary",
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
BIN_DIR = Path(os.environ.get("ARGO_ADMISSION_BIN", Path.home() / ".cache/argo-admission/bin"))


def load_yaml(path: str | Path) -> Any:
    """One YAML document from a file."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def require_binaries() -> bool:
    """Whether missing binaries fail the run (CI sets ARGO_ADMISSION_REQUIRE_BINARIES=1)."""
    return os.environ.get("ARGO_ADMISSION_REQUIRE_BINARIES") == "1"


def find_binary(name: str) -> Path | None:
    """A binary built by tests/e2e/setup.sh, or None."""
    path = BIN_DIR / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    found = shutil.which(name)
    return Path(found) if found else None


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
