"""The README's quick start runs as written: every command line of its code blocks, on the
files in examples/, with the exit code its comment states (`# exit N`; 0 when it says none)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from harness.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "argo-admission"
# Installing is what `make install` did for the environment these tests run in.
SETUP = ("pip install .",)
SERVE = "argo-admission serve"
START_SECONDS = 60.0


def quick_start() -> str:
    """The README's "Quick start" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Quick start\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def command_lines() -> list[str]:
    """Every line of the section's shell code blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", quick_start(), flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def expected_exit(line: str) -> int:
    comment = line.partition(" #")[2]
    found = re.search(r"\bexit (\d)\b", comment)
    return int(found.group(1)) if found else 0


OFFLINE = [line for line in command_lines() if line not in SETUP and line != SERVE]


def environment(home: Path) -> dict[str, str]:
    """A user's environment without a cluster: no kubeconfig, no in-cluster config."""
    drop = {"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PROMETHEUS_MULTIPROC_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["HOME"] = str(home)
    return env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory like the repository's top, where the README's relative paths resolve."""
    for name in ("examples", "policies"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_the_quick_start_holds_the_commands_this_file_knows() -> None:
    lines = command_lines()
    assert SERVE in lines
    for line in lines:
        assert line in SETUP or line.startswith("argo-admission "), line
        assert not re.search(r"[|<>;&$`]", line.partition(" #")[0]), f"shell syntax in: {line}"
    commands = {shlex.split(line, comments=True)[1] for line in OFFLINE}
    assert {"check", "review", "merge", "audit", "certs"} <= commands
    assert any("check -o json" in line and "examples/" in line for line in OFFLINE)


@pytest.mark.parametrize("line", OFFLINE, ids=[" ".join(line.split()[1:3]) for line in OFFLINE])
def test_each_offline_command_runs_as_written(line: str, workdir: Path) -> None:
    args = shlex.split(line, comments=True)
    assert args[0] == "argo-admission"
    result = subprocess.run(
        [str(BIN), *args[1:]],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=environment(workdir),
        timeout=120,
    )
    assert result.returncode == expected_exit(line), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.strip(), "every command says something"
    if "-o" in args and args[args.index("-o") + 1] == "json":
        assert isinstance(json.loads(result.stdout), list)
    if args[1] == "review":
        assert json.loads(result.stdout)["kind"] == "AdmissionReview"


def test_serve_as_written_answers_readyz_with_the_ca_it_generated(workdir: Path) -> None:
    """`argo-admission serve` with no flags: the default policy, certificates generated into
    certs/, /readyz answering 200 to a client that trusts certs/ca.crt. Only where it listens is
    added, so the test takes no fixed port."""
    port = free_port()
    args = [*shlex.split(SERVE)[1:], "--host", "127.0.0.1", "--port", str(port)]
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(BIN), *args], cwd=workdir, env=environment(workdir), stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, (workdir / "serve.log").read_text()
            assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
            ca = workdir / "certs/ca.crt"
            try:
                answer = requests.get(f"https://localhost:{port}/readyz", verify=str(ca), timeout=5)
            except (requests.ConnectionError, OSError):
                time.sleep(0.2)
                continue
            if answer.status_code == 200:
                break
            time.sleep(0.2)
        assert answer.json()["policy"] == "policies/default.yaml"
        assert {"ca.crt", "tls.crt", "tls.key"} <= {p.name for p in (workdir / "certs").iterdir()}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode == 0, (workdir / "serve.log").read_text()


def example_table() -> dict[str, str]:
    """examples/README.md's table: path -> what it yields under policies/secure.yaml."""
    rows = {}
    for line in (ROOT / "examples/README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "path":
            rows[cells[0].strip("`")] = cells[2]
    return rows


def test_each_example_is_judged_as_examples_readme_says(workdir: Path) -> None:
    table = example_table()
    result = subprocess.run(
        [
            str(BIN),
            "check",
            "-o",
            "json",
            "--config",
            "policies/secure.yaml",
            "--templates",
            "examples/library",
            "examples/good",
            "examples/bad",
            "examples/library",
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=environment(workdir),
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    verdicts = json.loads(result.stdout)
    seen = set()
    for verdict in verdicts:
        path = verdict["file"].removeprefix("examples/")
        folder = path.split("/")[0] + "/"
        said = table.get(path) or table[folder]
        seen.add(path if path in table else folder)
        if said.startswith("admitted"):
            assert verdict["allowed"] is True, verdict
        else:
            assert verdict["allowed"] is False and verdict["rules"] == [said.strip("`")], verdict
    assert {p for p in table if p.startswith(("bad/", "good/", "library/"))} <= seen
