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
from typing import Any

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
    certs.write_bundle(args.out, certs.make_bundle(hosts, days=args.days))
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
    parser = argparse.ArgumentParser(prog="argo-admission", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)

    serve = sub.add_parser("serve", help="run the webhook server (gunicorn, TLS)")
    serve.add_argument(
        "--config",
        help="policy file or workflow-controller ConfigMap "
        "(default: the shipped policies/default.yaml)",
    )
    serve.add_argument("--cert-dir", default="certs", help="tls.crt/tls.key; generated if absent")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--threads", type=int, default=4)
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
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--lookup-timeout",
        type=float,
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
    generate.add_argument("--out", required=True)
    generate.add_argument("--service")
    generate.add_argument("--namespace", default="default")
    generate.add_argument("--days", type=int, default=365)
    generate.add_argument("--host", action="append", default=[], help="extra DNS name or IP")
    generate.set_defaults(func=cmd_certs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `argo-admission` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ConfigError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


def one_line(exc: ConfigError) -> str:
    """A policy error in one line: every problem, each with its key path, `;`-separated."""
    text = str(exc)
    if "\n" not in text:
        return text
    return f"invalid policy {exc.source}: " + "; ".join(" ".join(e.split()) for e in exc.errors)


if __name__ == "__main__":
    sys.exit(main())
