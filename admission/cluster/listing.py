"""Argo objects listed from the API server, for `argo-admission audit`.

Workflows, CronWorkflows and WorkflowTemplates of one namespace or of all, and every
ClusterWorkflowTemplate, through the kubernetes client's CustomObjectsApi, a page at a time.
List answers carry `apiVersion` and `kind` on each item; they are set when missing, so what
comes out reads like `kubectl get -o yaml`, but for a Workflow's status, of which only what the
audit reads is kept. A failure raises ClusterError in one line naming what could not be listed
and why.

`pages` yields the objects a page at a time (limit/continue), so an audit of 100,000 Workflows
judges each page and keeps only its findings, never the whole list; `get_workflow` reads one
Workflow (the original of a resubmit) when a rule asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
TEMPLATES: Final = ("WorkflowTemplate", "ClusterWorkflowTemplate")
PAGE: Final = 500
TIMEOUT_SECONDS: Final = 30
# What the audit reads of a Workflow's status: whether it finished, and the spec it stored. The
# rest (nodes above all) can be megabytes per Workflow; it is dropped as each page arrives.
KEPT_STATUS: Final = ("phase", "storedWorkflowTemplateSpec")


class ClusterError(RuntimeError):
    """The API server could not be reached, or refused a list; one line saying which."""


Skipped = Callable[[str], None] | None
"""Told why a kind could not be listed where the audit goes on without it."""


def list_objects(
    api: Any, *, namespace: str | None = None, skipped: Skipped = None
) -> list[dict[str, Any]]:
    """Every Workflow, CronWorkflow, WorkflowTemplate (of `namespace`, or of all namespaces)
    and ClusterWorkflowTemplate, through `api` (a kubernetes.client.CustomObjectsApi)."""
    return [item for page in pages(api, namespace=namespace, skipped=skipped) for item in page]


def pages(
    api: Any,
    *,
    namespace: str | None = None,
    kinds: tuple[str, ...] = (),
    skipped: Skipped = None,
) -> Iterator[list[dict[str, Any]]]:
    """The objects of `kinds` (all of KINDS when empty), one page at a time, in KINDS order;
    each page is fetched when the one before it has been consumed.

    With a namespace, a user who may not list ClusterWorkflowTemplates (403) still gets the
    namespace's audit: `skipped` is told, and refs to cluster templates cannot be judged.
    """
    for kind, plural, namespaced in KINDS:
        if kinds and kind not in kinds:
            continue
        found = _pages(api, plural, namespace if namespaced else None, namespaced)
        if namespace is not None and not namespaced:
            found = _forbidden_is_empty(found, skipped)
        for page in found:
            yield [_completed(item, kind) for item in page if isinstance(item, dict)]


def _forbidden_is_empty(pages: Iterator[list[Any]], skipped: Skipped) -> Iterator[list[Any]]:
    try:
        yield from pages
    except ClusterError as exc:
        if getattr(exc.__cause__, "status", None) != 403:
            raise
        if skipped is not None:
            skipped(f"{exc}: refs to them are reported as not found")


def get_workflow(api: Any, namespace: str, name: str) -> dict[str, Any] | None:
    """The Workflow `namespace/name` as `pages` gives it, or None when there is none."""
    try:
        item = api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "workflows", name, _request_timeout=TIMEOUT_SECONDS
        )
    except Exception as exc:  # ApiException, urllib3 errors: said in one line
        if getattr(exc, "status", None) == 404:
            return None
        raise ClusterError(f"cannot get workflow {namespace}/{name}: {_reason(exc)}") from exc
    return _completed(item, "Workflow") if isinstance(item, dict) else None


def _completed(item: dict[str, Any], kind: str) -> dict[str, Any]:
    """apiVersion and kind set; a Workflow's status cut to what the audit reads."""
    item.setdefault("apiVersion", API_VERSION)
    item.setdefault("kind", kind)
    if kind == "Workflow" and isinstance(item.get("status"), dict):
        status = item["status"]
        item["status"] = {k: status[k] for k in KEPT_STATUS if k in status}
    return item


def _pages(api: Any, plural: str, namespace: str | None, namespaced: bool) -> Iterator[list[Any]]:
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
        yield page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status:
        return f"{status} {reason or ''}".strip()
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class Listing:
    """The cluster's objects as an audit reads them: the (Cluster)WorkflowTemplates whole (every
    Workflow is judged against them), the Workflows and CronWorkflows page by page, and one
    Workflow on demand (a resubmit's original)."""

    templates: list[dict[str, Any]]
    pages: Iterator[list[dict[str, Any]]]
    workflow: Callable[[str, str], dict[str, Any] | None]


def streamed(api: Any, *, namespace: str | None = None, skipped: Skipped = None) -> Listing:
    """A Listing through `api`: the templates listed now, the rest as the pages are read."""
    listed = pages(api, namespace=namespace, kinds=TEMPLATES, skipped=skipped)
    templates = [o for page in listed for o in page]
    return Listing(
        templates=templates,
        pages=pages(api, namespace=namespace, kinds=("Workflow", "CronWorkflow")),
        workflow=lambda ns, name: get_workflow(api, ns, name),
    )
