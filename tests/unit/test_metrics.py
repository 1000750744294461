"""The metrics in process: every series from the start, rules counted once each, state gauges."""

from __future__ import annotations

import platform
import typing
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from admission import __version__
from admission.core.config import Config
from admission.core.policy import rules
from admission.server import metrics
from admission.server.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(of: Metrics) -> Samples:
    """Every sample of the exposition, keyed by (name, sorted labels)."""
    text = of.exposition()[0].decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def named(found: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (sample, labels), value in found.items() if sample == name}


def test_every_rule_the_policy_can_name_has_its_series() -> None:
    # the Context takes only rules.Rule names (mypy checks every call), and the series are those
    assert metrics.RULES == typing.get_args(rules.Rule)
    assert len(set(metrics.RULES)) == len(metrics.RULES) > 15


def test_fresh_metrics_show_every_known_series_at_zero() -> None:
    found = samples(Metrics.create())
    requests = named(found, "argo_admission_requests_total")
    assert len(requests) == sum(len(d) for d in metrics.DECISIONS.values())
    assert requests[(("decision", "deny"), ("endpoint", "validate"))] == 0
    assert requests[(("decision", "patch"), ("endpoint", "mutate"))] == 0
    violations = named(found, "argo_admission_rule_violations_total")
    assert len(violations) == len(metrics.VALIDATING) * len(metrics.RULES) * 3
    assert set(violations.values()) == {0}
    objects = named(found, "argo_admission_reviewed_objects_total")
    assert objects[(("endpoint", "mutate"), ("kind", "Workflow"), ("operation", "CREATE"))] == 0
    assert named(found, "argo_admission_template_lookups_total").keys() == {
        (("result", r),) for r in metrics.LOOKUP_RESULTS
    }
    assert named(found, "argo_admission_workflow_lookups_total") == {
        (("result", r),): 0 for r in ("hit", "miss", "fresh", "error")
    }
    assert named(found, "argo_admission_config_reloads_total").keys() == {
        (("result", r),) for r in metrics.RELOAD_RESULTS
    }
    assert len(named(found, "argo_admission_request_duration_seconds_count")) == 3


def test_a_request_breaking_two_rules_counts_each_rule_once_and_the_request_once() -> None:
    counted = Metrics.create()
    counted.count_request(
        "validate",
        decision="deny",
        seconds=0.001,
        kind="workflow",
        operation="CREATE",
        rules=["overrides", "status", "overrides"],
    )
    found = samples(counted)
    violations = named(found, "argo_admission_rule_violations_total")
    assert {dict(labels)["rule"]: v for labels, v in violations.items() if v} == {
        "overrides": 1,
        "status": 1,
    }
    assert (
        named(found, "argo_admission_requests_total")[
            (("decision", "deny"), ("endpoint", "validate"))
        ]
        == 1
    )
    assert (
        named(found, "argo_admission_reviewed_objects_total")[
            (("endpoint", "validate"), ("kind", "Workflow"), ("operation", "CREATE"))
        ]
        == 1
    )


def test_a_body_that_is_no_review_counts_no_object() -> None:
    counted = Metrics.create()
    counted.count_request("mutate", decision="invalid", seconds=0.001)
    found = samples(counted)
    assert (
        named(found, "argo_admission_requests_total")[
            (("decision", "invalid"), ("endpoint", "mutate"))
        ]
        == 1
    )
    assert set(named(found, "argo_admission_reviewed_objects_total").values()) == {0}


def test_build_info_names_version_commit_and_python() -> None:
    build = named(samples(Metrics.create()), "argo_admission_build_info")
    [(labels, value)] = build.items()
    shown = dict(labels)
    assert value == 1
    assert shown["version"] == __version__ and shown["python"] == platform.python_version()
    assert shown["commit"]


def test_the_commit_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metrics.COMMIT_ENV, "abc123")
    assert metrics.build_labels()["commit"] == "abc123"


def test_a_checkout_commit_is_read_from_a_branch_or_packed_refs(tmp_path: Path) -> None:
    package = tmp_path / "admission"
    package.mkdir()
    git = tmp_path / ".git"
    (git / "refs/heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs\nfeedbeef refs/heads/main\n")
    assert metrics.checkout_commit(package) == "feedbeef"
    (git / "refs/heads/main").write_text("c0ffee\n")
    assert metrics.checkout_commit(package) == "c0ffee"
    assert metrics.checkout_commit(tmp_path / "elsewhere" / "admission") == ""


def test_policy_info_and_certificate_expiry_are_read_when_scraped() -> None:
    state = Metrics.create()
    found = samples(state)
    assert not named(found, "argo_admission_policy_info")
    assert not named(found, "argo_admission_certificate_expiry_timestamp_seconds")
    policy = [Config(template_referencing="Secure", source="a.yaml")]
    state.follow(policy=lambda: policy[0], certificate=lambda: 1_900_000_000.0)
    found = samples(state)
    assert named(found, "argo_admission_policy_info") == {
        (("mode", "enforce"), ("source", "a.yaml"), ("template_referencing", "Secure")): 1
    }
    assert named(found, "argo_admission_certificate_expiry_timestamp_seconds") == {
        (): 1_900_000_000.0
    }
    policy[0] = Config(mode="warn", source="b.yaml")
    assert named(samples(state), "argo_admission_policy_info") == {
        (("mode", "warn"), ("source", "b.yaml"), ("template_referencing", "")): 1
    }


def test_workflow_lookups_are_counted_by_result() -> None:
    created = Metrics.create()
    created.count_workflow_lookup("hit")
    created.count_workflow_lookup("hit")
    created.count_workflow_lookup("fresh")
    found = named(samples(created), "argo_admission_workflow_lookups_total")
    assert found[(("result", "hit"),)] == 2 and found[(("result", "fresh"),)] == 1
    assert found[(("result", "miss"),)] == 0
