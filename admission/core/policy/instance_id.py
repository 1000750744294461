"""The instance-id rule: a Workflow may not route itself to a controller instance the policy
does not cover (`workflows.argoproj.io/controller-instanceid`). A controller started with
`--instanceid` runs only the Workflows labelled with its id; one this policy does not name is
outside the door's view, so the label is refused rather than trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.core.objects import labels_of
from admission.core.policy import rules
from admission.core.policy.context import INSTANCE_ID_LABEL, Context


def check_instance_id(ctx: Context, labels: Mapping[str, Any], where: str) -> None:
    """Deny a Workflow routed to a controller instance the policy does not cover."""
    value = labels.get(INSTANCE_ID_LABEL, "")
    if value in ctx.config.controller_instance_ids:
        return
    covered = ", ".join(repr(v) for v in sorted(ctx.config.controller_instance_ids))
    ctx.deny(
        rules.INSTANCE_ID,
        f"{where} label {INSTANCE_ID_LABEL}={value!r} routes the Workflow to a controller "
        "instance this policy does not cover",
        f"covered instance ids: {covered}; remove the label or use a covered id",
        f"{where}.{INSTANCE_ID_LABEL}",
    )


def check_object_instance_id(ctx: Context) -> None:
    """The object's own label (Workflows)."""
    check_instance_id(ctx, labels_of(ctx.obj), "metadata.labels")
