"""Argo objects listed from the API server, for `argo-admission audit`.

Workflows, CronWorkflows and WorkflowTemplates of one namespace or of all, and every
ClusterWorkflowTemplate, through the kubernetes client's CustomObjectsApi, a page at a time.
List answers carry `apiVersion` and `kind` on each item; they are set when missing, so what
comes out reads like `kubectl get -o yaml`, but for a Workflow's status, of which only what the
audit reads is kept. A failure raises ClusterError in one line naming what could not be listed
and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

GROUP: Final = "argoproj.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
# (kind, plural, namespaced)
KINDS: Final = (
    ("Workflow", "workflows", True),
    ("CronWorkflow", "cronworkflows", True),
    ("WorkflowTemplate", "workflowtemplates", True),
    ("ClusterWorkflowTemplate", "clusterworkflowtemplates", False),
)
PAGE: Final = 500
TIMEOUT_SECONDS: Final = 30
# What the audit reads of a Workflow's status: whether it finished, and the spec it stored. The
# rest (nodes above all) can be megabytes per Workflow; it is dropped as each page arrives.
KEPT_STATUS: Final = ("phase", "storedWorkflowTemplateSpec")


class ClusterError(RuntimeError):
    """The API server could not be reached, or refused a list; one line saying which."""


def list_objects(
    api: Any, *, namespace: str | None = None, skipped: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Every Workflow, CronWorkflow, WorkflowTemplate (of `namespace`, or of all namespaces)
    and ClusterWorkflowTemplate, through `api` (a kubernetes.client.CustomObjectsApi).

    With a namespace, a user who may not list ClusterWorkflowTemplates (403) still gets the
    namespace's audit: `skipped` is told, and refs to cluster templates cannot be judged.
    """
    out: list[dict[str, Any]] = []
    for kind, plural, namespaced in KINDS:
        pages = _pages(api, plural, namespace if namespaced else None, namespaced)
        if namespace is not None and not namespaced:
            pages = _forbidden_is_empty(pages, plural, skipped)
        for item in pages:
            if isinstance(item, dict):
                item.setdefault("apiVersion", API_VERSION)
                item.setdefault("kind", kind)
                if kind == "Workflow" and isinstance(item.get("status"), dict):
                    status = item["status"]
                    item["status"] = {k: status[k] for k in KEPT_STATUS if k in status}
                out.append(item)
    return out


def _forbidden_is_empty(
    pages: Iterator[Any], plural: str, skipped: Callable[[str], None] | None
) -> Iterator[Any]:
    try:
        yield from pages
    except ClusterError as exc:
        if getattr(exc.__cause__, "status", None) != 403:
            raise
        if skipped is not None:
            skipped(f"{exc}: refs to them are reported as not found")


def _pages(api: Any, plural: str, namespace: str | None, namespaced: bool) -> Iterator[Any]:
    token = ""
    where = f" in namespace {namespace}" if namespace else ""
    while True:
        kwargs: dict[str, Any] = {"limit": PAGE, "_request_timeout": TIMEOUT_SECONDS}
        if token:
            kwargs["_continue"] = token
        try:
            if namespace is not None and namespaced:
                page = api.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, **kwargs
                )
            else:
                page = api.list_cluster_custom_object(GROUP, VERSION, plural, **kwargs)
        except Exception as exc:  # ApiException, urllib3 errors: said in one line
            raise ClusterError(f"cannot list {plural}{where}: {_reason(exc)}") from exc
        if not isinstance(page, dict):
            raise ClusterError(f"cannot list {plural}{where}: the answer is not a list")
        yield from page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status:
        return f"{status} {reason or ''}".strip()
    return " ".join(str(exc).split()) or type(exc).__name__
