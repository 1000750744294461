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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from admission.cluster import objects_api
from admission.cluster.leases import LeaseElector
from admission.cluster.listing import ClusterError, list_objects
from admission.cluster.reports import ReportsUnavailable, ReportWriter
from admission.core import inventory
from admission.core.config import Config
from admission.files.templates import FileTemplateSource

log = logging.getLogger("argo_admission.background")

TICK_SECONDS: Final = 1.0
"""How often the loop looks at the Lease and the clock."""

FindingCounts = Mapping[tuple[str, str, str], int]
"""Problems by (rule, kind, namespace)."""


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


class BackgroundAudit:
    """Audits the cluster every `interval` seconds while this process holds the Lease."""

    def __init__(
        self,
        api_client: Any,
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
        self.objects = objects_api(api_client)
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
