"""PolicyReports written to the cluster: created, replaced when their results change, deleted
when their namespace has nothing left to audit. Only the reports argo-admission manages (by label)
are touched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from admission.core import inventory

REPORT_GROUP: Final = "wgpolicyk8s.io"
REPORT_VERSION: Final = "v1alpha2"
SELECTOR: Final = ",".join(f"{k}={v}" for k, v in inventory.MANAGED_BY.items())
REQUEST_SECONDS: Final = 30


class ReportsUnavailable(RuntimeError):
    """The PolicyReport CRDs are not installed (or may not be listed)."""


def unchanged(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a stored report says what `wanted` says, timestamps aside."""

    def results(report: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in r.items() if k != "timestamp"} for r in report.get("results") or []
        ]

    return results(existing) == results(wanted) and existing.get("summary") == wanted.get("summary")


class ReportWriter:
    """Creates, updates and deletes the PolicyReports argo-admission manages."""

    def __init__(self, api: client.CustomObjectsApi) -> None:
        self.api: Any = api  # bodies are dicts, answers parsed dicts

    def write(self, reports: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """Make the stored reports these; (written, deleted). ReportsUnavailable without CRDs."""
        existing = {_key(r): r for r in self._ours()}
        written = 0
        for report in reports:
            old = existing.pop(_key(report), None)
            if old is not None and unchanged(old, report):
                continue
            self._put(report, old)
            written += 1
        for stale in existing.values():
            self._delete(stale)
        return written, len(existing)

    def _ours(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kinds = (("policyreports", "PolicyReport"), ("clusterpolicyreports", "ClusterPolicyReport"))
        for plural, kind in kinds:
            try:
                answer = self.api.list_cluster_custom_object(
                    REPORT_GROUP,
                    REPORT_VERSION,
                    plural,
                    label_selector=SELECTOR,
                    _request_timeout=REQUEST_SECONDS,
                )
            except ApiException as exc:
                if exc.status in (403, 404):
                    raise ReportsUnavailable(
                        f"cannot list {plural}.{REPORT_GROUP}/{REPORT_VERSION} ({exc.status} "
                        f"{exc.reason}): are the PolicyReport CRDs installed, and may the "
                        "server write them?"
                    ) from exc
                raise
            for item in answer.get("items") or []:
                item.setdefault("kind", kind)
                out.append(item)
        return out

    def _put(self, report: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        meta = report["metadata"]
        namespace = meta.get("namespace")
        plural = "policyreports" if namespace else "clusterpolicyreports"
        if old is None:
            if namespace:
                self.api.create_namespaced_custom_object(
                    REPORT_GROUP, REPORT_VERSION, namespace, plural, report,
                    _request_timeout=REQUEST_SECONDS,
                )  # fmt: skip
            else:
                self.api.create_cluster_custom_object(
                    REPORT_GROUP, REPORT_VERSION, plural, report, _request_timeout=REQUEST_SECONDS
                )
            return
        body = {
            **report,
            "metadata": {**meta, "resourceVersion": old["metadata"].get("resourceVersion")},
        }
        if namespace:
            self.api.replace_namespaced_custom_object(
                REPORT_GROUP, REPORT_VERSION, namespace, plural, meta["name"], body,
                _request_timeout=REQUEST_SECONDS,
            )  # fmt: skip
        else:
            self.api.replace_cluster_custom_object(
                REPORT_GROUP, REPORT_VERSION, plural, meta["name"], body,
                _request_timeout=REQUEST_SECONDS,
            )  # fmt: skip

    def _delete(self, report: Mapping[str, Any]) -> None:
        meta = report["metadata"]
        try:
            if meta.get("namespace"):
                self.api.delete_namespaced_custom_object(
                    REPORT_GROUP, REPORT_VERSION, meta["namespace"], "policyreports",
                    meta["name"], _request_timeout=REQUEST_SECONDS,
                )  # fmt: skip
            else:
                self.api.delete_cluster_custom_object(
                    REPORT_GROUP, REPORT_VERSION, "clusterpolicyreports", meta["name"],
                    _request_timeout=REQUEST_SECONDS,
                )  # fmt: skip
        except ApiException as exc:
            if exc.status != 404:
                raise


def _key(report: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = report.get("metadata") or {}
    return (str(report.get("kind")), meta.get("namespace") or "", meta.get("name") or "")
