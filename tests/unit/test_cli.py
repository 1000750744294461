"""The command line as users run it: exit codes and output of check, merge, review, certs."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from admission import __version__
from admission.cli.arguments import build_parser
from admission.files import version
from support import BAD_WORKFLOW, FIXTURES, GOOD_WORKFLOW

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "admission.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        cwd=ROOT,
    )


def write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


def test_check_exits_0_when_everything_is_admitted(tmp_path: Path) -> None:
    result = cli(
        "check",
        "--config",
        "policies/strict.yaml",
        write(tmp_path, "ok.yaml", GOOD_WORKFLOW),
        "--templates",
        str(FIXTURES / "templates/library.yaml"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "ADMIT Workflow team-a/hello-" in result.stdout and "1 admitted, 0 denied" in result.stdout
    )


def test_check_exits_1_and_says_why_when_something_is_denied(tmp_path: Path) -> None:
    result = cli(
        "check",
        "--config",
        "policies/strict.yaml",
        "--templates",
        str(FIXTURES / "templates/library.yaml"),
        write(tmp_path, "bad.yaml", BAD_WORKFLOW),
    )
    assert result.returncode == 1
    assert "DENY  Workflow team-a/inline-" in result.stdout
    assert "[strict] workflows must use workflowTemplateRef" in result.stdout


def test_check_exits_2_on_unreadable_input(tmp_path: Path) -> None:
    assert cli("check", str(tmp_path / "missing.yaml")).returncode == 2
    assert cli("check", write(tmp_path, "x.yaml", "a: [")).returncode == 2
    assert (
        cli(
            "check",
            "--config",
            write(tmp_path, "p.yaml", "mode: nope"),
            write(tmp_path, "ok.yaml", GOOD_WORKFLOW),
        ).returncode
        == 2
    )


def test_review_reads_yaml_and_stdin(tmp_path: Path) -> None:
    request = (FIXTURES / "reviews/ref-admitted.request.json").read_text()
    result = cli(
        "review",
        "--config",
        "policies/secure.yaml",
        "--templates",
        str(FIXTURES / "templates/library.yaml"),
        "-",
        stdin=request,
    )
    assert result.returncode == 0 and json.loads(result.stdout)["response"]["allowed"] is True


def test_merge_prints_the_stored_spec_and_compares_with_expect(tmp_path: Path) -> None:
    case = FIXTURES / "merge/defaults-under-ref"
    expected = write(tmp_path, "expected.yaml", (case / "expected.yaml").read_text())
    result = cli(
        "merge",
        "--workflow",
        str(case / "workflow.yaml"),
        "--template",
        str(case / "template.yaml"),
        "--defaults",
        str(case / "defaults.yaml"),
        "--config",
        "policies/strict.yaml",
        "--expect",
        expected,
    )
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    assert merged["serviceAccountName"] == "lib-runner" and merged["activeDeadlineSeconds"] == 300
    assert "equivalent" in result.stderr


def test_merge_without_the_referenced_template_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("merge", "--workflow", write(tmp_path, "wf.yaml", GOOD_WORKFLOW))
    assert result.returncode == 2 and "--template" in result.stderr


def test_certs_generate_writes_the_files(tmp_path: Path) -> None:
    result = cli(
        "certs",
        "generate",
        "--out",
        str(tmp_path / "c"),
        "--service",
        "argo-admission",
        "--namespace",
        "argo-admission",
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {"ca.crt", "tls.crt", "tls.key"}


# --- one-line errors: every operational error names the file or value, exit 2, no traceback --

MALFORMED = {
    "bad.yaml": "a: [\n",
    "list.yaml": "- 1\n- 2\n",
    "two.yaml": GOOD_WORKFLOW + "---\n" + GOOD_WORKFLOW,
    "policy.yaml": "mode: nope\nfoo: 1\n",
    "broken.json": '{"kind": "AdmissionReview"',
    "notreview.yaml": "a: 1\n",
    "nothing.yaml": "kind: ConfigMap\nmetadata: {name: x}\n",
}
WORKFLOW = "tests/fixtures/merge/defaults-under-ref/workflow.yaml"
TEMPLATE = "tests/fixtures/merge/defaults-under-ref/template.yaml"
CERTS = ["certs", "generate", "--out", "{tmp}/c"]
# (arguments, what the one line must name); {tmp} is a directory holding MALFORMED's files.
ERRORS = {
    "certs-out-unwritable": (["certs", "generate", "--out", "/proc/nope"], "--out /proc/nope"),
    "certs-days-negative": (
        [*CERTS, "--days", "-5"],
        "--days: -5",
    ),
    "certs-days-zero": ([*CERTS, "--days", "0"], "--days: 0"),
    "certs-days-not-a-number": ([*CERTS, "--days", "x"], "'x'"),
    "certs-host-with-space": (
        [*CERTS, "--host", "bad host"],
        "--host: 'bad host'",
    ),
    "certs-host-underscore": (
        [*CERTS, "--host", "a_b.c"],
        "a_b.c",
    ),
    "certs-host-empty-label": ([*CERTS, "--host", "a..b"], "a..b"),
    "certs-service-not-a-label": (
        [*CERTS, "--service", "Bad_Svc"],
        "--service: 'Bad_Svc'",
    ),
    "certs-namespace-not-a-label": (
        [*CERTS, "--service", "s", "--namespace", "a.b"],
        "--namespace: 'a.b'",
    ),
    "serve-port-too-high": (["serve", "--port", "99999"], "--port: 99999"),
    "serve-port-zero": (["serve", "--port", "0"], "--port: 0"),
    "serve-host-not-a-name": (["serve", "--host", "no such host"], "--host: 'no such host'"),
    "serve-workers-zero": (["serve", "--workers", "0"], "--workers: 0"),
    "serve-lookup-timeout-negative": (["serve", "--lookup-timeout", "-1"], "--lookup-timeout"),
    "serve-workflow-cache-negative": (
        ["serve", "--workflow-cache", "-1"],
        "--workflow-cache: -1 is below zero",
    ),
    "serve-log-level-unknown": (["serve", "--log-level", "loud"], "'loud'"),
    "serve-audit-interval-not-a-duration": (
        ["serve", "--background-audit", "5 minutes"],
        "--background-audit: '5 minutes' is not a duration",
    ),
    "serve-audit-interval-zero": (["serve", "--background-audit", "0s"], "0s is not above zero"),
    "serve-audit-lease-alone": (
        ["serve", "--audit-lease", "argo/l", "--cert-dir", "{tmp}/c"],
        "--audit-lease elects the server of --background-audit",
    ),
    "serve-audit-lease-not-namespaced": (
        ["serve", "--background-audit", "1h", "--audit-lease", "lease", "--cert-dir", "{tmp}/c"],
        "--audit-lease 'lease' must be NAMESPACE/NAME",
    ),
    "serve-audit-without-cluster": (
        ["serve", "--background-audit", "1h", "--no-cluster", "--cert-dir", "{tmp}/c"],
        "--background-audit reads the cluster",
    ),
    "serve-config-missing": (["serve", "--config", "{tmp}/none.yaml"], "{tmp}/none.yaml"),
    "serve-config-invalid": (["serve", "--config", "{tmp}/policy.yaml"], "{tmp}/policy.yaml: "),
    "serve-templates-missing": (
        ["serve", "--templates", "{tmp}/none", "--cert-dir", "{tmp}/c"],
        "{tmp}/none",
    ),
    "check-missing": (["check", "{tmp}/none.yaml"], "{tmp}/none.yaml"),
    "check-not-yaml": (["check", "{tmp}/bad.yaml"], "{tmp}/bad.yaml: not valid YAML/JSON: line 2"),
    "check-not-objects": (["check", "{tmp}/list.yaml"], "{tmp}/list.yaml"),
    "check-nothing-policed": (["check", "{tmp}/nothing.yaml"], "{tmp}/nothing.yaml"),
    "check-directory-is-empty": (["check", "{tmp}/empty"], "{tmp}/empty"),
    "check-policy-invalid": (
        ["check", "--config", "{tmp}/policy.yaml", "{tmp}/two.yaml"],
        "invalid policy {tmp}/policy.yaml: foo: unknown key",
    ),
    "check-templates-not-yaml": (
        ["check", "--templates", "{tmp}/bad.yaml", "{tmp}/two.yaml"],
        "{tmp}/bad.yaml",
    ),
    "check-no-manifest": (["check"], "MANIFEST"),
    "review-missing": (["review", "{tmp}/none.json"], "{tmp}/none.json"),
    "review-a-directory": (["review", "{tmp}/empty"], "{tmp}/empty"),
    "review-not-json": (
        ["review", "{tmp}/broken.json"],
        "{tmp}/broken.json: body is not valid JSON",
    ),
    "review-not-yaml": (["review", "{tmp}/bad.yaml"], "{tmp}/bad.yaml: neither JSON nor YAML"),
    "review-not-a-review": (["review", "{tmp}/notreview.yaml"], "kind must be AdmissionReview"),
    "review-templates-missing": (
        ["review", "--templates", "{tmp}/none", "{tmp}/notreview.yaml"],
        "{tmp}/none",
    ),
    "merge-workflow-missing": (["merge", "--workflow", "{tmp}/none.yaml"], "{tmp}/none.yaml"),
    "merge-workflow-two-documents": (["merge", "--workflow", "{tmp}/two.yaml"], "found 2"),
    "merge-workflow-not-yaml": (["merge", "--workflow", "{tmp}/bad.yaml"], "{tmp}/bad.yaml"),
    "merge-template-not-yaml": (
        ["merge", "--workflow", WORKFLOW, "--template", "{tmp}/bad.yaml"],
        "{tmp}/bad.yaml",
    ),
    "merge-defaults-not-yaml": (
        ["merge", "--workflow", WORKFLOW, "--template", TEMPLATE, "--defaults", "{tmp}/bad.yaml"],
        "{tmp}/bad.yaml",
    ),
    "merge-expect-missing": (
        ["merge", "--workflow", WORKFLOW, "--template", TEMPLATE, "--expect", "{tmp}/none.yaml"],
        "{tmp}/none.yaml",
    ),
    "merge-config-invalid": (
        ["merge", "--workflow", WORKFLOW, "--config", "{tmp}/policy.yaml"],
        "{tmp}/policy.yaml",
    ),
    "audit-file-missing": (["audit", "-f", "{tmp}/none.yaml"], "{tmp}/none.yaml"),
    "audit-file-not-yaml": (["audit", "-f", "{tmp}/bad.yaml"], "{tmp}/bad.yaml: not valid YAML"),
    "audit-file-not-objects": (["audit", "-f", "{tmp}/list.yaml"], "{tmp}/list.yaml"),
    "audit-policy-invalid": (
        ["audit", "-f", "{tmp}/two.yaml", "--config", "{tmp}/policy.yaml"],
        "{tmp}/policy.yaml",
    ),
    "audit-kubeconfig-missing": (["audit", "--kubeconfig", "{tmp}/none"], "{tmp}/none"),
    "audit-namespace-not-a-label": (["audit", "-f", "{tmp}/two.yaml", "-n", "A_B"], "'A_B'"),
    "audit-output-unknown": (["audit", "-f", "{tmp}/two.yaml", "-o", "xml"], "'xml'"),
    "check-output-unknown": (["check", "-o", "xml", "{tmp}/two.yaml"], "'xml'"),
    "completion-unknown-shell": (["completion", "tcsh"], "'tcsh'"),
    "unknown-command": (["bogus"], "'bogus'"),
    "check-templates-not-templates": (
        ["check", "--templates", "{tmp}/nothing.yaml", "{tmp}/two.yaml"],
        "{tmp}/nothing.yaml: no WorkflowTemplate, ClusterWorkflowTemplate or Workflow in it "
        "(found ConfigMap)",
    ),
    "merge-template-not-a-template": (
        ["merge", "--workflow", WORKFLOW, "--template", "{tmp}/nothing.yaml"],
        "{tmp}/nothing.yaml: a ConfigMap, not a WorkflowTemplate or ClusterWorkflowTemplate",
    ),
    "merge-workflow-not-a-workflow": (
        ["merge", "--workflow", TEMPLATE, "--template", TEMPLATE],
        f"{TEMPLATE}: a WorkflowTemplate, not a Workflow",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_an_operational_error_is_one_line_naming_the_file_or_value(
    tmp_path: Path, case: str
) -> None:
    for name, text in MALFORMED.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "empty").mkdir()
    args, named = ERRORS[case]
    result = cli(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert named.replace("{tmp}", str(tmp_path)) in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    if args[0] == "certs":
        assert not (tmp_path / "c").exists()  # nothing is written when a value is refused


# --- help, completion, version ---------------------------------------------------------------


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every subcommand's parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from parsers(child)


def test_every_option_has_a_line_of_help_with_its_default() -> None:
    checked = 0
    for parser in parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if not action.option_strings or action.default == argparse.SUPPRESS:  # --help
                continue
            assert action.help, f"{parser.prog} {action.option_strings[0]} has no help"
            formatter = parser._get_formatter()
            shown = formatter._get_help_string(action) % vars(action)  # type: ignore[attr-defined]
            assert "(default: " in shown or "(required)" in shown, (parser.prog, shown)
            assert action.option_strings[-1] in text
            checked += 1
    assert checked > 30


def test_help_shows_the_default_values() -> None:
    result = cli("serve", "--help")
    text = " ".join(result.stdout.split())
    assert "(default: 8443)" in text and "(default: 0.0.0.0)" in text
    assert "(default: the shipped policies/default.yaml)" in text


def bash_completions(script: str, words: list[str]) -> list[str]:
    """What bash offers after `words` with the generated completion script loaded."""
    line = " ".join(words)
    program = f"""
{script}
COMP_WORDS=({line})
COMP_CWORD={len(words) - 1}
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
_shtab_argo_admission argo-admission "{words[-1]}" "{words[-2]}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_bash_completion_offers_the_commands_and_their_options() -> None:
    result = cli("completion", "bash")
    assert result.returncode == 0, result.stderr
    syntax = subprocess.run(["bash", "-n"], input=result.stdout, text=True, capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
    commands = bash_completions(result.stdout, ["argo-admission", ""])
    assert {"serve", "review", "check", "merge", "certs", "completion"} <= set(commands)
    assert bash_completions(result.stdout, ["argo-admission", "ch"]) == ["check"]
    options = bash_completions(result.stdout, ["argo-admission", "check", "--"])
    assert {"--templates", "--workflows", "--output", "--show-patch", "--config"} <= set(options)


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_scripts_name_every_command(shell: str) -> None:
    result = cli("completion", shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("#")
    for command in ("serve", "review", "check", "merge", "certs", "completion", "--templates"):
        assert command in result.stdout


def test_completion_for_an_unknown_shell_is_refused() -> None:
    result = cli("completion", "tcsh")
    assert result.returncode == 2 and "'tcsh'" in result.stderr


def test_version_prints_the_package_version_and_the_checkout_commit() -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k != version.COMMIT_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "admission.cli.main", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout == f"argo-admission {__version__} (commit {head})\n"


def test_the_commit_baked_into_the_image_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(version.COMMIT_ENV, "0123abcd")
    result = cli("--version")
    assert result.stdout == f"argo-admission {__version__} (commit 0123abcd)\n"


class FakeDistribution:
    def __init__(self, direct_url: str | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return self.direct_url if name == "direct_url.json" else None


def test_the_commit_pip_installed_from_comes_next(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(version.COMMIT_ENV, raising=False)
    from_git = (
        '{"url": "https://example.invalid/a.git", "vcs_info": {"vcs": "git", "commit_id": "feed"}}'
    )
    monkeypatch.setattr(version.metadata, "distribution", lambda name: FakeDistribution(from_git))
    assert version.commit(tmp_path / "admission") == "feed"
    local = '{"url": "file:///src", "dir_info": {"editable": true}}'
    monkeypatch.setattr(version.metadata, "distribution", lambda name: FakeDistribution(local))
    assert version.commit(tmp_path / "admission") == "unknown"  # no checkout at tmp_path either
    (tmp_path / ".git/refs/heads").mkdir(parents=True)
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git/refs/heads/main").write_text("c0ffee\n")
    assert version.commit(tmp_path / "admission") == "c0ffee"
