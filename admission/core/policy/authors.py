"""The library's authors: who may put a template into the library, change it, or take it out.

Membership is decided by what a template says (its namespace, its labels), and RBAC commonly
lets namespace editors create WorkflowTemplates: without this rule, anyone who may create one can
label it into the library, or edit or replace an approved one, and every ref to it is admitted.
With `templateLibrary.authors` set, only authors (and exempt identities) may CREATE a template
that is in the library, UPDATE one that is or becomes in it (labels or content), take one out, or
DELETE one. Templates outside the library stay anyone's to write, as RBAC allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.core.objects import labels_of, metadata_of, spec_of
from admission.core.policy import rules
from admission.core.policy.context import CLUSTER_WORKFLOW_TEMPLATE, Context
from admission.core.policy.membership import outside_library
from admission.core.policy.source import TemplateKey


def check(ctx: Context, obj: Mapping[str, Any]) -> None:
    """Deny a non-author's write to a library template (`obj` is the old object on DELETE)."""
    authors = ctx.config.template_library.authors
    if authors is None or authors.matches(username=ctx.request.username, groups=ctx.request.groups):
        return
    library = ctx.config.template_library
    key = _key(ctx, obj)
    was_in = ctx.old is not None and not outside_library(library, key, ctx.old)
    deleting = ctx.request.operation == "DELETE"
    now_in = not deleting and not outside_library(library, key, ctx.obj)
    if not (was_in or now_in) or _unchanged(ctx):
        return
    if deleting:
        action = "delete"
    elif ctx.old is None:
        action = "create"
    elif not now_in:
        action = "take out of the library"
    elif not was_in:
        action = "add to the library"
    else:
        action = "change"
    ctx.deny(
        rules.LIBRARY_AUTHOR,
        f"only the template library's authors may {action} {key}",
        f"authors: {authors.describe()}; {ctx.request.username} is not one of them",
        "metadata" if action.endswith("library") else "spec",
    )


def _key(ctx: Context, obj: Mapping[str, Any]) -> TemplateKey:
    name = metadata_of(obj).get("name")
    namespace = "" if ctx.kind == CLUSTER_WORKFLOW_TEMPLATE else ctx.namespace
    return TemplateKey(ctx.kind, namespace, name if isinstance(name, str) else "")


def _unchanged(ctx: Context) -> bool:
    """An UPDATE that changes neither what runs nor what decides membership."""
    if ctx.request.operation != "UPDATE" or ctx.old is None:
        return False
    return spec_of(ctx.old) == spec_of(ctx.obj) and labels_of(ctx.old) == labels_of(ctx.obj)
