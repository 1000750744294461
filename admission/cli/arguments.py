"""The command line's shape: every subcommand, its options with their defaults, and their types.

`build_parser()` describes `argo-admission`; the CLI (admission/cli/main.py) runs what it
parses, and `argo-admission completion SHELL` turns it into a shell completion script (shtab),
so the help, the parser and the completions cannot disagree. Options and operands may come in
any order; lists are repeatable flags taking one value each. A bad value is refused here, in one
line naming the flag and the value, before anything runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Final, NoReturn

import shtab

from admission.cli.argtypes import (
    count,
    dns_label,
    duration,
    positive_float,
    positive_int,
    san_host,
    tcp_port,
)
from admission.cli.commands import AUDIT_FORMATS
from admission.core.verdict import FORMATS
from admission.files.version import version_line

EXIT_USAGE: Final = 2
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
SHELLS: Final = ("bash", "zsh", "fish")
FILE: Final = shtab.FILE  # what a shell completes for the option: files (directories too)
DIRECTORY: Final = shtab.DIRECTORY

EXIT_CODES: Final = """exit status:
  0  every manifest admitted
  1  a manifest denied
  2  usage or input error (unreadable or malformed file, invalid policy)"""
REVIEW_EXIT_CODES: Final = """exit status:
  0  the request admitted
  1  the request denied
  2  usage or input error (unreadable file, not an AdmissionReview, invalid policy)"""
AUDIT_EXIT_CODES: Final = """exit status:
  0  no findings
  1  findings (a rule broken, a warning, an object that could not be evaluated)
  2  usage or input error (unreadable or malformed file, invalid policy, cluster unreachable)"""
MERGE_EXIT_CODES: Final = """exit status:
  0  merged (and equivalent to --expect)
  1  Argo cannot join the specs, or the result differs from --expect
  2  usage or input error"""
CONFIG_HELP: Final = (
    "policy file or workflow-controller ConfigMap (default: the shipped policies/default.yaml)"
)
TEMPLATES_HELP: Final = "template file or directory (YAML/JSON, - for stdin); repeat for more"


# --- the parser -----------------------------------------------------------------------------


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (or says it is required); descriptions and
    epilogs are printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not action.option_strings or "(default" in text or action.default is argparse.SUPPRESS:
            return text
        if action.required:
            return f"{text} (required)"
        if action.default is False:
            shown = "off"
        elif action.default is None or action.default == []:
            shown = "none"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})"


class CommandParser(argparse.ArgumentParser):
    """A parser whose options and operands come in any order, and whose errors take one line.

    `check a.yaml --templates lib/ b.yaml` checks both manifests: argparse's own intermixed
    parsing (parse_known_intermixed_args) reads every operand wherever options stand between
    them. A command with subcommands of its own (the top level, `certs`) parses as argparse
    does by default.
    """

    def __init__(self, *args: Any, intermixed: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._intermixed = intermixed
        self._inside = False

    def error(self, message: str) -> NoReturn:
        """A usage error in one line, naming the flag and the value; exit 2."""
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse options and operands in any order (see the class docstring)."""
        if not self._intermixed or self._inside:
            return super().parse_known_args(args, namespace)
        self._inside = True  # parse_known_intermixed_args calls back into parse_known_args
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


class VersionAction(argparse.Action):
    """`--version`: the package version and the commit it was built from."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        """Print the version line on stdout and exit 0."""
        sys.stdout.write(version_line() + "\n")
        parser.exit(0)


def path_option(
    parser: argparse.ArgumentParser, *flags: str, complete: Any = FILE, **kwargs: Any
) -> None:
    """An option naming a file or directory, completed as such by the shells."""
    action = parser.add_argument(*flags, **kwargs)
    action.complete = complete  # type: ignore[attr-defined]


def repeated_paths(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A repeatable option taking one path each time (`--templates a --templates b`)."""
    path_option(parser, flag, action="append", default=[], metavar="PATH", help=help)


def add_policy_inputs(parser: argparse.ArgumentParser, *, workflows: str | None = None) -> None:
    """--config and --templates, and --workflows (with its help) where the command reads them."""
    path_option(parser, "--config", help=CONFIG_HELP)
    repeated_paths(parser, "--templates", TEMPLATES_HELP)
    if workflows:
        repeated_paths(parser, "--workflows", workflows)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = CommandParser(
        prog="argo-admission",
        description="Admission webhook and policy enforcer for Argo Workflows.",
        intermixed=False,
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and commit")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    add_serve(sub)
    add_review(sub)
    add_check(sub)
    add_merge(sub)
    add_audit(sub)
    add_export(sub)
    add_certs(sub)
    add_webhooks(sub)
    add_completion(sub)
    return parser


Subparsers = Any  # argparse's _SubParsersAction, private in typeshed


def add_serve(sub: Subparsers) -> None:
    """`serve`: the webhook under gunicorn, over TLS."""
    serve = sub.add_parser("serve", help="run the webhook server (gunicorn, TLS)")
    path_option(serve, "--config", help=CONFIG_HELP)
    path_option(
        serve,
        "--cert-dir",
        complete=DIRECTORY,
        default="certs",
        help="directory of tls.crt/tls.key; a CA and certificate are generated there if absent",
    )
    serve.add_argument("--host", type=san_host, default="0.0.0.0", help="address to listen on")
    serve.add_argument("--port", type=tcp_port, default=8443, help="TCP port to listen on")
    serve.add_argument("--workers", type=positive_int, default=2, help="gunicorn worker processes")
    serve.add_argument("--threads", type=positive_int, default=4, help="threads per worker")
    _serve_cluster(serve)
    _serve_cluster_jobs(serve)
    path_option(
        serve,
        "--audit-file",
        help="also append audit JSON lines to this file, rotated (default: stdout only)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="also serve /metrics, alone, over plain HTTP on this port (default: 0, none: "
        "/metrics only on the HTTPS port)",
    )
    serve.add_argument(
        "--events-per-minute",
        type=int,
        default=0,
        help="Kubernetes Events (reason PolicyViolation) on refusals and background-audit "
        "findings, at most this many a minute, one per object and rule in 5 minutes "
        "(default: 0, none)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default="info",
        help="least severe log lines written (debug adds a line per admitted request)",
    )
    serve.add_argument(
        "--lookup-timeout",
        type=positive_float,
        default=3.0,
        help="seconds a template lookup may take on a cache miss",
    )
    serve.add_argument(
        "--workflow-cache",
        type=count,
        default=10_000,
        metavar="N",
        help="unfinished Workflows kept from a watch to decide executors' task-result writes "
        "without a GET (least recently used dropped first; 0: no watch, one GET a write)",
    )
    serve.set_defaults(command="serve")


def _serve_cluster(serve: argparse.ArgumentParser) -> None:
    """serve's cluster: where templates come from, Argo's ConfigMap, its webhook registrations."""
    repeated_paths(
        serve,
        "--templates",
        "read templates from this file or directory instead of the cluster; repeat for more",
    )
    path_option(
        serve,
        "--kubeconfig",
        help="kubeconfig for template lookups (default: in-cluster, then ~/.kube/config)",
    )
    serve.add_argument(
        "--no-cluster",
        action="store_true",
        help="no Kubernetes API: templates only from --templates",
    )
    serve.add_argument(
        "--argo-configmap",
        metavar="NAMESPACE/NAME",
        help="take workflowRestrictions and workflowDefaults from Argo's controller ConfigMap, "
        "watched where it lives (default: from --config only)",
    )
    path_option(
        serve,
        "--register-webhooks",
        metavar="FILE",
        help="once ready, create or update the webhook configurations in FILE on the API server "
        "(default: register nothing; the chart passes the ones it renders)",
    )
    serve.add_argument(
        "--webhook-owner",
        metavar="CLUSTERROLE",
        help="ClusterRole that owns the registered configurations, so deleting it (helm "
        "uninstall) deletes them (default: no owner)",
    )


def _serve_cluster_jobs(serve: argparse.ArgumentParser) -> None:
    """What one server does for all (each elected by a Lease): the audit, the library index."""
    serve.add_argument(
        "--background-audit",
        type=duration,
        metavar="INTERVAL",
        help="audit every Workflow, CronWorkflow and template in the cluster every INTERVAL "
        "(90s, 5m, 1h) and keep a PolicyReport per namespace; one server at a time, the "
        "holder of --audit-lease (default: off)",
    )
    serve.add_argument(
        "--audit-lease",
        metavar="NAMESPACE/NAME",
        help="the Lease that elects the one server running --background-audit (default: "
        "argo-admission-audit in the service account's namespace, else in default)",
    )
    serve.add_argument(
        "--library-configmap",
        metavar="NAMESPACE/NAME",
        help="keep this ConfigMap equal to the library index the exported policy reads "
        "(export vap --library-configmap); one server writes it, the holder of the Lease "
        "argo-admission-library in that namespace (default: off)",
    )
    serve.add_argument(
        "--register-policy",
        action="store_true",
        help="the holder of the library Lease also keeps the exported ValidatingAdmissionPolicy "
        "in the API server while the policy is Strict in enforce mode, and narrows the "
        "validating webhooks of --register-webhooks once a dry-run probe proves it in force; "
        "needs --library-configmap (default: off)",
    )
    serve.add_argument(
        "--register-mutating-policy",
        action="store_true",
        help="keep the exported MutatingAdmissionPolicy (export map) in the API server while the "
        "policy has a securityContext baseline to fill in (enforce mode), one server at a time "
        "(the holder of --mutating-policy-lease), and narrow "
        "the mutating webhook of --register-webhooks once a dry-run probe template proves it "
        "in force (default: off)",
    )
    serve.add_argument(
        "--policy-probe-namespace",
        metavar="NAMESPACE",
        default="default",
        help="where the dry-run probe of --register-policy is sent: a namespace the policy "
        "is not exempt for (default: default)",
    )
    serve.add_argument(
        "--mutating-policy-lease",
        metavar="NAMESPACE/NAME",
        help="the Lease that elects the one server keeping --register-mutating-policy's policy "
        "(default: argo-admission-mutating-policy in the service account's namespace, else in "
        "default)",
    )
    serve.add_argument(
        "--mutating-policy-probe-namespace",
        metavar="NAMESPACE",
        default="default",
        help="where the dry-run probe template of --register-mutating-policy is sent: a "
        "namespace the policy is not exempt for (default: default)",
    )


def add_review(sub: Subparsers) -> None:
    """`review`: the response the server sends for one AdmissionReview."""
    review = sub.add_parser(
        "review",
        help="print the response to one AdmissionReview",
        description="Print the AdmissionReview response the server sends for one request\n"
        "(the server's own code path).",
        epilog=REVIEW_EXIT_CODES,
    )
    add_policy_inputs(
        review,
        workflows="running Workflows, for the template-edit warning and resubmit lookups; "
        "repeat for more",
    )
    review.add_argument("--mutate", action="store_true", help="answer as /mutate, not /validate")
    path_option(
        review,
        "review",
        metavar="REVIEW",
        help="AdmissionReview request (JSON or YAML; - for stdin)",
    )
    review.set_defaults(command="review")


def add_check(sub: Subparsers) -> None:
    """`check`: manifests admitted as CREATEs, for CI pipelines."""
    check = sub.add_parser(
        "check",
        help="check manifests as CREATEs (for CI pipelines)",
        description="Admit each Workflow, CronWorkflow and (Cluster)WorkflowTemplate in the\n"
        "manifests as a CREATE, through /mutate then /validate as the API server calls them.",
        epilog=EXIT_CODES,
    )
    add_policy_inputs(
        check,
        workflows="existing Workflows the checks may look up (a resubmitted Workflow's "
        "original); repeat for more",
    )
    check.add_argument("--namespace", default="default", help="namespace for manifests without one")
    check.add_argument(
        "-o", "--output", choices=FORMATS, default="text", help="how to write the verdicts"
    )
    check.add_argument(
        "--show-patch", action="store_true", help="text and junit: print each JSONPatch operation"
    )
    path_option(
        check,
        "manifests",
        nargs="+",
        metavar="MANIFEST",
        help="file or directory of manifests (YAML/JSON, multi-document, kind: List; - for stdin)",
    )
    check.set_defaults(command="check")


def add_merge(sub: Subparsers) -> None:
    """`merge`: the spec Argo stores for a Workflow."""
    merge = sub.add_parser(
        "merge",
        help="print the spec Argo stores for a Workflow",
        description="Print the spec Argo joins from a Workflow, its template and workflowDefaults\n"
        "(status.storedWorkflowTemplateSpec), as JSON.",
        epilog=MERGE_EXIT_CODES,
    )
    path_option(merge, "--workflow", required=True, help="the Workflow (- for stdin)")
    path_option(
        merge, "--template", help="the (Cluster)WorkflowTemplate its workflowTemplateRef names"
    )
    path_option(
        merge,
        "--defaults",
        help="workflowDefaults: a Workflow fragment, a policy file or a workflow-controller "
        "ConfigMap (default: those of --config, else none)",
    )
    path_option(
        merge,
        "--config",
        help="policy: under Strict/Secure the Workflow is sanitised as Argo does "
        "(default: no restriction)",
    )
    path_option(
        merge,
        "--expect",
        help="compare with this stored spec: a spec, {spec: ...}, or a Workflow whose status "
        "holds it; exit 1 when different",
    )
    merge.set_defaults(command="merge")


def add_audit(sub: Subparsers) -> None:
    """`audit`: existing objects judged as they stand."""
    audit = sub.add_parser(
        "audit",
        help="judge existing Workflows, CronWorkflows and templates as they stand",
        description="Judge the Workflows, CronWorkflows and (Cluster)WorkflowTemplates of a\n"
        "cluster (--kubeconfig) or of exported manifests (-f) under the policy: each as if it\n"
        "were created now, without the status rule (a started Workflow's status is the\n"
        "controller's); under Secure a running Workflow is also compared, as Argo compares it,\n"
        "with the spec it stored when it started (a template edited since fails it).",
        epilog=AUDIT_EXIT_CODES,
    )
    path_option(
        audit,
        "-f",
        "--filename",
        action="append",
        default=[],
        metavar="PATH",
        help="exported manifests: file or directory (YAML/JSON, kind: List; - for stdin); "
        "repeat for more (default: none, list the cluster's objects)",
    )
    path_option(
        audit,
        "--kubeconfig",
        help="the cluster to list (default: in-cluster, then ~/.kube/config)",
    )
    audit.add_argument(
        "-n",
        "--namespace",
        type=dns_label,
        help="only this namespace's objects (default: all namespaces)",
    )
    add_policy_inputs(audit)
    audit.add_argument(
        "-o",
        "--output",
        choices=AUDIT_FORMATS,
        default="table",
        help="a table, a JSON list of the findings, or PolicyReport manifests (YAML)",
    )
    audit.set_defaults(command="audit")


def add_export(sub: Subparsers) -> None:
    """`export vap` and `export map`: the policy as a Validating- or MutatingAdmissionPolicy
    and its binding."""
    export = sub.add_parser("export", help="the policy in other forms", intermixed=False)
    export_sub = export.add_subparsers(
        dest="export_command", required=True, metavar="FORM", parser_class=CommandParser
    )
    vap = export_sub.add_parser(
        "vap",
        help="a ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1)",
        description="Print, as YAML, the ValidatingAdmissionPolicy and binding that decide in\n"
        "the API server, in CEL, what the webhook decides of Workflow and CronWorkflow\n"
        "CREATEs without a lookup (README: In the API server).",
    )
    path_option(vap, "--config", help=CONFIG_HELP)
    vap.add_argument(
        "--name", type=dns_label, default="argo-admission", help="name of both objects"
    )
    vap.add_argument(
        "--library-configmap",
        metavar="NAMESPACE/NAME",
        help="the library index the server keeps (serve --library-configmap), read through "
        "paramRef (default: none; library rules left to the webhook)",
    )
    vap.set_defaults(command="export")
    mutating = export_sub.add_parser(
        "map",
        help="a MutatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1)",
        description="Print, as YAML, the MutatingAdmissionPolicy and binding that fill in the\n"
        "securityContext baseline in the API server, in CEL, where /mutate needs no lookup and\n"
        "no join (README: In the API server: the exported MutatingAdmissionPolicy).",
    )
    path_option(mutating, "--config", help=CONFIG_HELP)
    mutating.add_argument(
        "--name", type=dns_label, default="argo-admission", help="name of both objects"
    )
    mutating.set_defaults(command="export")


def add_certs(sub: Subparsers) -> None:
    """`certs generate`: a CA and a serving certificate."""
    certs_cmd = sub.add_parser("certs", help="certificates", intermixed=False)
    certs_sub = certs_cmd.add_subparsers(
        dest="certs_command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    generate = certs_sub.add_parser(
        "generate",
        help="write a CA and a serving certificate",
        description="Write ca.crt, ca.key, tls.crt and tls.key: a CA, and a serving certificate\n"
        "for the Service's DNS names, localhost and the loopback addresses.",
    )
    path_option(
        generate,
        "--out",
        complete=DIRECTORY,
        required=True,
        help="directory to write the files into",
    )
    generate.add_argument(
        "--service",
        type=dns_label,
        help="the webhook's Service: its DNS names go into the certificate "
        "(default: none, localhost only)",
    )
    generate.add_argument(
        "--namespace", type=dns_label, default="default", help="the Service's namespace"
    )
    generate.add_argument(
        "--days", type=positive_int, default=365, help="how long the serving certificate is valid"
    )
    generate.add_argument(
        "--host",
        type=san_host,
        action="append",
        default=[],
        help="extra DNS name or IP address for the certificate; repeat for more",
    )
    generate.set_defaults(command="certs")


def add_webhooks(sub: Subparsers) -> None:
    """`webhooks remove`: the break-glass when no server answers."""
    hooks = sub.add_parser("webhooks", help="the webhook configurations", intermixed=False)
    hooks_sub = hooks.add_subparsers(
        dest="webhooks_command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    remove = hooks_sub.add_parser(
        "remove",
        help="delete the validating and mutating webhook configurations (break-glass)",
        description="Delete the ValidatingWebhookConfiguration and MutatingWebhookConfiguration\n"
        "the servers registered, so the API server stops calling them: the way back when no\n"
        "server answers and every Argo write fails. The servers register them again once Ready.",
    )
    path_option(
        remove,
        "--kubeconfig",
        help="the cluster (default: in-cluster, then ~/.kube/config)",
    )
    remove.add_argument(
        "--name",
        type=dns_label,
        action="append",
        default=[],
        help="the configurations' name (the chart's fullname); repeat for more "
        "(default: argo-admission)",
    )
    remove.set_defaults(command="webhooks")


def add_completion(sub: Subparsers) -> None:
    """`completion SHELL`: a completion script generated from this parser."""
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script for SHELL, generated from the parser (shtab).\n"
        "bash:  source <(argo-admission completion bash)\n"
        'zsh:   argo-admission completion zsh > "${fpath[1]}/_argo-admission"\n'
        "fish:  argo-admission completion fish > ~/.config/fish/completions/argo-admission.fish",
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help=", ".join(SHELLS))
    completion.set_defaults(command="completion")


def completion_script(shell: str) -> str:
    """The completion script for `shell`, generated from build_parser() by shtab."""
    return str(shtab.complete(build_parser(), shell=shell))
