"""/metrics of the real server (gunicorn workers, multiprocess metrics): from the first scrape on.

Every series the webhook knows is there at zero before the first admission request; the build,
the policy in force and the served certificate's expiry are gauges that follow reloads and
rotations; a request that breaks two rules counts once for each.
"""

from __future__ import annotations

import platform

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from admission import __version__
from admission.server import metrics
from admission.server.tls import certificate_expiry
from tests.integration.conftest import (
    POLICIES,
    Server,
    StartServer,
    free_port,
    load,
    replace_file,
    review_of,
    rotate,
    wait_for,
)

pytestmark = pytest.mark.integration

Labels = tuple[tuple[str, str], ...]


def series(server: Server, name: str) -> dict[Labels, float]:
    """The samples of one metric, keyed by their sorted labels."""
    return {labels: value for (sample, labels), value in server.metrics().items() if sample == name}


def scraped(server: Server, name: str) -> dict[Labels, float]:
    """Like series, over a new connection: any worker may answer it."""
    with requests.Session() as session:
        text = session.get(server.url + "/metrics", verify=server.ca, timeout=30).text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def every_worker_shows(server: Server, name: str, expected: dict[Labels, float]) -> bool:
    """Whether six scrapes on new connections (any worker) all show `expected`."""
    return all(scraped(server, name) == expected for _ in range(6))


def policy_info(server: Server) -> list[dict[str, str]]:
    return [dict(labels) for labels in series(server, "argo_admission_policy_info")]


def test_before_the_first_request_every_series_is_there(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=2)
    requests = series(server, "argo_admission_requests_total")
    assert len(requests) == sum(len(d) for d in metrics.DECISIONS.values())
    assert set(requests.values()) == {0}
    violations = series(server, "argo_admission_rule_violations_total")
    assert {dict(labels)["rule"] for labels in violations} == set(metrics.RULES)
    assert set(violations.values()) == {0}
    objects = series(server, "argo_admission_reviewed_objects_total")
    assert (("endpoint", "validate"), ("kind", "CronWorkflow"), ("operation", "UPDATE")) in objects
    assert len(series(server, "argo_admission_request_duration_seconds_count")) == 3
    lookups = series(server, "argo_admission_template_lookups_total")
    assert lookups == {(("result", r),): 0 for r in metrics.LOOKUP_RESULTS}
    [(build, one)] = series(server, "argo_admission_build_info").items()
    assert one == 1
    assert dict(build)["version"] == __version__
    assert dict(build)["python"] == platform.python_version()
    assert policy_info(server) == [
        {"mode": "enforce", "source": str(server.policy), "template_referencing": "Secure"}
    ]
    expiry = series(server, "argo_admission_certificate_expiry_timestamp_seconds")
    assert expiry == {(): certificate_expiry(server.cert_dir / "tls.crt")}


def test_a_denial_breaking_two_rules_counts_once_per_rule(server: Server) -> None:
    def violations() -> dict[str, float]:
        found = series(server, "argo_admission_rule_violations_total")
        return {
            dict(labels)["rule"]: value
            for labels, value in found.items()
            if dict(labels)["endpoint"] == "validate" and dict(labels)["decision"] == "deny"
        }

    denials = (("decision", "deny"), ("endpoint", "validate"))
    before, denied_before = violations(), series(server, "argo_admission_requests_total")[denials]
    response = server.admit(review_of(load("ref-two-rules")))
    assert response["allowed"] is False
    after = violations()
    changed = {rule: after[rule] - before[rule] for rule in after if after[rule] != before[rule]}
    assert changed == {"overrides": 1, "status": 1}
    assert series(server, "argo_admission_requests_total")[denials] - denied_before == 1


def test_policy_info_follows_a_reload_and_the_expiry_a_rotation(start_server: StartServer) -> None:
    server = start_server("enforce.yaml", workers=2)
    assert server.policy is not None
    replace_file(server.policy, (POLICIES / "warn.yaml").read_text())
    warn = (("mode", "warn"), ("source", str(server.policy)), ("template_referencing", "Secure"))
    wait_for(
        lambda: every_worker_shows(server, "argo_admission_policy_info", {warn: 1}),
        what="policy_info saying warn, and only warn, from every worker",
    )
    rotate(server.cert_dir, days=30)
    rotated = certificate_expiry(server.cert_dir / "tls.crt")
    assert rotated is not None
    wait_for(
        lambda: every_worker_shows(
            server, "argo_admission_certificate_expiry_timestamp_seconds", {(): rotated}
        ),
        what="the rotated certificate's expiry from every worker",
    )


def test_the_plain_metrics_port_serves_what_the_https_port_serves(
    start_server: StartServer,
) -> None:
    """--metrics-port: the same series over plain HTTP (for scrapers without TLS), only /metrics."""
    port = free_port()
    server = start_server(args=["--metrics-port", str(port)])
    wait_for(lambda: _plain(port).status_code == 200, what="the plain metrics port")
    plain = {
        s.name
        for family in text_string_to_metric_families(_plain(port).text)
        for s in family.samples
    }
    assert {"argo_admission_build_info", "argo_admission_requests_total"} <= plain
    assert "argo_admission_certificate_expiry_timestamp_seconds" in plain
    assert requests.get(f"http://127.0.0.1:{port}/validate", timeout=10).status_code == 404
    assert series(server, "argo_admission_build_info")


def _plain(port: int) -> requests.Response:
    try:
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    except requests.RequestException:
        response = requests.Response()
        response.status_code = 0
        return response
