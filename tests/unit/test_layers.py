"""The import-linter contracts hold on the tree, and break when a probe import crosses a layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the copy of the package in `tree`, with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "admission", tmp_path / "admission", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def probe(tree: Path, module: str, line: str) -> None:
    path = tree / "admission" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_contracts_hold_on_the_tree(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/objects.py", "import admission.cluster.registration  # noqa", "Layers"),
        ("core/policy/strict.py", "import admission.server.state  # noqa", "Layers"),
        ("cluster/kube.py", "import admission.server.metrics  # noqa", "Layers"),
        ("cluster/kube.py", "import admission.files.manifests  # noqa", "Layers"),
        ("files/templates.py", "import admission.cluster.reflector  # noqa", "Layers"),
        ("server/app.py", "import admission.cli.commands  # noqa", "Layers"),
        ("core/diff.py", "import logging  # noqa", "The core does no I/O"),
        ("core/merge/gojson.py", "import socket  # noqa", "The core does no I/O"),
        ("server/app.py", "import kubernetes  # noqa", "Only the cluster adapters"),
        ("core/policy/strict.py", "import admission.core.policy.library  # noqa", "independent"),
        ("core/policy/secure.py", "from admission.core.policy import status  # noqa", "indep"),
        ("cli/commands.py", "from kubernetes import client  # noqa", "Only the cluster adapters"),
    ],
    ids=lambda v: str(v).split()[0] if isinstance(v, str) else v,
)
def test_a_probe_import_across_a_layer_breaks_a_contract(
    tree: Path, module: str, line: str, broken: str
) -> None:
    probe(tree, module, line)
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout
