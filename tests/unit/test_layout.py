"""The README's layout names every module of every layer folder, and nothing that is not there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "admission"
LAYERS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())


def layout_row(layer: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"^\| `admission/{layer}/` \| (.*) \|$", text, flags=re.MULTILINE)
    assert found, f"README's layout has no row for admission/{layer}/"
    return found.group(1)


def modules_in(layer: str) -> set[str]:
    """The layer's modules and subpackages, as the README names them (`name`, `package/`)."""
    names = {p.stem for p in (PACKAGE / layer).glob("*.py") if p.stem != "__init__"}
    return names | {
        f"{p.name}/" for p in (PACKAGE / layer).iterdir() if (p / "__init__.py").is_file()
    }


def test_the_package_has_only_layer_folders_at_its_top() -> None:
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py"}, (
        f"modules outside a layer folder: {sorted(top - {'__init__.py'})}"
    )
    assert LAYERS == ["cli", "cluster", "core", "files", "server"]


@pytest.mark.parametrize("layer", LAYERS)
def test_the_readme_layout_row_names_exactly_the_layers_modules(layer: str) -> None:
    named = set(re.findall(r"`([a-z_]+/?)`", layout_row(layer)))
    actual = modules_in(layer)
    assert actual - named == set(), f"admission/{layer}/ modules the README does not name"
    assert named - actual == set(), f"the README names modules admission/{layer}/ lacks"
