"""The audit in the cluster: every so often, judge what exists and keep PolicyReports current.

The server that holds the audit Lease (admission/cluster/leases.py; one holder among every
worker of every replica) lists the Workflows, CronWorkflows and templates, judges them with the
policy in force (Argo's ConfigMap included) exactly as `argo-admission audit` does
(admission/core/inventory.py), and writes one wgpolicyk8s.io/v1alpha2 PolicyReport per namespace
and a ClusterPolicyReport for ClusterWorkflowTemplates. A report whose results did not change is
not written again; the reports of namespaces left with nothing to audit are deleted. The holder
also keeps the gauge `argo_admission_audit_findings{rule,kind,namespace}`; a worker that loses
the Lease sets what it reported to zero, so the highest value across workers is the holder's.

A new holder audits at once, then every interval. Without the PolicyReport CRDs the findings
still reach the metric and the log, and each run says the reports could not be written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from admission.cluster.leases import LeaseElector
from admission.cluster.listing import ClusterError, list_objects
from admission.core import inventory
from admission.core.config import Config
from admission.files.templates import FileTemplateSource

log = logging.getLogger("argo_admission.background")

REPORT_GROUP: Final = "wgpolicyk8s.io"
REPORT_VERSION: Final = "v1alpha2"
SELECTOR: Final = ",".join(f"{k}={v}" for k, v in inventory.MANAGED_BY.items())
REQUEST_SECONDS: Final = 30
TICK_SECONDS: Final = 1.0
"""How often the loop looks at the Lease and the clock."""

FindingCounts = Mapping[tuple[str, str, str], int]
"""Problems by (rule, kind, namespace)."""


class ReportsUnavailable(RuntimeError):
    """The PolicyReport CRDs are not installed (or may not be listed)."""


@dataclass(frozen=True)
class Run:
    """What one audit found and wrote."""

    objects: int
    findings: int
    written: int
    deleted: int
    reports_error: str = ""


def finding_counts(findings: Iterable[inventory.Finding]) -> dict[tuple[str, str, str], int]:
    """Problems (fail, warn, error) counted by rule, kind and namespace."""
    return dict(
        Counter(
            (f.rule, f.resource.kind, f.resource.namespace) for f in inventory.problems(findings)
        )
    )


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


class BackgroundAudit:
    """Audits the cluster every `interval` seconds while this process holds the Lease."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        interval: float,
        elector: LeaseElector,
        config: Callable[[], Config],
        ready: Callable[[], bool],
        findings: Callable[[FindingCounts | None], None],
        ran: Callable[[bool], None],
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
        on_findings: Callable[[list[inventory.Finding]], None] | None = None,
    ) -> None:
        self.on_findings = on_findings
        self.objects = client.CustomObjectsApi(api_client)
        self.writer = ReportWriter(self.objects)
        self.interval, self.elector = interval, elector
        self.config, self.ready = config, ready
        self.findings, self.ran = findings, ran
        self.clock, self.now = clock, now
        self._stop = threading.Event()

    def start(self) -> None:
        """Elect and audit in the background (in each worker, after the fork)."""
        self.elector.start()
        threading.Thread(target=self.run, name="background-audit", daemon=True).start()

    def close(self) -> None:
        """Stop auditing and give the Lease up."""
        self._stop.set()
        self.elector.close()

    def run(self) -> None:
        """Audit on taking the Lease and every interval after, while holding it."""
        due: float | None = None  # None: not the holder
        while not self._stop.wait(TICK_SECONDS):
            if not (self.ready() and self.elector.is_leader()):
                if due is not None:  # lost the Lease: what this worker reported is not current
                    self.findings(None)
                due = None
                continue
            if due is not None and self.clock() < due:
                continue
            due = self.clock() + self.interval
            try:
                self.audit_once()
            except Exception:  # the loop must outlive any surprise; the next run tries again
                log.exception("the background audit failed")
                self.ran(False)

    def audit_once(self) -> Run:
        """List, judge, write the reports, set the gauge; one log line saying what happened."""
        began = self.clock()
        try:
            objects = list_objects(self.objects)
        except ClusterError as exc:
            log.error("the background audit could not list the cluster: %s", exc)
            self.ran(False)
            return Run(0, 0, 0, 0, str(exc))
        audited = [o for o in objects if inventory.is_audited(o)]
        findings = inventory.audit(
            audited, config=self.config(), templates=FileTemplateSource(objects)
        )
        reports = inventory.policy_reports(findings, timestamp=int(self.now()))
        counts = finding_counts(findings)
        if not self.elector.is_leader():  # the Lease moved while listing: the new holder writes
            return Run(len(audited), sum(counts.values()), 0, 0, "lost the Lease")
        self.findings(counts)
        if self.on_findings is not None:
            self.on_findings(findings)
        error = ""
        written = deleted = 0
        try:
            written, deleted = self.writer.write(reports)
        except ReportsUnavailable as exc:
            error = str(exc)
        self.ran(True)
        run = Run(len(audited), sum(counts.values()), written, deleted, error)
        log.log(
            logging.WARNING if error else logging.INFO,
            "background audit: %d object(s), %d finding(s); %s in %.2fs",
            run.objects,
            run.findings,
            f"PolicyReports not written: {error}"
            if error
            else f"{written} PolicyReport(s) written, {deleted} deleted",
            self.clock() - began,
            extra={"objects": run.objects, "findings": run.findings},
        )
        return run
