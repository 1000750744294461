"""`argo-admission`: serve | review | check | merge | certs generate.

The command line is an edge: it parses arguments into typed options and calls the commands
(admission/commands.py, admission/serving.py); nothing imports it. Exit codes: 0 success
(review/check: everything admitted), 1 something denied, 2 usage or input errors (unreadable
files, malformed AdmissionReview, invalid policy), each reported in one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from admission import __version__, certs
from admission.commands import (
    EXIT_ERROR,
    EXIT_OK,
    CheckOptions,
    MergeOptions,
    ReviewOptions,
    UsageError,
    check,
    merge,
    review,
)
from admission.config import ConfigError
from admission.manifests import ManifestError, Reader
from admission.verdict import FORMATS

MAX_PORT = 65535
EXIT_INTERRUPTED = 130
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
EXIT_CODES = """exit status:
  0  every manifest admitted
  1  a manifest denied
  2  usage or input error (unreadable or malformed file, invalid policy)"""


def cmd_check(args: argparse.Namespace) -> int:
    """Admit each manifest as a CREATE (mutate, then validate); a verdict per object."""
    options = CheckOptions(
        manifests=tuple(args.manifests),
        config=args.config,
        templates=tuple(args.templates),
        workflows=tuple(args.workflows),
        namespace=args.namespace,
        output=args.output,
        show_patch=args.show_patch,
    )
    return check(options, reader=Reader(), out=sys.stdout)


def cmd_review(args: argparse.Namespace) -> int:
    """Print the AdmissionReview response the server would send for one request."""
    options = ReviewOptions(
        review=args.review,
        config=args.config,
        templates=tuple(args.templates),
        workflows=tuple(args.workflows),
        mutate=args.mutate,
    )
    return review(options, reader=Reader(), out=sys.stdout, err=sys.stderr)


def cmd_merge(args: argparse.Namespace) -> int:
    """Print the spec Argo stores in status.storedWorkflowTemplateSpec (or the defaulted spec)."""
    options = MergeOptions(
        workflow=args.workflow,
        template=args.template,
        defaults=args.defaults,
        config=args.config,
        expect=args.expect,
    )
    return merge(options, reader=Reader(), out=sys.stdout, err=sys.stderr)


# --- certs ----------------------------------------------------------------------------------


def cmd_certs(args: argparse.Namespace) -> int:
    """Write ca.crt, ca.key, tls.crt, tls.key for the Service (and localhost) into --out."""
    hosts = certs.default_hosts(args.service, args.namespace, args.host)
    bundle = certs.make_bundle(hosts, days=args.days)
    try:
        certs.write_bundle(args.out, bundle)
    except OSError as exc:
        where = "" if str(exc.filename) == args.out else f"{exc.filename}: "
        raise UsageError(
            f"--out {args.out}: cannot write the certificates: {where}{exc.strerror or exc}"
        ) from exc
    print(f"wrote {', '.join(certs.FILES)} and ca.key to {args.out} for {', '.join(hosts)}")
    return EXIT_OK


# --- serve ----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve /validate and /mutate over TLS under gunicorn."""
    # imported here: gunicorn and the kubernetes client take most of a second to import,
    # which the offline commands do not need
    from admission.serving import ServeOptions, serve

    return serve(
        ServeOptions(
            config=args.config,
            cert_dir=args.cert_dir,
            host=args.host,
            port=args.port,
            workers=args.workers,
            threads=args.threads,
            templates=tuple(args.templates),
            kubeconfig=args.kubeconfig,
            no_cluster=args.no_cluster,
            argo_configmap=args.argo_configmap,
            register_webhooks=args.register_webhooks,
            webhook_owner=args.webhook_owner,
            audit_file=args.audit_file,
            log_level=args.log_level,
            lookup_timeout=args.lookup_timeout,
        )
    )


# --- argument types: a bad value is refused with the flag and the value, before anything runs


def positive_int(text: str) -> int:
    """A whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not above zero")
    return value


def positive_float(text: str) -> float:
    """A number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text} is not above zero")
    return value


def tcp_port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = positive_int(text)
    if value > MAX_PORT:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-{MAX_PORT})")
    return value


def san_host(text: str) -> str:
    """A DNS name or IP address a certificate can name."""
    problem = certs.host_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def dns_label(text: str) -> str:
    """A Service or namespace name."""
    problem = certs.dns_label_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def bind_host(text: str) -> str:
    """An address to listen on: an IP address (0.0.0.0 or :: for all) or a host name."""
    return san_host(text)


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: options and operands in any order.

    `check a.yaml --templates lib/ b.yaml` checks both manifests: argparse's own intermixed
    parsing (parse_known_intermixed_args) reads every operand, wherever options stand between
    them. A command with subcommands of its own (`certs`) parses as argparse does by default.
    """

    def __init__(self, *args: Any, intermixed: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._intermixed = intermixed
        self._inside = False

    def error(self, message: str) -> NoReturn:
        """A usage error in one line, naming the flag and the value, and exit 2."""
        self.exit(EXIT_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")

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


CONFIG_HELP = (
    "policy file or workflow-controller ConfigMap (default: the shipped policies/default.yaml)"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = CommandParser(
        prog="argo-admission", description=__doc__.splitlines()[0], intermixed=False
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)

    serve = sub.add_parser("serve", help="run the webhook server (gunicorn, TLS)")
    serve.add_argument(
        "--config",
        help="policy file or workflow-controller ConfigMap "
        "(default: the shipped policies/default.yaml)",
    )
    serve.add_argument("--cert-dir", default="certs", help="tls.crt/tls.key; generated if absent")
    serve.add_argument("--host", type=bind_host, default="0.0.0.0", help="address to listen on")
    serve.add_argument("--port", type=tcp_port, default=8443, help="TCP port to listen on")
    serve.add_argument("--workers", type=positive_int, default=2, help="gunicorn worker processes")
    serve.add_argument("--threads", type=positive_int, default=4, help="threads per worker")
    serve.add_argument(
        "--templates",
        action="append",
        default=[],
        metavar="PATH",
        help="read templates from this file or directory instead of the cluster; repeat for more",
    )
    serve.add_argument(
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
    serve.add_argument(
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
    serve.add_argument("--audit-file", help="also append audit JSON lines to this file (rotated)")
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
    serve.set_defaults(func=cmd_serve)

    review_cmd = sub.add_parser(
        "review",
        help="print the response to one AdmissionReview",
        epilog=EXIT_CODES.replace("every manifest", "the request").replace(
            "a manifest", "the request"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    review_cmd.add_argument("--config", help=CONFIG_HELP)
    review_cmd.add_argument(
        "--templates",
        action="append",
        default=[],
        metavar="PATH",
        help="template file or directory (YAML/JSON, - for stdin); repeat for more",
    )
    review_cmd.add_argument(
        "--workflows",
        action="append",
        default=[],
        metavar="PATH",
        help="running Workflows, for the template-edit warning and resubmit lookups; "
        "repeat for more",
    )
    review_cmd.add_argument("--mutate", action="store_true", help="answer as /mutate")
    review_cmd.add_argument(
        "review", metavar="REVIEW", help="AdmissionReview request (JSON or YAML; - for stdin)"
    )
    review_cmd.set_defaults(func=cmd_review)

    check_cmd = sub.add_parser(
        "check",
        help="check manifests as CREATEs (for CI pipelines)",
        description="Admit each Workflow, CronWorkflow and (Cluster)WorkflowTemplate in the "
        "manifests as a CREATE, through /mutate then /validate as the API server calls them.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check_cmd.add_argument("--config", help=CONFIG_HELP)
    check_cmd.add_argument(
        "--templates",
        action="append",
        default=[],
        metavar="PATH",
        help="template file or directory (YAML/JSON, - for stdin); repeat for more",
    )
    check_cmd.add_argument(
        "--workflows",
        action="append",
        default=[],
        metavar="PATH",
        help="existing Workflows the checks may look up (a resubmitted Workflow's original); "
        "repeat for more",
    )
    check_cmd.add_argument(
        "--namespace", default="default", help="namespace for manifests without one"
    )
    check_cmd.add_argument(
        "-o", "--output", choices=FORMATS, default="text", help="how to write the verdicts"
    )
    check_cmd.add_argument(
        "--show-patch", action="store_true", help="text and junit: print each JSONPatch operation"
    )
    check_cmd.add_argument(
        "manifests",
        nargs="+",
        metavar="MANIFEST",
        help="file or directory of manifests (YAML/JSON, multi-document, kind: List; - for stdin)",
    )
    check_cmd.set_defaults(func=cmd_check)

    merge_cmd = sub.add_parser("merge", help="print the spec Argo stores for a Workflow")
    merge_cmd.add_argument("--workflow", required=True)
    merge_cmd.add_argument("--template")
    merge_cmd.add_argument(
        "--defaults",
        help="workflowDefaults (Workflow fragment), a policy file "
        "or a workflow-controller ConfigMap",
    )
    merge_cmd.add_argument(
        "--config", help="policy: Strict/Secure sanitise the Workflow as Argo does"
    )
    merge_cmd.add_argument(
        "--expect",
        help="compare with this stored spec: a spec, {spec: ...}, or a "
        "Workflow whose status holds it; exit 1 when different",
    )
    merge_cmd.set_defaults(func=cmd_merge)

    certs_cmd = sub.add_parser("certs", help="certificates", intermixed=False)
    certs_sub = certs_cmd.add_subparsers(
        dest="certs_command", required=True, parser_class=CommandParser
    )
    generate = certs_sub.add_parser("generate", help="write a CA and a serving certificate")
    generate.add_argument("--out", required=True, help="directory to write the files into")
    generate.add_argument(
        "--service", type=dns_label, help="the webhook's Service: its DNS names go into the SANs"
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
        help="extra DNS name or IP address for the SANs; repeat for more",
    )
    generate.set_defaults(func=cmd_certs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `argo-admission` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, ManifestError) as exc:
        return fail(str(exc))
    except ConfigError as exc:
        return fail(one_line(exc))
    except OSError as exc:  # a file named on the command line that cannot be read or written
        return fail(describe(exc))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, never a traceback
        return fail(f"unexpected {type(exc).__name__}: {exc} (a bug in argo-admission)")


def fail(message: str) -> int:
    """Report an error in one line on stderr; the exit code for errors."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def describe(exc: OSError) -> str:
    """`path: reason` for an error about a file."""
    if exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc.strerror or exc)


def one_line(exc: ConfigError) -> str:
    """A policy error in one line: every problem, each with its key path, `;`-separated."""
    text = str(exc)
    if "\n" not in text:
        return text
    return f"invalid policy {exc.source}: " + "; ".join(" ".join(e.split()) for e in exc.errors)


if __name__ == "__main__":
    sys.exit(main())
