"""The image's inputs are pinned: a digest for the base, a version and hashes for every dependency.

requirements.lock is pip-compile's answer for pyproject.toml (--generate-hashes); the Dockerfile
installs it with --require-hashes. These tests keep the three files telling the same story:
the lock covers every runtime dependency pyproject names, within its bounds, and what those
need in turn; the Dockerfile takes nothing unpinned; the wheel holds every package.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK_TEXT = (ROOT / "requirements.lock").read_text()
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
DIGEST = re.compile(r"^python:3\.11-slim@sha256:[0-9a-f]{64}$")


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock."""
    out: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", LOCK_TEXT):
        match = PIN.match(block)
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            out[canonicalize_name(match[1])] = (match[2], hashes)
    return out


LOCKED = locked()


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]


def test_the_lock_pins_every_runtime_dependency_within_pyprojects_bounds() -> None:
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in LOCKED, f"{name} is a dependency in pyproject.toml but not locked"
        version, _ = LOCKED[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)


def test_every_locked_package_has_its_version_and_hashes() -> None:
    assert len(LOCKED) >= len(runtime_requirements())
    for name, (version, hashes) in LOCKED.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), (name, version)
        assert hashes, f"{name}=={version} has no --hash: pip --require-hashes refuses it"
    assert not re.search(r"^\s*-e ", LOCK_TEXT, re.MULTILINE), "no editable installs"
    assert "--index-url" not in LOCK_TEXT and "--find-links" not in LOCK_TEXT


def test_what_the_locked_packages_need_is_locked_too() -> None:
    """Where the installed version is the locked one, its own requirements are in the lock."""
    checked = 0
    for name, (version, _) in LOCKED.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        checked += 1
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(requirement.name) in LOCKED, (name, text)
    assert checked >= len(runtime_requirements())


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_the_dockerfile_builds_from_the_base_image_pinned_by_digest() -> None:
    stages: list[str] = []
    for line in dockerfile_instructions():
        if not line.upper().startswith("FROM "):
            continue
        words = line.split()
        image = words[1]
        assert DIGEST.match(image) or image in stages, f"unpinned base image: {line}"
        if len(words) == 4 and words[2].upper() == "AS":
            stages.append(words[3])
    assert stages, "a build stage and a runtime stage"


def test_the_dockerfile_installs_only_hashed_or_local_packages_as_a_non_root_user() -> None:
    runs = [line for line in dockerfile_instructions() if line.upper().startswith("RUN ")]
    installs = [
        part.strip()
        for line in runs
        for part in line.split("&&")
        if re.search(r"\bpip install\b", part)
    ]
    assert any("--require-hashes" in part and "requirements.lock" in part for part in installs), (
        installs
    )
    for part in installs:
        hashed = "--require-hashes" in part
        local = "--no-index" in part and "--no-deps" in part
        assert hashed or local, f"installs something neither hashed nor local: {part}"
    wheels = [line for line in runs if "pip wheel" in line]
    assert all("--no-deps" in line and "--no-build-isolation" in line for line in wheels)
    users = [line.split()[1] for line in dockerfile_instructions() if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users


def test_the_wheel_holds_every_package_under_admission() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "admission").rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)


def test_the_pre_commit_ruff_is_the_one_the_test_tools_pin() -> None:
    pinned = [r for r in PYPROJECT["project"]["optional-dependencies"]["test"] if "ruff" in r]
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    hook = re.search(r"ruff-pre-commit\n\s+rev: v(\S+)", config)
    assert hook, "the pre-commit config has no ruff hook"
    assert pinned == [f"ruff=={hook[1]}"], (pinned, hook[1])
    assert metadata.version("ruff") == hook[1], "the venv's ruff is not the pinned one"
