"""Write admission/core/gofields.py from Argo's own Go types, read by the operations oracle.

Each supported Argo version's `ops-oracle-<version>` (tests/oracle/ops, built by
`tests/e2e/setup.sh ops-oracle`) answers `{"op": "types"}` with every struct of Argo's API
package, field by field, as Go's reflection sees it: JSON name, kind, `omitempty`, held type.
The table the door reads is the union over the versions; where they disagree on `omitempty`,
the field is read as written (no `omitempty`), and the difference is listed in the module.

    python tests/oracle/gofields.py          # rewrite admission/core/gofields.py (make gofields)
    python tests/oracle/gofields.py --check  # exit 1 if the file differs from Argo's types
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "admission" / "core" / "gofields.py"
VERSIONS = ("v3.7.18", "v4.0.5")
Table = dict[str, dict[str, tuple[str, bool, str]]]

HEADER = '''"""Argo's API types as Go's encoding/json reads them, field by field. Generated.

Written by tests/oracle/gofields.py (`make gofields`) from the reflection of Argo's own Go types
(tests/oracle/ops, op `types`) for Argo {versions}; tests/unit/test_gofields.py checks it
against them. TYPES[Go type][json name] = (kind, omitempty, held type): kind is one of
bool, string, number, ptr, slice, map, struct, value (a type with its own MarshalJSON) or
interface; the held type is the element type of a slice or map, the target of a pointer.
Where the versions disagree on `omitempty` the field is read as written (False); where they
disagree on the held type, the last version's is kept. DIFFERENCES lists both.
Pure data; no I/O.
"""

from typing import Final

VERSIONS: Final = {versions_tuple}
# Fields whose `omitempty` (then read as written) or held type differ between the versions.
DIFFERENCES: Final[tuple[str, ...]] = {differences}
TYPES: Final[dict[str, dict[str, tuple[str, bool, str]]]] = {{
'''


def table_of(binary: Path) -> Table:
    """One version's table, from its oracle."""
    out = subprocess.run(
        [str(binary)], input='{"op":"types"}\n', capture_output=True, text=True, check=True
    )
    raw: dict[str, dict[str, dict[str, Any]]] = json.loads(out.stdout)["object"]
    return {
        name: {f: (v["kind"], bool(v["omitempty"]), v["type"]) for f, v in fields.items()}
        for name, fields in raw.items()
    }


def union(tables: dict[str, Table]) -> tuple[Table, list[str]]:
    """Every version's fields; a field omitempty in one version only is read as written."""
    out: Table = {}
    differences: list[str] = []
    for version, table in tables.items():
        for type_name, fields in table.items():
            into = out.setdefault(type_name, {})
            for name, entry in fields.items():
                was = into.get(name)
                if was is not None and was[1] != entry[1]:
                    differences.append(f"{type_name}.{name}: omitempty differs in {version}")
                    entry = (entry[0], False, entry[2])
                if was is not None and was[2] != entry[2]:
                    differences.append(f"{type_name}.{name}: holds {entry[2]} in {version}")
                into[name] = entry
    return out, sorted(set(differences))


def render(table: Table, differences: list[str], versions: tuple[str, ...]) -> str:
    """The module's text."""
    lines = [
        HEADER.format(
            versions=" and ".join(versions),
            versions_tuple=_tuple(versions),
            differences=_tuple(differences),
        )
    ]
    for type_name in sorted(table):
        fields = table[type_name]
        if not fields:
            lines.append(f"    {_q(type_name)}: {{}},\n")
            continue
        lines.append(f"    {_q(type_name)}: {{\n")
        for name, (kind, omitempty, held) in sorted(fields.items()):
            lines.append(f"        {_q(name)}: ({_q(kind)}, {omitempty}, {_q(held)}),\n")
        lines.append("    },\n")
    lines.append("}\n")
    return "".join(lines)


def _q(text: str) -> str:
    return json.dumps(text)


def _tuple(items: Sequence[str]) -> str:
    """A tuple as ruff formats it (one item a line when it holds more than one)."""
    if not items:
        return "()"
    if len(items) == 1:
        return f"({_q(items[0])},)"
    return "(\n" + "".join(f"    {_q(i)},\n" for i in items) + ")"


def generate(bin_dir: Path) -> str:
    """The module's text from the oracles in bin_dir (every version must be built)."""
    tables = {v: table_of(bin_dir / f"ops-oracle-{v}") for v in VERSIONS}
    table, differences = union(tables)
    return render(table, differences, VERSIONS)


def main(argv: list[str]) -> int:
    """Rewrite the module, or with --check say whether it is current."""
    sys.path.insert(0, str(ROOT / "tests"))  # a script: the harness is not on its path
    from harness.processes import bin_dirs

    text = generate(bin_dirs()[0])
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8")
        if current != text:
            print(f"{TARGET} differs from Argo's types: run make gofields", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
