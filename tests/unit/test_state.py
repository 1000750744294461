"""The live policy: re-read when its file changes, the last good one kept when it breaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from admission.core.config import Config
from admission.files.templates import FileTemplateSource
from admission.server.state import PolicyFile, State, StaticSource

STRICT = "workflowRestrictions: {templateReferencing: Strict}\n"
SECURE = "workflowRestrictions: {templateReferencing: Secure}\n"
BROKEN = "workflowRestrictions: {templateReferencing: Sometimes}\n"


def replace(path: Path, text: str) -> None:
    tmp = path.with_name(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(STRICT)
    return path


def test_an_unchanged_file_is_not_read_again(policy_path: Path) -> None:
    policy = PolicyFile(str(policy_path), fallback=Config())
    assert policy.poll() is False
    assert policy.config.template_referencing == "Strict"


def test_a_changed_file_takes_effect(policy_path: Path) -> None:
    results: list[bool] = []
    policy = PolicyFile(str(policy_path), fallback=Config(), on_reload=results.append)
    replace(policy_path, SECURE)
    assert policy.poll() is True
    assert policy.config.template_referencing == "Secure"
    assert results == [True]


def test_a_broken_file_keeps_the_previous_policy_and_logs_every_problem(
    policy_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    results: list[bool] = []
    policy = PolicyFile(str(policy_path), fallback=Config(), on_reload=results.append)
    replace(policy_path, BROKEN)
    assert policy.poll() is False
    assert policy.config.template_referencing == "Strict"
    assert results == [False]
    assert "'Sometimes' is not one of" in caplog.text


def test_a_deleted_file_keeps_the_previous_policy(policy_path: Path) -> None:
    policy = PolicyFile(str(policy_path), fallback=Config())
    policy_path.unlink()
    assert policy.poll() is False
    assert policy.config.template_referencing == "Strict"


def test_a_new_process_after_a_broken_edit_starts_from_the_kept_copy(
    policy_path: Path, tmp_path: Path
) -> None:
    keep = tmp_path / "kept.yaml"
    first = PolicyFile(str(policy_path), fallback=Config(), keep=keep)
    replace(policy_path, SECURE)
    first.poll()
    replace(policy_path, BROKEN)
    respawned = PolicyFile(
        str(policy_path), fallback=Config(template_referencing="Strict"), keep=keep
    )
    assert respawned.config.template_referencing == "Secure"


def test_no_file_means_the_fallback_policy() -> None:
    policy = PolicyFile(None, fallback=Config(template_referencing="Secure"))
    assert policy.poll() is False
    assert policy.config.template_referencing == "Secure"


class ConfigMapSeen:
    """What a watch of Argo's ConfigMap has seen so far (the real one: tests/e2e)."""

    source = "ConfigMap argo/workflow-controller-configmap"

    def __init__(self) -> None:
        self.data: dict[str, str] | None = None
        self.version = 0

    def see(self, data: dict[str, str]) -> None:
        self.data, self.version = data, self.version + 1

    def synced(self) -> bool:
        return self.data is not None

    def sync_problem(self) -> str:
        return ""

    def close(self) -> None:
        pass


def test_argo_configmap_restrictions_and_defaults_replace_the_files(policy_path: Path) -> None:
    seen = ConfigMapSeen()
    state = State(
        PolicyFile(str(policy_path), fallback=Config()),
        StaticSource(FileTemplateSource()),
        seen,
    )
    assert state.readiness() == [f"{seen.source} not read yet"]
    assert state.config.template_referencing == "Strict"  # the file's, until the ConfigMap
    seen.see({"workflowRestrictions": "templateReferencing: Secure\n"})
    assert state.readiness() == []
    assert state.config.template_referencing == "Secure"
    seen.see({"workflowDefaults": "spec: {ttlStrategy: {secondsAfterCompletion: 60}}\n"})
    assert state.config.template_referencing == ""  # Argo's meaning of a ConfigMap without it
    assert state.config.workflow_defaults == {
        "spec": {"ttlStrategy": {"secondsAfterCompletion": 60}}
    }


def test_an_invalid_argo_configmap_keeps_the_values_in_force(
    policy_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = ConfigMapSeen()
    state = State(
        PolicyFile(str(policy_path), fallback=Config()), StaticSource(FileTemplateSource()), seen
    )
    seen.see({"workflowRestrictions": "templateReferencing: Secure\n"})
    assert state.config.template_referencing == "Secure"
    seen.see({"workflowRestrictions": "templateReferencing: Sometimes\n"})
    assert state.config.template_referencing == "Secure"
    assert "is invalid; keeping the values in force" in caplog.text
