"""`audit`: objects judged as they stand (fixtures in tests/fixtures/audit), PolicyReports, the
cluster listing and the command line."""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

import shapes
from admission.cli.commands import AuditOptions, audit
from admission.cluster.listing import ClusterError, list_objects, streamed
from admission.core import inventory, policy
from admission.core.inventory import Finding, policy_reports, problems
from admission.core.inventory import audit as audit_objects
from admission.core.review import make_review, parse_review
from admission.files.manifests import Reader, read_documents
from admission.files.policy import load_config
from admission.files.templates import FileTemplateSource
from support import FIXTURES, run_cli

ROOT = Path(__file__).resolve().parents[2]
AUDIT = FIXTURES / "audit"
OBJECTS = read_documents(AUDIT / "objects.yaml")
EXPECTED: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(
    (AUDIT / "expected.yaml").read_text()
)
CASES = [(p, title) for p, objects in EXPECTED.items() for title in objects]


def title(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}".replace(" /", " ")


def findings_under(policy_file: str) -> list[Finding]:
    config = load_config(ROOT / policy_file)
    return audit_objects(OBJECTS, config=config, templates=FileTemplateSource(OBJECTS))


def flagged(findings: list[Finding]) -> dict[str, Any]:
    """`Kind ns/name` -> sorted rules of its problems, or "skip"."""
    out: dict[str, Any] = {}
    for f in findings:
        key = f"{f.resource.kind} {f.resource.namespace}/{f.resource.name}"
        rules = out.setdefault(key, [])
        if f.result == "skip":
            out[key] = "skip"
        elif f.is_problem:
            rules.append(f.rule)
    return {k: sorted(v) if isinstance(v, list) else v for k, v in out.items()}


@pytest.mark.parametrize(("policy_file", "case"), CASES, ids=[f"{p}:{t}" for p, t in CASES])
def test_each_object_yields_what_expected_yaml_says(policy_file: str, case: str) -> None:
    expected = EXPECTED[policy_file][case]
    assert flagged(findings_under(policy_file))[case] == expected["rules"], expected["why"]


def test_expected_yaml_names_every_audited_object_of_the_fixture() -> None:
    audited = {title(o) for o in OBJECTS if o["kind"] != "WorkflowTaskResult"}
    for policy_file, cases in EXPECTED.items():
        assert set(cases) == audited, policy_file
        assert set(flagged(findings_under(policy_file))) == audited  # task results not judged


def test_the_started_workflows_status_would_be_refused_at_a_create() -> None:
    """What the audit leaves out: the status rule refuses the controller's status from a user."""
    started = next(o for o in OBJECTS if o["metadata"]["name"] == "hello-started")
    request = parse_review(make_review(started, namespace="team-a", username="alice"))
    decision = policy.evaluate(
        request,
        config=load_config(ROOT / "policies/secure.yaml"),
        templates=FileTemplateSource(OBJECTS),
    )
    assert "status" in {v.rule for v in decision.violations}
    assert flagged(findings_under("policies/secure.yaml"))[title(started)] == []


def test_the_secure_finding_shows_what_changed_in_the_template() -> None:
    (finding,) = [f for f in findings_under("policies/secure.yaml") if f.rule == "secure"]
    assert finding.resource.name == "hello-before-edit" and finding.result == "fail"
    assert "WorkflowTemplate team-a/hello changed after this Workflow started" in finding.message
    assert "spec.templates[name=main].container.image: 'alpine:3.18' -> 'alpine:3.19'" in (
        finding.message
    )


def test_a_workflow_whose_template_is_gone_is_flagged() -> None:
    objects = [o for o in OBJECTS if o["kind"] != "WorkflowTemplate"]
    found = audit_objects(
        objects,
        config=load_config(ROOT / "policies/secure.yaml"),
        templates=FileTemplateSource(objects),
    )
    rules = flagged(found)["Workflow team-a/hello-started"]
    assert "secure" in rules and "template-ref" in rules


def test_authors_are_not_judged_by_an_audit(tmp_path: Path) -> None:
    """templateLibrary.authors is about who writes; the audit's requester is no one."""
    policy_file = tmp_path / "authors.yaml"
    text = (ROOT / "policies/secure.yaml").read_text()
    policy_file.write_text(
        text.replace("templateLibrary:", "templateLibrary:\n  authors: {groups: [platform]}")
    )
    config = load_config(policy_file)
    assert config.template_library.authors is not None
    found = audit_objects(OBJECTS, config=config, templates=FileTemplateSource(OBJECTS))
    assert flagged(found)["WorkflowTemplate team-a/hello"] == []


# --- PolicyReports --------------------------------------------------------------------------


def test_policy_reports_one_per_namespace_and_one_for_the_cluster() -> None:
    cluster_template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterWorkflowTemplate",
        "metadata": {"name": "shared", "uid": "uid-shared"},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "a"}}],
        },
    }
    objects = [*OBJECTS, cluster_template]
    found = audit_objects(
        objects,
        config=load_config(ROOT / "policies/secure.yaml"),
        templates=FileTemplateSource(objects),
    )
    reports = policy_reports(found, timestamp=1764324000)
    kinds = [(r["kind"], r["metadata"].get("namespace")) for r in reports]
    assert kinds == [
        ("ClusterPolicyReport", None),
        ("PolicyReport", "kube-system"),
        ("PolicyReport", "team-a"),
    ]
    for report in reports:
        assert report["apiVersion"] == "wgpolicyk8s.io/v1alpha2"
        assert report["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "argo-admission"}
        results = report["results"]
        assert {r["policy"] for r in results} == {"argo-admission"}
        assert report["summary"] == {
            result: sum(r["result"] == result for r in results)
            for result in ("pass", "fail", "warn", "error", "skip")
        }
        for r in results:
            assert r["timestamp"] == {"seconds": 1764324000, "nanos": 0}
            assert r["result"] in ("pass", "fail", "warn", "error", "skip")
            assert len(r["resources"]) == 1
    team_a = reports[2]
    assert team_a["scope"] == {"apiVersion": "v1", "kind": "Namespace", "name": "team-a"}
    (secure,) = [r for r in team_a["results"] if r["rule"] == "secure"]
    assert secure["result"] == "fail"
    assert secure["resources"] == [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "name": "hello-before-edit",
            "namespace": "team-a",
            "uid": "uid-hello-before-edit",
        }
    ]
    assert team_a["summary"]["fail"] == 2 and team_a["summary"]["pass"] == 4
    (cluster,) = reports[0]["results"]
    assert "scope" not in reports[0] and "namespace" not in cluster["resources"][0]


def test_a_report_keeps_its_problems_and_as_many_passes_as_one_object_may_hold() -> None:
    """Thousands of Workflows in a namespace: the problems stay, passes fill up to the limit,
    the summary counts everything and an annotation says how many results were left out."""

    def finding(name: str, result: str, message: str = "ok") -> Finding:
        resource = inventory.Resource("argoproj.io/v1alpha1", "Workflow", "big", name)
        return Finding(
            resource, "strict" if result == "fail" else inventory.PASSED, result, message
        )

    long = "[secure] " + "x" * 5000
    found = [finding(f"ok-{i:05}", "pass") for i in range(inventory.MAX_RESULTS * 3)]
    found += [finding(f"bad-{i}", "fail", long) for i in range(3)]
    (report,) = policy_reports(found, timestamp=1)
    results = report["results"]
    assert len(results) == inventory.MAX_RESULTS
    assert [r["result"] for r in results].count("fail") == 3
    assert report["summary"]["pass"] == inventory.MAX_RESULTS * 3
    assert report["summary"]["fail"] == 3
    omitted = len(found) - inventory.MAX_RESULTS
    assert report["metadata"]["annotations"] == {inventory.OMITTED: str(omitted)}
    message = next(r["message"] for r in results if r["result"] == "fail")
    assert len(message) <= inventory.MAX_MESSAGE and "(5009 characters" in message
    assert len(json.dumps(report)) < 1024 * 1024
    (small,) = policy_reports(found[-4:], timestamp=1)
    assert "annotations" not in small["metadata"] and len(small["results"]) == 4


# --- the cluster listing --------------------------------------------------------------------


class FakeApi:
    """CustomObjectsApi's two list calls over canned objects, two to a page."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]], fail: str = "") -> None:
        self.objects = objects
        self.fail = fail
        self.calls: list[tuple[str, str | None, str]] = []

    def _page(self, plural: str, namespace: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((plural, namespace, kwargs.get("_continue", "")))
        if plural == self.fail:
            error = RuntimeError("forbidden")
            error.status, error.reason = 403, "Forbidden"  # type: ignore[attr-defined]
            raise error
        items = [
            o
            for o in self.objects.get(plural, [])
            if namespace is None or o["metadata"].get("namespace") == namespace
        ]
        start = int(kwargs.get("_continue") or 0)
        rest = str(start + 2) if start + 2 < len(items) else ""
        return {"items": copy.deepcopy(items[start : start + 2]), "metadata": {"continue": rest}}

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **kwargs: Any
    ) -> dict[str, Any]:
        assert (group, version) == ("argoproj.io", "v1alpha1")
        return self._page(plural, namespace, kwargs)

    def list_cluster_custom_object(
        self, group: str, version: str, plural: str, **kwargs: Any
    ) -> dict[str, Any]:
        return self._page(plural, None, kwargs)

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **kwargs: Any
    ) -> dict[str, Any]:
        for obj in self.objects.get(plural, []):
            if obj["metadata"]["name"] == name and obj["metadata"].get("namespace") == namespace:
                return copy.deepcopy(obj)
        error = RuntimeError("not found")
        error.status, error.reason = 404, "Not Found"  # type: ignore[attr-defined]
        raise error


def cluster_objects() -> dict[str, list[dict[str, Any]]]:
    """The fixture's objects as the API lists them: by plural, without apiVersion and kind."""
    plurals = {
        "Workflow": "workflows",
        "CronWorkflow": "cronworkflows",
        "WorkflowTemplate": "workflowtemplates",
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in OBJECTS:
        if obj["kind"] in plurals:
            bare = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            out.setdefault(plurals[obj["kind"]], []).append(bare)
    return out


def test_the_cluster_is_listed_page_by_page_with_kinds_filled_in() -> None:
    api = FakeApi(cluster_objects())
    listed = list_objects(api)
    assert sorted(title(o) for o in listed) == sorted(
        title(o) for o in OBJECTS if o["kind"] != "WorkflowTaskResult"
    )
    assert all(o["apiVersion"] == "argoproj.io/v1alpha1" for o in listed)
    assert ("workflows", None, "2") in api.calls  # the second page of four Workflows
    assert ("clusterworkflowtemplates", None, "") in api.calls


def test_a_listed_workflow_keeps_only_the_status_the_audit_reads() -> None:
    objects = cluster_objects()
    started = objects["workflows"][0]
    started["status"] = {
        "phase": "Running",
        "storedWorkflowTemplateSpec": {"entrypoint": "main"},
        "nodes": {f"n{i}": {"phase": "Succeeded"} for i in range(100)},
        "storedTemplates": {"namespaced/t/main": {}},
    }
    name = started["metadata"]["name"]
    (listed,) = [o for o in list_objects(FakeApi(objects)) if o["metadata"]["name"] == name]
    assert listed["status"] == {
        "phase": "Running",
        "storedWorkflowTemplateSpec": {"entrypoint": "main"},
    }


def test_one_namespace_is_listed_with_the_cluster_templates() -> None:
    api = FakeApi(cluster_objects())
    listed = list_objects(api, namespace="kube-system")
    assert [title(o) for o in listed] == ["Workflow kube-system/inline-in-kube-system"]
    assert {(p, ns) for p, ns, _ in api.calls} == {
        ("workflows", "kube-system"),
        ("cronworkflows", "kube-system"),
        ("workflowtemplates", "kube-system"),
        ("clusterworkflowtemplates", None),
    }


def test_a_refused_list_is_one_line_naming_what_was_listed() -> None:
    with pytest.raises(
        ClusterError, match=r"^cannot list cronworkflows in namespace a: 403 Forbidden$"
    ):
        list_objects(FakeApi(cluster_objects(), fail="cronworkflows"), namespace="a")


def test_a_namespace_audit_goes_on_without_cluster_templates_it_may_not_list() -> None:
    """audit -n NS by a namespace's user: a 403 on ClusterWorkflowTemplates is said, not fatal;
    all namespaces (no -n) still need them."""
    said: list[str] = []
    api = FakeApi(cluster_objects(), fail="clusterworkflowtemplates")
    listed = list_objects(api, namespace="team-a", skipped=said.append)
    assert listed and all(o["kind"] != "ClusterWorkflowTemplate" for o in listed)
    assert said == [
        "cannot list clusterworkflowtemplates: 403 Forbidden: refs to them are reported as "
        "not found"
    ]
    with pytest.raises(ClusterError, match="clusterworkflowtemplates: 403 Forbidden"):
        list_objects(FakeApi(cluster_objects(), fail="clusterworkflowtemplates"))


def test_audit_of_a_cluster_judges_what_it_lists() -> None:
    out = io.StringIO()
    options = AuditOptions(config=str(ROOT / "policies/secure.yaml"), output="json")
    code = audit(
        options,
        reader=Reader(io.StringIO()),
        out=out,
        list_cluster=lambda o: streamed(FakeApi(cluster_objects())),
    )
    assert code == 1
    found = {(f["kind"], f["name"], f["rule"]) for f in json.loads(out.getvalue())}
    assert found == {
        ("Workflow", "hello-before-edit", "secure"),
        ("CronWorkflow", "nightly-legacy", "strict"),
    }


def test_a_streamed_listing_reads_the_next_page_only_when_the_last_is_taken() -> None:
    api = FakeApi(cluster_objects())
    listing = streamed(api)
    templates = list(api.calls)
    assert {plural for plural, _, _ in templates} == {
        "workflowtemplates",
        "clusterworkflowtemplates",
    }
    assert {o["kind"] for o in listing.templates} == {"WorkflowTemplate"}
    first = next(listing.pages)
    assert api.calls[len(templates) :] == [("workflows", None, "")]
    assert [o["kind"] for o in first] == ["Workflow", "Workflow"]
    second = next(listing.pages)
    assert api.calls[-1] == ("workflows", None, "2") and first != second


def test_a_streamed_audit_fetches_a_resubmits_original_from_the_cluster() -> None:
    api = FakeApi(cluster_objects())
    original = api.objects["workflows"][0]
    original["status"] = {"phase": "Failed", "nodes": {"n": {}}}
    name, namespace = original["metadata"]["name"], original["metadata"]["namespace"]
    fetched = streamed(api).workflow(namespace, name)
    assert fetched is not None and fetched["kind"] == "Workflow"
    assert fetched["status"] == {"phase": "Failed"}
    assert streamed(api).workflow(namespace, "gone") is None


# --- the command line -----------------------------------------------------------------------


FIXTURE = str(AUDIT / "objects.yaml")
SECURE = str(ROOT / "policies/secure.yaml")


def test_audit_json_is_a_list_of_findings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["audit", "-f", FIXTURE, "--config", SECURE, "-o", "json"], capsys)
    assert code == 1
    findings = json.loads(out)
    assert {tuple(f) for f in findings} == {
        ("kind", "namespace", "name", "rule", "result", "message", "path")
    }
    assert {(f["name"], f["rule"], f["path"]) for f in findings} == {
        ("hello-before-edit", "secure", ""),  # Argo's stored spec against the joined one
        ("nightly-legacy", "strict", "spec.workflowSpec.workflowTemplateRef"),
    }


def test_audit_table_and_exit_0_without_findings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["audit", "-f", FIXTURE, "--config", SECURE], capsys)
    assert code == 1
    assert out.splitlines()[0].split() == ["KIND", "NAMESPACE", "NAME", "RULE", "RESULT", "MESSAGE"]
    assert out.rstrip().endswith("2 finding(s) in 2 of 7 object(s)")
    code, out, _ = run_cli(
        ["audit", "-f", FIXTURE, "--config", SECURE, "-n", "kube-system"], capsys
    )
    assert code == 0 and out == "no findings in 1 object(s)\n"


def test_audit_writes_policy_reports_from_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["audit", "-f", "-", "--config", SECURE, "-o", "policyreport"],
        capsys,
        stdin=(AUDIT / "objects.yaml").read_text(),
    )
    assert code == 1
    reports = list(yaml.safe_load_all(out))
    assert [(r["kind"], r["metadata"]["namespace"]) for r in reports] == [
        ("PolicyReport", "kube-system"),
        ("PolicyReport", "team-a"),
    ]
    assert sum(r["summary"]["fail"] for r in reports) == len(
        problems(findings_under("policies/secure.yaml"))
    )


def test_audit_reads_files_or_a_cluster_not_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(["audit", "-f", FIXTURE, "--kubeconfig", str(tmp_path / "k")], capsys)
    assert code == 2 and err.count("\n") == 1 and "not both" in err
    code, _, err = run_cli(["audit", "--kubeconfig", str(tmp_path / "missing")], capsys)
    assert code == 2 and err.count("\n") == 1 and str(tmp_path / "missing") in err


def test_a_difference_only_workflow_defaults_make_names_the_defaults_not_a_template_edit() -> None:
    """The rollout guide's first audit: the controller joined no workflowDefaults, the audit's
    policy (policies/secure.yaml) has some; no template changed, and the finding says so."""
    started = copy.deepcopy(next(o for o in OBJECTS if o["metadata"]["name"] == "hello-started"))
    stored = started["status"]["storedWorkflowTemplateSpec"]
    del stored["ttlStrategy"], stored["podGC"]  # a controller without workflowDefaults
    config = load_config(ROOT / "policies/secure.yaml")
    found = problems(audit_objects([started], config=config, templates=FileTemplateSource(OBJECTS)))
    assert [(f.rule, f.result) for f in found] == [("secure", "warn")]
    message = found[0].message
    assert message.startswith(
        "[secure] spec.podGC, spec.ttlStrategy: the policy's workflowDefaults ("
    )
    assert "policies/secure.yaml) differ from those Argo's controller joined" in message
    assert "changed after this Workflow started" not in found[0].message


def test_a_template_edit_is_still_blamed_on_the_template() -> None:
    """The twin: the template's own field differs, so the template changed."""
    findings = findings_under("policies/secure.yaml")
    edited = [f for f in findings if f.resource.name == "hello-before-edit" and f.rule == "secure"]
    assert [f.result for f in edited] == ["fail"]
    assert "changed after this Workflow started" in edited[0].message


def test_a_template_without_the_baseline_is_told_what_mutate_would_add_and_where_to_put_it() -> (
    None
):
    """Templates are mutated at CREATE only: one stored before the door never gets the baseline
    from the door, so the audit says what it lacks (the default policy's baseline)."""
    hello = next(o for o in OBJECTS if o["kind"] == "WorkflowTemplate")
    config = load_config(ROOT / "policies/default.yaml")
    found = [
        f
        for f in audit_objects([hello], config=config, templates=FileTemplateSource(OBJECTS))
        if f.rule == "mutate"
    ]
    assert [f.result for f in found] == ["warn"]
    assert found[0].message.startswith(
        "[mutate] the securityContext baseline is not in this template, and an UPDATE does not "
        "add it (docs/rollout.md): put it in the template's files: would set /spec/"
    )
    assert 'would set /spec/securityContext to {"runAsNonRoot": true' in found[0].message
    with_baseline = copy.deepcopy(hello)
    spec = with_baseline["spec"]
    spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    for template in spec["templates"]:
        if "container" in template:
            template["container"]["securityContext"] = {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
    again = audit_objects([with_baseline], config=config, templates=FileTemplateSource(OBJECTS))
    assert not [f for f in again if f.rule == "mutate"]  # the twin: nothing to add


def test_an_export_as_json_and_as_yaml_gives_the_same_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(6)
    items = [*OBJECTS, *(shapes.workflow(rng, index) for index in range(40))]
    listing = {"apiVersion": "v1", "kind": "List", "items": items}
    (tmp_path / "all.json").write_text(json.dumps(listing, indent=4))
    (tmp_path / "all.yaml").write_text(yaml.safe_dump(listing, sort_keys=False))
    outputs = []
    for name in ("all.json", "all.yaml"):
        argv = ["audit", "-f", str(tmp_path / name), "--config", SECURE, "-o", "json"]
        code, out, _ = run_cli(argv, capsys)
        outputs.append((code, out))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 1 and len(json.loads(outputs[0][1])) >= 2
