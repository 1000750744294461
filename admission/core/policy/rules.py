"""The names of the policy's rules: the `[rule]` of a message, the audit line's and the
PolicyReport's rule, the metric's `rule` label. PSA names each check by an ID; so do we.

`Rule` is the closed set: the Context takes only these names (mypy checks every call), so a rule
cannot be recorded under a name the metrics, the docs or the reports do not know.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Rule = Literal[
    "entrypoint",
    "instance-id",
    "legacy",
    "library-author",
    "merge",
    "mutate",
    "overrides",
    "request",
    "restricted",
    "resubmit",
    "secure",
    "security-context",
    "spelling",
    "status",
    "strict",
    "task-result",
    "task-set",
    "template-library",
    "template-lookup",
    "template-ref",
    "well-formed",
    "workflow-lookup",
]

ENTRYPOINT: Final = "entrypoint"
INSTANCE_ID: Final = "instance-id"
LEGACY: Final = "legacy"
LIBRARY_AUTHOR: Final = "library-author"
MERGE: Final = "merge"
MUTATE: Final = "mutate"
OVERRIDES: Final = "overrides"
REQUEST: Final = "request"
RESUBMIT: Final = "resubmit"
RESTRICTED: Final = "restricted"
SECURE: Final = "secure"
SECURITY_CONTEXT: Final = "security-context"
SPELLING: Final = "spelling"
STATUS: Final = "status"
STRICT: Final = "strict"
TASK_RESULT: Final = "task-result"
TASK_SET: Final = "task-set"
TEMPLATE_LIBRARY: Final = "template-library"
TEMPLATE_LOOKUP: Final = "template-lookup"
TEMPLATE_REF: Final = "template-ref"
WELL_FORMED: Final = "well-formed"
WORKFLOW_LOOKUP: Final = "workflow-lookup"

ALL: Final[tuple[Rule, ...]] = get_args(Rule)
"""Every rule name, in order."""
