"""The kind quick start and the release workflow, checked where they cannot run (no Docker,
no kind, no registry here): the script's steps are the README's, line for line; the workflow
is a GitHub Actions workflow that builds the Dockerfile for two architectures and pushes the
image and the chart on a tag; shellcheck passes on the script when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack/kind-quickstart.sh"
RELEASE = ROOT / ".github/workflows/release.yml"


def readme_steps() -> list[str]:
    """The commands of the README's kind block, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- kind-quickstart -->\n```sh\n(.*?)```", text, re.S)
    assert block, "README has no kind quick start block"
    return [re.sub(r"\s+# .*$", "", line).strip() for line in block.group(1).splitlines() if line]


def script_steps() -> list[str]:
    """The commands between the script's step markers, its `expect_refused` prefix dropped."""
    text = SCRIPT.read_text()
    body = text.split('# --- steps (the README\'s "Try it on kind") ---\n', 1)[1]
    body = body.split("# --- end of steps ---", 1)[0]
    return [line.removeprefix("expect_refused ").strip() for line in body.splitlines() if line]


def test_the_kind_script_runs_the_readmes_steps_line_for_line() -> None:
    assert script_steps() == readme_steps()


def test_the_step_the_readme_says_is_refused_is_the_one_the_script_expects_refused() -> None:
    text = (ROOT / "README.md").read_text()
    refused = [line.split("#")[0].strip() for line in text.splitlines() if "# refused" in line]
    expected = [
        line.removeprefix("expect_refused ").strip()
        for line in SCRIPT.read_text().splitlines()
        if line.startswith("expect_refused ")
    ]
    assert refused == expected and refused


def test_the_script_installs_the_image_it_built_and_loaded() -> None:
    steps = script_steps()
    built = next(re.search(r"-t (\S+) \.$", s) for s in steps if s.startswith("docker build"))
    assert built
    image = built.group(1)
    assert f"kind load docker-image {image} --name argo-admission" in steps
    repository, tag = image.split(":")
    install = next(s for s in steps if s.startswith("helm install"))
    assert f"--set image.repository={repository} --set image.tag={tag}" in install


def test_shellcheck_passes_on_the_script() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_the_release_workflow_builds_both_architectures_and_pushes_image_and_chart() -> None:
    workflow = yaml.safe_load(RELEASE.read_text())
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert trigger == {"push": {"tags": ["v*.*.*"]}}
    assert workflow["permissions"] == {"contents": "read", "packages": "write"}
    build = next(
        step
        for step in workflow["jobs"]["image"]["steps"]
        if str(step.get("uses", "")).startswith("docker/build-push-action")
    )
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True and build["with"]["context"] == "."
    chart = "\n".join(step.get("run", "") for step in workflow["jobs"]["chart"]["steps"])
    assert "helm package charts/argo-admission" in chart
    assert re.search(r"helm push \S+ \"oci://ghcr\.io/", chart)
    assert workflow["jobs"]["chart"]["needs"] == "image"


def test_the_released_image_is_the_charts_default() -> None:
    """What the workflow pushes for owner argo-admission is what values.yaml installs."""
    values = yaml.safe_load((ROOT / "charts/argo-admission/values.yaml").read_text())
    assert values["image"]["repository"] == "ghcr.io/argo-admission/argo-admission"
    assert "IMAGE=ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/argo-admission" in RELEASE.read_text()
