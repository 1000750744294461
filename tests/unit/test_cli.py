"""The command line as users run it: exit codes and output of check, merge, review, certs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "admission.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        cwd=ROOT,
    )


def write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


GOOD = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: hello-, namespace: team-a}
spec: {workflowTemplateRef: {name: hello}}
"""
BAD = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: inline-, namespace: team-a}
spec: {entrypoint: main, templates: [{name: main, container: {image: evil}}]}
"""


def test_check_exits_0_when_everything_is_admitted(tmp_path: Path) -> None:
    result = cli(
        "check",
        "--config",
        "policies/strict.yaml",
        write(tmp_path, "ok.yaml", GOOD),
        "--templates",
        str(FIXTURES / "templates/library.yaml"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "ADMIT Workflow team-a/hello-" in result.stdout and "1 admitted, 0 denied" in result.stdout
    )


def test_check_exits_1_and_says_why_when_something_is_denied(tmp_path: Path) -> None:
    result = cli(
        "check",
        "--config",
        "policies/strict.yaml",
        "--templates",
        str(FIXTURES / "templates/library.yaml"),
        write(tmp_path, "bad.yaml", BAD),
    )
    assert result.returncode == 1
    assert "DENY  Workflow team-a/inline-" in result.stdout
    assert "[strict] workflows must use workflowTemplateRef" in result.stdout


def test_check_exits_2_on_unreadable_input(tmp_path: Path) -> None:
    assert cli("check", str(tmp_path / "missing.yaml")).returncode == 2
    assert cli("check", write(tmp_path, "x.yaml", "a: [")).returncode == 2
    assert (
        cli(
            "check",
            "--config",
            write(tmp_path, "p.yaml", "mode: nope"),
            write(tmp_path, "ok.yaml", GOOD),
        ).returncode
        == 2
    )


def test_review_reads_yaml_and_stdin(tmp_path: Path) -> None:
    request = (FIXTURES / "reviews/ref-admitted.request.json").read_text()
    result = cli(
        "review",
        "--config",
        "policies/secure.yaml",
        "--templates",
        str(FIXTURES / "templates/library.yaml"),
        "-",
        stdin=request,
    )
    assert result.returncode == 0 and json.loads(result.stdout)["response"]["allowed"] is True


def test_merge_prints_the_stored_spec_and_compares_with_expect(tmp_path: Path) -> None:
    case = FIXTURES / "merge/defaults-under-ref"
    expected = write(tmp_path, "expected.yaml", (case / "expected.yaml").read_text())
    result = cli(
        "merge",
        "--workflow",
        str(case / "workflow.yaml"),
        "--template",
        str(case / "template.yaml"),
        "--defaults",
        str(case / "defaults.yaml"),
        "--config",
        "policies/strict.yaml",
        "--expect",
        expected,
    )
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    assert merged["serviceAccountName"] == "lib-runner" and merged["activeDeadlineSeconds"] == 300
    assert "equivalent" in result.stderr


def test_merge_without_the_referenced_template_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("merge", "--workflow", write(tmp_path, "wf.yaml", GOOD))
    assert result.returncode == 2 and "--template" in result.stderr


def test_certs_generate_writes_the_files(tmp_path: Path) -> None:
    result = cli(
        "certs",
        "generate",
        "--out",
        str(tmp_path / "c"),
        "--service",
        "argo-admission",
        "--namespace",
        "argo-admission",
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {"ca.crt", "tls.crt", "tls.key"}
