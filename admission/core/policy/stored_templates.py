"""`status.storedTemplates` at CREATE: Argo's clients write them, and only the library's pass.

`argo submit`, `argo resubmit` and argo-server validate a Workflow before creating it, and that
validation stores every template it resolves from a (Cluster)WorkflowTemplate in
`status.storedTemplates` (workflow/validate ValidateWorkflow -> templateresolution
resolveTemplateImpl -> Workflow.SetStoredTemplate). The controller then runs a stored template
instead of fetching the referenced one, so an entry is admitted only when it is what the library
holds under its key (pkg/apis/workflow/v1alpha1 resolveTemplateReference):

- `namespaced|cluster/<holder>/<template>`: template <template> of that holder, with the
  holder's `spec.podMetadata` labels and annotations added where the template lacks them
  (templateresolution addPodMetadata);
- `namespaced|cluster/<holder>/inline/<step>`: the inline template of step or task <step> of one
  of the holder's templates (Workflow.SetStoredInlineTemplate).

`local` templates (a Workflow calling its own templates) are never stored.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any, Final

from admission.core.diff import diff_lines, equivalent
from admission.core.objects import labels_of, spec_list, spec_of, walk
from admission.core.policy import rules
from admission.core.policy.context import Context
from admission.core.policy.membership import in_library
from admission.core.policy.source import CLUSTER, NAMESPACED, TemplateKey

SCOPES: Final = {"namespaced": NAMESPACED, "cluster": CLUSTER}
INLINE: Final = "inline/"
MEMOIZED_FROM: Final = "workflows.argoproj.io/resubmitted-from-workflow"


def check_create(ctx: Context, stored: Any) -> None:
    """Deny every stored template that is not the library's template under the same key."""
    if not isinstance(stored, dict):
        ctx.deny(
            rules.STATUS,
            "status.storedTemplates must map template keys to templates",
            f"got {type(stored).__name__}",
            "status.storedTemplates",
        )
        return
    for key in sorted(stored):
        _check_entry(ctx, str(key), stored[key])


def _check_entry(ctx: Context, key: str, written: Any) -> None:
    path = f"status.storedTemplates[{key}]"
    reason = f"{path} is not the library's template"
    scope, _, rest = key.partition("/")
    holder_name, _, template = rest.partition("/")
    if scope not in SCOPES or not holder_name or not template:
        ctx.deny(
            rules.STATUS,
            reason,
            f"{key!r} is not a key Argo stores (namespaced|cluster/NAME/TEMPLATE)",
            path,
        )
        return
    kind = SCOPES[scope]
    holder_key = TemplateKey(kind, ctx.namespace if kind == NAMESPACED else "", holder_name)
    ok, holder = ctx.lookup(holder_key)
    if not ok:
        return
    if holder is None:
        ctx.deny(rules.STATUS, reason, f"{holder_key} does not exist", path)
        return
    if not in_library(ctx, holder_key, holder, path):
        return
    candidates = list(_expected(holder, template))
    if not candidates:
        ctx.deny(rules.STATUS, reason, f"{holder_key} has no template {template!r}", path)
        return
    if any(equivalent(want, written, "Template") for want in candidates):
        return
    origin = labels_of(ctx.obj).get(MEMOIZED_FROM)
    if origin:  # resubmitted: only --memoized copies the original's stored templates
        detail = (
            f"{holder_key} was edited since the original Workflow {origin} ran: a memoized "
            "resubmit copies the original's stored templates and would re-run the version no "
            "longer in the library; resubmit without --memoized to run the library's version:"
        )
    else:
        detail = f"it differs from {holder_key}; Argo would run the stored copy instead:"
    ctx.deny(rules.STATUS, reason, detail, path)
    ctx.findings.diff.extend(diff_lines(candidates[0], written, prefix=path, type_name="Template"))


def _expected(holder: Mapping[str, Any], template: str) -> Iterator[dict[str, Any]]:
    """What Argo's resolution stores under `template` of `holder`."""
    spec = spec_of(holder)
    templates = [t for t in spec_list(spec.get("templates")) if isinstance(t, dict)]
    if template.startswith(INLINE):
        step = template[len(INLINE) :]
        for _, call in walk(spec):
            if (
                call is not None
                and call.get("name") == step
                and isinstance(call.get("inline"), dict)
            ):
                yield call["inline"]
    for found in templates:
        if found.get("name") == template:
            yield _with_pod_metadata(found, spec.get("podMetadata"))


def _with_pod_metadata(template: Mapping[str, Any], pod_metadata: Any) -> dict[str, Any]:
    """The template with the holder's podMetadata added where absent (addPodMetadata)."""
    out = copy.deepcopy(dict(template))
    if not isinstance(pod_metadata, dict):
        return out
    found = out.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    for field in ("annotations", "labels"):
        extra, own = pod_metadata.get(field), meta.get(field)
        if isinstance(extra, dict) and extra:
            meta[field] = {**extra, **(own if isinstance(own, dict) else {})}
    out["metadata"] = meta
    return out
