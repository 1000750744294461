"""Golden AdmissionReviews through `argo-admission review`, the server's code path.

tests/fixtures/reviews/<case>.request.json holds a request as the API server sends it;
<case>.response.json what we answer (and <case>.exit the CLI's exit code). UPDATE_GOLDEN=1
rewrites the answers; review the diff. A request without an answer, or an answer without a
request, fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import FIXTURES

REVIEWS = FIXTURES / "reviews"
ROOT = Path(__file__).resolve().parents[2]
REQUESTS = sorted(REVIEWS.glob("*.request.json"))
MUTATE = {"ref-mutated"}


def run_review(request: Path) -> subprocess.CompletedProcess[str]:
    """The console script, as a user runs it."""
    case = request.name.removesuffix(".request.json")
    cmd = [
        sys.executable,
        "-m",
        "admission.cli.main",
        "review",
        "--config",
        str(ROOT / "policies/secure.yaml"),
        "--templates",
        str(FIXTURES / "templates/library.yaml"),
        str(request),
    ]
    if case in MUTATE:
        cmd.insert(4, "--mutate")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("request_file", REQUESTS, ids=[p.name.split(".")[0] for p in REQUESTS])
def test_review_matches_golden_response(request_file: Path) -> None:
    """The printed AdmissionReview and exit code equal the golden ones."""
    case = request_file.name.removesuffix(".request.json")
    result = run_review(request_file)
    answer = REVIEWS / f"{case}.response.json"
    code_file = REVIEWS / f"{case}.exit"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        answer.write_text(result.stdout, encoding="utf-8")
        code_file.write_text(f"{result.returncode}\n", encoding="utf-8")
    assert result.returncode == int(code_file.read_text()), result.stderr
    assert json.loads(result.stdout) == json.loads(answer.read_text()), result.stdout


def test_every_golden_file_has_its_pair() -> None:
    """Orphan files are tests nobody runs."""
    cases = {p.name.removesuffix(".request.json") for p in REQUESTS}
    for path in REVIEWS.iterdir():
        stem = path.name.split(".")[0]
        assert stem in cases, f"orphan golden file {path.name}"
    for case in cases:
        assert (REVIEWS / f"{case}.response.json").exists(), case
        assert (REVIEWS / f"{case}.exit").exists(), case
