"""The result types of a policy evaluation: what was decided and why."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# The code of "not yet": what the object names does not exist yet, and its writer retries (a 429
# is transient to Argo's executor and agent; the API server adds Retry-After, which client-go
# follows).
NOT_YET: Final = 429


class Outcome(enum.Enum):
    """How one evaluation ended, in the order of severity."""

    PASS = "pass"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class Violation:
    """One broken rule: `[rule] reason: detail`, detail naming the field path and template;
    `path` is that field alone (`spec.templates[0].podSpecPatch`), for the audit line, `check -o
    json` and the PolicyReports."""

    rule: str
    reason: str
    detail: str = ""
    path: str = ""

    def message(self) -> str:
        """The line a person reads in `kubectl`'s error or the audit log."""
        head = f"[{self.rule}] {self.reason}"
        return f"{head}: {self.detail}" if self.detail else head


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one request.

    `allowed` is the admission verdict after the mode is applied; `outcome` says whether rules
    passed, failed (403), or could not be evaluated (400 for a broken object, 500 for a failed
    lookup, 429 for what is not there yet). In warn/audit mode a failure is still reported here
    but `allowed` is true.
    """

    allowed: bool
    outcome: Outcome
    code: int = 200
    violations: tuple[Violation, ...] = ()
    warnings: tuple[str, ...] = ()
    diff: tuple[str, ...] = ()
    warned: tuple[Violation, ...] = ()
    """The rules' own warnings as values (rule, reason, detail): `warnings` holds their
    messages, and in warn mode the violations' and the diff's too."""
    patch: tuple[Mapping[str, Any], ...] = ()
    mode: str = "enforce"
    exempt: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        """The first rule that failed, or the exemption that skipped the rules."""
        if self.violations:
            return self.violations[0].rule
        return "exempt" if self.exempt else ""

    @property
    def paths(self) -> list[str]:
        """The fields the violations name (`spec.podSpecPatch`), each once, in the order found."""
        return list(dict.fromkeys(v.path for v in self.violations if v.path))

    @property
    def message(self) -> str:
        """All violations, one per line, then the diff lines indented beneath."""
        lines = [v.message() for v in self.violations]
        lines.extend(f"  {line}" for line in self.diff)
        return "\n".join(lines)
