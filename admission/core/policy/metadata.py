"""Secure and metadata: a running Workflow's labels and annotations that its templates read.

On every reconcile the controller makes each label and annotation of the Workflow a global
parameter, `workflow.labels.<key>` and `workflow.annotations.<key>`, and the whole maps as JSON
(`workflow.labels`, `workflow.labels.json`, the same for annotations), then overrides them with
the joined spec's `workflowMetadata.labels` / `annotations` (operator.go setGlobalParameters; the
same in v3.7.18 and v4.0.5). A later step that reads one runs with the value the Workflow has
when the step starts, so a label or annotation change on a running Workflow changes what it runs,
and Argo's Secure compare (the spec only) misses it. Under Secure the door refuses such a change
when the executed spec or a stored template reads that key (or the whole map), and leaves every
other label and annotation free (kubectl label/annotate, Argo's actor labels).

CronWorkflows: the cron controller reads its own label `cronworkflows.argoproj.io/completed` and
annotation `cronworkflows.argoproj.io/last-used-schedule`; a user keeps them or drops them (`argo
cron update` sends the file's metadata), never adds or changes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from admission.core.objects import is_finished, metadata_of, status_of
from admission.core.policy.context import Context

STORED_SPEC: Final = "storedWorkflowTemplateSpec"
KINDS: Final = ("labels", "annotations")
TAG: Final = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# A key read by name in a tag or an expression: workflow.labels.KEY, workflow.labels['KEY'].
NAMED: Final = re.compile(
    r"workflow\.(labels|annotations)(?:\.([A-Za-z0-9_./-]+)|\[\s*['\"]([^'\"]+)['\"]\s*\])"
)
MENTION: Final = re.compile(r"workflow\.(labels|annotations)\b")
WHOLE: Final = "*"
# What Argo's own clients write on a running Workflow (creator.LabelActor, UserActionLabel).
CLIENT_LABELS: Final = frozenset(
    {
        "workflows.argoproj.io/actor",
        "workflows.argoproj.io/actor-email",
        "workflows.argoproj.io/actor-preferred-username",
        "workflows.argoproj.io/action",
    }
)
CRON_OWN: Final = {
    "labels": "cronworkflows.argoproj.io/completed",
    "annotations": "cronworkflows.argoproj.io/last-used-schedule",
}


def reads(value: Any) -> dict[str, set[str]]:
    """The label and annotation keys the strings under `value` read ("*": the whole map)."""
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for text in _strings(value):
        for tag in TAG.findall(text):
            _read_tag(tag.strip(), found)
    return found


def _read_tag(tag: str, found: dict[str, set[str]]) -> None:
    """A `{{...}}` tag: a parameter name, or an expression after `=` (both read alike)."""
    for match in NAMED.finditer(tag):
        key = match.group(2) or match.group(3)
        if key == "json" and not match.group(3):
            key = WHOLE
        found[match.group(1)].add(key)
    for match in MENTION.finditer(tag):
        if not NAMED.match(tag, match.start()):
            found[match.group(1)].add(WHOLE)  # the map as JSON, or indexed by a computed key


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check_workflow(ctx: Context) -> None:
    """Under Secure, a running Workflow's label or annotation its templates read stays as is."""
    if not ctx.config.secure or ctx.old is None or is_finished(ctx.old):
        return
    status = status_of(ctx.old)
    stored = status.get(STORED_SPEC)
    if not isinstance(stored, dict):
        return  # not started: what it starts with is what it runs with
    read = reads([stored, status.get("storedTemplates")])
    fixed = stored.get("workflowMetadata")
    for kind in KINDS:
        keys = read[kind]
        if not keys:
            continue
        overridden = _set_by_spec(fixed, kind)
        for key in _changed(ctx, kind):
            if key in overridden:
                continue  # the spec's workflowMetadata value is the one read
            if key in keys:
                _deny(ctx, kind, key, key)
            elif WHOLE in keys and not (kind == "labels" and key in CLIENT_LABELS):
                _deny(ctx, kind, key, WHOLE)


def _set_by_spec(workflow_metadata: Any, kind: str) -> set[str]:
    """Keys the joined spec's workflowMetadata sets: they win over the Workflow's own."""
    if not isinstance(workflow_metadata, dict):
        return set()
    values = workflow_metadata.get(kind)
    return set(values) if isinstance(values, dict) else set()


def _changed(ctx: Context, kind: str) -> list[str]:
    before = metadata_of(ctx.old).get(kind)
    after = metadata_of(ctx.obj).get(kind)
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _deny(ctx: Context, kind: str, key: str, read_as: str) -> None:
    reference = f"workflow.{kind}" if read_as == WHOLE else f"workflow.{kind}.{key}"
    ctx.deny(
        "secure",
        f"metadata.{kind}.{key} of a running Workflow is read by its templates "
        f"({{{{{reference}}}}}), so changing it changes what the Workflow runs "
        "(templateReferencing: Secure)",
        f"the controller reads {reference} again before every step; {ctx.request.username} "
        "may change it once the Workflow has finished, or set it when submitting",
        f"metadata.{kind}.{key}",
    )


def check_cron(ctx: Context) -> None:
    """The cron controller's own label and annotation: kept or dropped by users, never set."""
    if ctx.old is None:
        return
    for kind, key in CRON_OWN.items():
        before = metadata_of(ctx.old).get(kind)
        after = metadata_of(ctx.obj).get(kind)
        old = before.get(key) if isinstance(before, dict) else None
        new = after.get(key) if isinstance(after, dict) else None
        if new is not None and new != old:
            ctx.deny(
                "status",
                f"metadata.{kind}.{key} of a CronWorkflow is written by Argo's cron controller, "
                f"not by {ctx.request.username}",
                f"the cron controller reads it to decide whether to run; leave it as "
                f"{old!r} or drop it",
                f"metadata.{kind}.{key}",
            )
