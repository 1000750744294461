"""docs/rollout.md's step 0 runs as written, but for its two cluster reads: `kubectl get
configmap` is answered by examples/cm.yaml (Argo's ConfigMap) set to Strict, and the audit reads
examples/exported.yaml (a namespace's objects) instead of the cluster. The sed line makes the
controller's own ConfigMap a Secure policy the audit accepts, with the controller's defaults."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "argo-admission"


def step_zero() -> list[str]:
    text = (ROOT / "docs/rollout.md").read_text()
    block = re.search(r"<!-- rollout-step-0 -->\n```sh\n(.*?)```", text, re.S)
    assert block, "docs/rollout.md has no step 0 block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_step_zero_audits_with_the_controllers_own_configmap(tmp_path: Path) -> None:
    get, edit, audit = step_zero()
    assert get.startswith("kubectl get configmap workflow-controller-configmap -n argo -o yaml")
    strict = (
        (ROOT / "examples/cm.yaml")
        .read_text()
        .replace("templateReferencing: Secure", "templateReferencing: Strict")
    )
    (tmp_path / get.rpartition("> ")[2]).write_text(strict)  # what kubectl answers
    sed = subprocess.run(edit, shell=True, cwd=tmp_path, check=False)
    assert sed.returncode == 0
    args = shlex.split(audit, comments=True)
    assert args[:2] == ["argo-admission", "audit"]
    where = args.index("--kubeconfig")
    args[where : where + 2] = ["-f", str(ROOT / "examples/exported.yaml")]
    result = subprocess.run(
        [str(BIN), *args[1:]], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "WARNING" not in result.stderr  # a Secure policy: it enforces something
    assert "secure" in result.stdout and "workflowDefaults" not in result.stdout
    secured = (tmp_path / "argo-cm-secure.yaml").read_text()
    assert "templateReferencing: Secure" in secured and "ttlStrategy" in secured
