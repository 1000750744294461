"""`check` as a CI gate and `review`: every path is read whatever the order of the flags, and
the verdicts come out as text, JSON, YAML or JUnit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from admission.core.review import make_review
from support import BAD_WORKFLOW, FIXTURES, GOOD_WORKFLOW, run_cli

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = str(FIXTURES / "templates/library.yaml")
STRICT = "policies/strict.yaml"

UNLABELLED_TEMPLATE = """apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: plain, namespace: team-a}
spec:
  entrypoint: main
  templates: [{name: main, container: {image: alpine, command: [echo]}}]
"""


@pytest.fixture
def manifests(tmp_path: Path) -> dict[str, str]:
    """Three good manifests and one bad one, each in its own file."""
    files = {
        "good1": GOOD_WORKFLOW,
        "good2": GOOD_WORKFLOW,
        "good3": GOOD_WORKFLOW,
        "bad": BAD_WORKFLOW,
    }
    out = {}
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        out[name] = str(tmp_path / f"{name}.yaml")
    return out


FLAGS = (["--config", STRICT], ["--templates", LIBRARY], ["-o", "json"])
# Where each of the three flags stands among four manifests: 0 before the first, 1-3 between
# two, 4 after the last.
ORDERS = {
    "flags-before": (0, 0, 0),
    "flags-after": (4, 4, 4),
    "spread": (0, 2, 4),
    "between": (1, 2, 3),
    "shuffled": (4, 0, 2),
    "two-together": (3, 3, 1),
}


def command(files: list[str], slots: tuple[int, ...]) -> list[str]:
    """`check` with the flags placed at `slots` among `files`."""
    args = ["check"]
    for position in range(len(files) + 1):
        args += [
            arg for flag, slot in zip(FLAGS, slots, strict=True) if slot == position for arg in flag
        ]
        if position < len(files):
            args.append(files[position])
    return args


@pytest.mark.parametrize("bad_at", range(4), ids=lambda i: f"bad-{i + 1}")
@pytest.mark.parametrize("order", ORDERS, ids=str)
def test_every_manifest_is_checked_whatever_the_order_of_flags(
    manifests: dict[str, str], capsys: pytest.CaptureFixture[str], bad_at: int, order: str
) -> None:
    files = [manifests["good1"], manifests["good2"], manifests["good3"]]
    files.insert(bad_at, manifests["bad"])
    args = command(files, ORDERS[order])
    code, out, err = run_cli(args, capsys)
    assert code == 1, (args, out, err)
    verdicts = json.loads(out)
    assert [v["file"] for v in verdicts] == files
    assert [v["allowed"] for v in verdicts] == [f != manifests["bad"] for f in files]


def test_all_good_manifests_exit_0_in_every_order(
    manifests: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    files = [manifests["good1"], manifests["good2"], manifests["good3"]]
    for slots in ORDERS.values():
        code, out, _ = run_cli(command(files, tuple(min(s, 3) for s in slots)), capsys)
        assert code == 0 and len(json.loads(out)) == 3


def test_repeated_templates_flags_are_all_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = yaml.safe_load_all((FIXTURES / "templates/library.yaml").read_text())
    docs = list(library)
    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all(docs[:1]))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump_all(docs[1:]))
    (tmp_path / "wf.yaml").write_text(
        GOOD_WORKFLOW + "---\n" + GOOD_WORKFLOW.replace("hello", "calls-cluster")
    )
    args = ["check", "--config", "policies/secure.yaml", "-o", "json", str(tmp_path / "wf.yaml")]
    code, out, _ = run_cli([*args, "--templates", str(tmp_path / "a.yaml")], capsys)
    assert code == 1  # calls-cluster is in b.yaml only
    code, out, _ = run_cli(
        [*args, "--templates", str(tmp_path / "a.yaml"), "--templates", str(tmp_path / "b.yaml")],
        capsys,
    )
    assert code == 0, out
    assert len(json.loads(out)) == 2


def test_manifests_and_templates_read_from_stdin(
    manifests: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    library = (FIXTURES / "templates/library.yaml").read_text()
    code, out, _ = run_cli(
        ["check", "--config", STRICT, "--templates", "-", manifests["good1"], "-o", "json"],
        capsys,
        stdin=library,
    )
    assert code == 0 and json.loads(out)[0]["allowed"] is True
    code, out, _ = run_cli(
        ["check", "--config", STRICT, "--templates", LIBRARY, "-", "-o", "json"],
        capsys,
        stdin=GOOD_WORKFLOW + "---\n" + BAD_WORKFLOW,
    )
    assert code == 1
    assert [(v["file"], v["allowed"]) for v in json.loads(out)] == [("-", True), ("-", False)]


def test_json_has_an_entry_per_object_with_rules_messages_and_patch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(BAD_WORKFLOW + "---\n" + UNLABELLED_TEMPLATE)
    code, out, _ = run_cli(["check", "-o", "json", str(path)], capsys)  # the default policy
    assert code == 1
    bad, template = json.loads(out)
    assert set(bad) == {
        "kind",
        "namespace",
        "name",
        "file",
        "allowed",
        "code",
        "rules",
        "paths",
        "messages",
        "diff",
        "warnings",
        "patch",
    }
    assert (bad["kind"], bad["namespace"], bad["name"], bad["file"]) == (
        "Workflow",
        "team-a",
        "inline-",
        str(path),
    )
    assert bad["allowed"] is False and bad["code"] == 403
    assert "strict" in bad["rules"]
    assert any(
        m.startswith("[strict] workflows must use workflowTemplateRef") for m in bad["messages"]
    )
    # the default policy fills the securityContext baseline into templates (/mutate)
    assert template["allowed"] is True and template["rules"] == []
    paths = {op["path"] for op in template["patch"]}
    assert "/spec/securityContext" in paths or any(p.startswith("/spec/templates/0") for p in paths)


def test_yaml_output_equals_json_output(
    manifests: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "check",
        "--config",
        STRICT,
        "--templates",
        LIBRARY,
        manifests["good1"],
        manifests["bad"],
    ]
    _, as_json, _ = run_cli([*args, "-o", "json"], capsys)
    code, as_yaml, _ = run_cli([*args, "-o", "yaml"], capsys)
    assert code == 1
    assert yaml.safe_load(as_yaml) == json.loads(as_json)


def test_junit_reports_a_failure_per_denied_manifest(
    manifests: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    files = [manifests["good1"], manifests["bad"], manifests["good2"]]
    code, out, _ = run_cli(
        ["check", "--config", STRICT, "--templates", LIBRARY, "-o", "junit", *files], capsys
    )
    assert code == 1
    suite = ElementTree.fromstring(out).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("classname") for case in failed] == [manifests["bad"]]
    failure = failed[0].find("failure")
    assert failure is not None and failure.get("type") == "strict"
    assert "[strict]" in (failure.text or "")


def test_show_patch_prints_each_operation_in_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(UNLABELLED_TEMPLATE)
    code, plain, _ = run_cli(["check", str(path)], capsys)
    assert code == 0 and "mutated:" in plain and '"op":' not in plain
    code, shown, _ = run_cli(["check", "--show-patch", str(path)], capsys)
    _, as_json, _ = run_cli(["check", "-o", "json", str(path)], capsys)
    ops = json.loads(as_json)[0]["patch"]
    assert ops
    for op in ops:
        assert json.dumps(op, sort_keys=True) in shown


def test_text_verdicts_name_the_object_and_count(
    manifests: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["check", "--config", STRICT, "--templates", LIBRARY, manifests["good1"], manifests["bad"]],
        capsys,
    )
    assert code == 1
    assert f"ADMIT Workflow team-a/hello- ({manifests['good1']})" in out
    assert f"DENY  Workflow team-a/inline- ({manifests['bad']})" in out
    assert "[strict] workflows must use workflowTemplateRef" in out
    assert out.rstrip().endswith("1 admitted, 1 denied")


def test_help_states_the_exit_codes() -> None:
    for command in ("check", "review"):
        result = subprocess.run(
            [sys.executable, "-m", "admission.cli.main", command, "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert result.returncode == 0
        assert "exit status:" in result.stdout
        for code in ("0", "1", "2"):
            assert f"\n  {code}  " in result.stdout


REVIEW_ORDERS = {
    "flags-first": ["--templates", "L", "--workflows", "W", "R"],
    "flags-last": ["R", "--templates", "L", "--workflows", "W"],
    "review-between": ["--workflows", "W", "R", "--templates", "L"],
}


@pytest.mark.parametrize("order", REVIEW_ORDERS)
def test_review_takes_repeatable_flags_in_any_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], order: str
) -> None:
    library = list(yaml.safe_load_all((FIXTURES / "templates/library.yaml").read_text()))
    hello = next(t for t in library if t["metadata"]["name"] == "hello")
    edited = {**hello, "spec": {**hello["spec"], "entrypoint": "other"}}
    update = make_review(edited, namespace="team-a", operation="UPDATE", old=hello)
    (tmp_path / "update.json").write_text(json.dumps(update))
    names = {
        "L": LIBRARY,
        "W": str(FIXTURES / "templates/running-workflows.yaml"),
        "R": str(tmp_path / "update.json"),
    }
    args = [names.get(a, a) for a in REVIEW_ORDERS[order]]
    code, out, err = run_cli(["review", "--config", "policies/secure.yaml", *args], capsys)
    assert code == 0, err
    warnings = json.loads(out)["response"]["warnings"]
    assert any("team-a/hello-run1" in w for w in warnings), warnings  # read from --workflows
    names["R"] = str(FIXTURES / "reviews/ref-admitted.request.json")
    args = [names.get(a, a) for a in REVIEW_ORDERS[order]]
    code, out, err = run_cli(["review", "--config", "policies/secure.yaml", *args], capsys)
    assert code == 0, err  # the ref is found in --templates
    assert json.loads(out)["response"]["allowed"] is True


PRIVILEGED_TEMPLATE = """apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: dind, namespace: team-a}
spec:
  templates:
  - name: main
    container:
      {image: docker, command: [dockerd], securityContext: {privileged: true, runAsUser: 0}}
"""


def test_check_and_audit_say_the_same_of_a_template_the_baseline_cannot_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default baseline leaves out what would contradict privileged and root, and says so."""
    path = tmp_path / "dind.yaml"
    path.write_text(PRIVILEGED_TEMPLATE)
    code, out, _ = run_cli(["check", "-o", "json", str(path)], capsys)
    verdict = json.loads(out)[0]
    assert code == 0 and verdict["allowed"]
    paths = {op["path"] for op in verdict["patch"]}
    assert "/spec/templates/0/container/securityContext/capabilities" in paths
    assert not any("allowPrivilegeEscalation" in p or "runAsNonRoot" in p for p in paths)
    assert not any("allowPrivilegeEscalation" in str(op["value"]) for op in verdict["patch"])
    assert not any("runAsNonRoot" in str(op["value"]) for op in verdict["patch"])
    warned = [w for w in verdict["warnings"] if w.startswith("[security-context] baseline")]
    assert len(warned) == 2, verdict["warnings"]
    code, out, _ = run_cli(["audit", "-o", "json", "-f", str(path)], capsys)
    found = [f["message"] for f in json.loads(out) if f["rule"] == "security-context"]
    assert code == 1
    assert [m.replace("\n", " ") for m in found] == [w.replace("\n", " ") for w in warned]


def test_an_empty_policy_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read as no policy, it admitted an inline Workflow with exit 0 and no word."""
    empty, manifest = tmp_path / "empty.yaml", tmp_path / "wf.yaml"
    empty.write_text("")
    manifest.write_text(BAD_WORKFLOW)
    for command in (["check", str(manifest)], ["audit", "-f", str(manifest)]):
        code, out, err = run_cli([*command, "--config", str(empty)], capsys)
        assert (code, out) == (2, "")
        assert err.startswith(f"error: {empty}: no policy in it (expected at least one of ")
        assert err.count("\n") == 1


def test_the_charts_policy_configmap_is_a_policy_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kubectl get cm argo-admission-policy -o yaml > cm.yaml` gives check the chart's policy."""
    configmap = tmp_path / "cm.yaml"
    policy = (ROOT / STRICT).read_text()
    configmap.write_text(yaml.safe_dump({"kind": "ConfigMap", "data": {"policy.yaml": policy}}))
    manifest = tmp_path / "wf.yaml"
    manifest.write_text(BAD_WORKFLOW)
    code, out, err = run_cli(["check", "--config", str(configmap), str(manifest)], capsys)
    assert code == 1 and "[strict] workflows must use workflowTemplateRef" in out
    assert err == ""


def test_a_policy_that_enforces_nothing_is_said_loudly_by_check_and_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idle, manifest = tmp_path / "idle.yaml", tmp_path / "wf.yaml"
    idle.write_text("mode: enforce\nsecurityContext: {mode: 'off'}\n")
    manifest.write_text(BAD_WORKFLOW)
    for command in (["check", str(manifest)], ["audit", "-f", str(manifest)]):
        code, _, err = run_cli([*command, "--config", str(idle)], capsys)
        assert code == 0
        assert err.startswith(f"WARNING: policy {idle} enforces nothing: ")
