"""Which argo-admission this is: the package version and the source commit it was built from.

The commit is, in this order: the one baked into the image at build time (`ARG COMMIT`, kept as
ARGO_ADMISSION_COMMIT), the one pip recorded when it installed the package from a git URL (the
distribution's direct_url.json), the HEAD of the git checkout the package runs from (an
editable install; read from .git as `git rev-parse HEAD` would), else "unknown".
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from typing import Final

from admission import __version__

COMMIT_ENV: Final = "ARGO_ADMISSION_COMMIT"  # set by the image build (Dockerfile ARG COMMIT)
DISTRIBUTION: Final = "argo-admission"
PACKAGE: Final = Path(__file__).parents[1]  # the admission package


def commit(package: Path = PACKAGE) -> str:
    """The source commit of this build (see the module docstring), or "unknown"."""
    return (
        os.environ.get(COMMIT_ENV, "").strip()
        or installed_commit()
        or checkout_commit(package)
        or "unknown"
    )


def version_line() -> str:
    """`argo-admission VERSION (commit SHA)`, what `--version` prints."""
    return f"{DISTRIBUTION} {__version__} (commit {commit()})"


def installed_commit(distribution: str = DISTRIBUTION) -> str:
    """The commit pip installed from (`pip install git+URL@REF`), or ""."""
    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return ""
    try:
        info = json.loads(text or "{}").get("vcs_info") or {}
    except (ValueError, AttributeError):
        return ""
    found = info.get("commit_id") if isinstance(info, dict) else None
    return found if isinstance(found, str) else ""


def checkout_commit(package: Path = PACKAGE) -> str:
    """The commit of the git checkout the package runs from (an editable install), or ""."""
    git = package.parent / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: PATH"
            git = (package.parent / git.read_text().partition(":")[2].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head  # detached
        ref = head.removeprefix("ref: ")
        common = git / "commondir"
        common = git / common.read_text().strip() if common.is_file() else git
        for base in (git, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0]
    except OSError:
        return ""
    return ""
