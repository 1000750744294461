"""Events on refusals and audit findings (admission/core/events.py): what each says, where it
goes, and the limiter that keeps a flood of refusals from becoming a flood of Events."""

from __future__ import annotations

import yaml

from admission.core.config import Config
from admission.core.events import CLUSTER_EVENTS_NAMESPACE, Limiter, finding_event, refusal_event
from admission.core.inventory import Finding, Resource
from admission.core.policy import evaluate
from admission.core.review import parse_review
from admission.files.templates import FileTemplateSource
from support import BAD_WORKFLOW, FIXTURES, GOOD_WORKFLOW, make_review

LIBRARY = FileTemplateSource.from_paths([FIXTURES / "templates/library.yaml"])


def decided(text: str, *, mode: str = "enforce", dry_run: bool = False) -> tuple:
    review = make_review(yaml.safe_load(text), namespace="team-a", username="alice")
    review["request"]["dryRun"] = dry_run
    request = parse_review(review)
    config = Config(template_referencing="Strict", mode=mode)
    return request, evaluate(request, config=config, templates=LIBRARY)


def test_a_refusal_is_a_warning_event_on_the_object_naming_rule_and_user() -> None:
    request, decision = decided(BAD_WORKFLOW)
    out = refusal_event(request, decision, now=0.0, instance="pod-1")
    assert out is not None
    body = out.body
    assert body["type"] == "Warning" and body["reason"] == "PolicyViolation"
    assert body["metadata"] == {"generateName": "inline-.", "namespace": "team-a"}
    assert body["involvedObject"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "name": "inline-",
        "namespace": "team-a",
    }
    assert body["message"].startswith("CREATE by alice refused: [strict] ")
    assert body["reportingInstance"] == "pod-1" and body["lastTimestamp"] == "1970-01-01T00:00:00Z"
    assert out.key == ("Workflow", "team-a", "inline-", "strict")


def test_warn_mode_says_it_would_refuse_and_admissions_and_dry_runs_make_none() -> None:
    request, decision = decided(BAD_WORKFLOW, mode="warn")
    out = refusal_event(request, decision, now=0.0, instance="p")
    assert out is not None and "would refuse (mode: warn): [strict]" in out.body["message"]
    assert refusal_event(*decided(GOOD_WORKFLOW), now=0.0, instance="p") is None
    assert refusal_event(*decided(BAD_WORKFLOW, dry_run=True), now=0.0, instance="p") is None


def test_an_audit_finding_on_a_cluster_template_goes_to_default() -> None:
    resource = Resource("argoproj.io/v1alpha1", "ClusterWorkflowTemplate", "", "build", "u1")
    out = finding_event(
        Finding(resource, "restricted", "fail", "[restricted] x"), now=0, instance="p"
    )
    assert out is not None and out.body["metadata"]["namespace"] == CLUSTER_EVENTS_NAMESPACE
    assert (
        out.body["involvedObject"]["uid"] == "u1" and "namespace" not in out.body["involvedObject"]
    )
    assert finding_event(Finding(resource, "all-rules", "pass", "ok"), now=0, instance="p") is None


def test_the_limiter_sends_one_event_per_object_and_rule_per_interval() -> None:
    limiter = Limiter(per_minute=100, interval=300)
    key = ("Workflow", "team-a", "x", "strict")
    assert limiter.allow(key, now=0)
    assert not limiter.allow(key, now=299)
    assert limiter.allow(("Workflow", "team-a", "x", "overrides"), now=299)
    assert limiter.allow(key, now=300)


def test_the_limiter_sends_at_most_per_minute_and_refills() -> None:
    limiter = Limiter(per_minute=3, interval=0)
    sent = [limiter.allow(("W", "ns", str(i), "r"), now=0) for i in range(5)]
    assert sent == [True, True, True, False, False]
    assert limiter.allow(("W", "ns", "late", "r"), now=20)  # one token back after 20 s
    assert not limiter.allow(("W", "ns", "later", "r"), now=20)
