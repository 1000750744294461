"""The background audit's pure parts: its interval, what makes a report worth writing, the gauge.

The audit itself, the Lease and the reports run against the real API server in
tests/e2e/test_background_audit.py.
"""

from __future__ import annotations

import argparse

import pytest
from prometheus_client import generate_latest

from admission.cli.argtypes import duration
from admission.cluster.reports import unchanged
from admission.core import inventory
from admission.server.background import finding_counts
from admission.server.metrics import Metrics


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1.5h", 5400), ("300", 300)],
)
def test_an_interval_is_written_as_go_writes_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1d", "5 m", "m5", "1h5", "-5m", "0s", "0", "nan"])
def test_anything_else_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as error:
        duration(text)
    assert "\n" not in str(error.value) and (text in str(error.value) or not text)


def finding(kind: str, namespace: str, name: str, rule: str, result: str) -> inventory.Finding:
    resource = inventory.Resource("argoproj.io/v1alpha1", kind, namespace, name)
    return inventory.Finding(resource, rule, result, f"{rule} {result}")


FINDINGS = [
    finding("Workflow", "team-a", "a", "strict", "fail"),
    finding("Workflow", "team-a", "b", "strict", "fail"),
    finding("Workflow", "team-a", "c", inventory.PASSED, "pass"),
    finding("CronWorkflow", "team-b", "d", "strict", "fail"),
    finding("Workflow", "team-b", "e", "template-lookup", "error"),
    finding("Workflow", "exempt", "f", inventory.PASSED, "skip"),
]


def test_findings_are_counted_by_rule_kind_and_namespace_passes_left_out() -> None:
    assert finding_counts(FINDINGS) == {
        ("strict", "Workflow", "team-a"): 2,
        ("strict", "CronWorkflow", "team-b"): 1,
        ("template-lookup", "Workflow", "team-b"): 1,
    }


def test_a_report_is_rewritten_only_when_its_results_change() -> None:
    old = inventory.policy_reports(FINDINGS, timestamp=1)
    again = inventory.policy_reports(FINDINGS, timestamp=2)
    assert all(unchanged(o, a) for o, a in zip(old, again, strict=True))
    fixed = inventory.policy_reports(FINDINGS[1:], timestamp=2)
    assert [unchanged(o, f) for o, f in zip(old, fixed, strict=True)] == [True, False, True]


def test_the_gauge_follows_the_last_audit_and_clears_when_the_lease_is_lost() -> None:
    metrics = Metrics.create()

    def series() -> dict[tuple[str, str, str], float]:
        text = generate_latest(metrics.registry).decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("argo_admission_audit_findings{"):
                labels, value = line.rsplit(" ", 1)
                parts = dict(p.split("=") for p in labels[labels.index("{") + 1 : -1].split(","))
                key = tuple(parts[k].strip('"') for k in ("rule", "kind", "namespace"))
                out[key] = float(value)
        return out  # type: ignore[return-value]

    metrics.set_audit_findings(finding_counts(FINDINGS))
    assert series()[("strict", "Workflow", "team-a")] == 2
    metrics.set_audit_findings(finding_counts(FINDINGS[1:]))
    assert series()[("strict", "Workflow", "team-a")] == 1
    metrics.set_audit_findings(finding_counts(FINDINGS[3:4]))
    assert series() == {
        ("strict", "Workflow", "team-a"): 0,
        ("strict", "CronWorkflow", "team-b"): 1,
        ("template-lookup", "Workflow", "team-b"): 0,
    }
    metrics.set_audit_findings(None)
    assert set(series().values()) == {0}
    metrics.count_audit(True)
    text = generate_latest(metrics.registry).decode()
    assert 'argo_admission_audit_runs_total{result="ok"} 1.0' in text
    assert 'argo_admission_audit_runs_total{result="failed"} 0.0' in text
