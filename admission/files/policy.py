"""Policy files: the one `--config` names, read and validated whole, or the shipped default.

Reading is here; what the text means is admission/core/policyfile.py's (pure).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Final

from admission.core.config import Config, ConfigError, DefaultsError
from admission.core.policyfile import parse_config, parse_workflow_defaults

DEFAULT_POLICY: Final = "policies/default.yaml"


def default_policy_text() -> str:
    """The shipped `policies/default.yaml`, what `serve` uses with no --config."""
    return resources.files("admission.policies").joinpath("default.yaml").read_text("utf-8")


def load_policy(path: str | None) -> Config:
    """The policy at `path`, or the shipped default policy; raises ConfigError."""
    if path is None:
        return parse_config(default_policy_text(), source=DEFAULT_POLICY)
    return load_config(path)


def load_config(path: str | Path) -> Config:
    """Read and validate a policy file or a workflow-controller ConfigMap manifest."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    return parse_config(text, source=str(path))


def load_workflow_defaults(path: str | Path) -> dict[str, Any]:
    """The workflowDefaults a file gives (see parse_workflow_defaults); DefaultsError when the
    file gives none or cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefaultsError(str(path), [f"cannot read: {exc}"]) from exc
    return parse_workflow_defaults(text, source=str(path))
