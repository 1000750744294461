"""`argo-admission`: serve | review | check | merge | audit | certs generate | webhooks remove |
completion.

The command line is an edge: it parses arguments (admission/cli/arguments.py) into typed options
and calls the commands (admission/cli/commands.py, admission/server/serving.py); nothing
imports it. Exit
codes: 0 success (review/check: everything admitted), 1 something denied, 2 usage or input
errors (unreadable files, malformed AdmissionReview, invalid policy), each reported in one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from admission.cli.arguments import build_parser, completion_script
from admission.cli.commands import (
    EXIT_ERROR,
    EXIT_OK,
    AuditOptions,
    CheckOptions,
    MergeOptions,
    ReviewOptions,
    UsageError,
    audit,
    check,
    merge,
    review,
)
from admission.cluster.listing import ClusterError
from admission.core.config import ConfigError
from admission.files.manifests import ManifestError, Reader
from admission.server import certs

EXIT_INTERRUPTED: Final = 130


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


def cmd_audit(args: argparse.Namespace) -> int:
    """Judge existing objects as they stand; a table, JSON findings or PolicyReports."""
    if args.filename and args.kubeconfig:
        raise UsageError("audit reads either manifests (-f) or a cluster (--kubeconfig), not both")
    options = AuditOptions(
        files=tuple(args.filename),
        kubeconfig=args.kubeconfig,
        namespace=args.namespace,
        config=args.config,
        templates=tuple(args.templates),
        output=args.output,
    )
    return audit(options, reader=Reader(), out=sys.stdout, list_cluster=list_cluster)


def list_cluster(options: AuditOptions) -> list[dict[str, Any]]:
    """The Argo objects of the cluster the kubeconfig (or the in-cluster config) names."""
    from kubernetes import client

    from admission.cluster.listing import list_objects

    return list_objects(
        client.CustomObjectsApi(api_client(options.kubeconfig)),
        namespace=options.namespace,
        skipped=lambda why: print(f"warning: {why}", file=sys.stderr),
    )


def api_client(kubeconfig: str | None) -> Any:
    """A client for the cluster `kubeconfig` (or the in-cluster config) names; UsageError."""
    # imported here: the kubernetes client takes a good part of a second to import
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException

    from admission.cluster.kube import kube_configuration

    try:
        return client.ApiClient(kube_configuration(kubeconfig))
    except (ConfigException, OSError) as exc:
        where = kubeconfig or "no in-cluster config and no kubeconfig"
        raise UsageError(f"--kubeconfig {where}: {exc}") from exc


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


# --- webhooks -------------------------------------------------------------------------------


def cmd_webhooks(args: argparse.Namespace) -> int:
    """Delete the webhook configurations (break-glass); a line for each."""
    from admission.cluster.registration import remove

    for line in remove(api_client(args.kubeconfig), args.name or ["argo-admission"]):
        print(line)
    print("the servers register them again when one is Ready (restart them once they can start)")
    return EXIT_OK


# --- serve ----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve /validate and /mutate over TLS under gunicorn."""
    # imported here: gunicorn and the kubernetes client take most of a second to import,
    # which the offline commands do not need
    from admission.server.options import ServeOptions
    from admission.server.serving import serve

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
            background_audit=args.background_audit,
            audit_lease=args.audit_lease,
            audit_file=args.audit_file,
            events_per_minute=args.events_per_minute,
            metrics_port=args.metrics_port,
            log_level=args.log_level,
            lookup_timeout=args.lookup_timeout,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `argo-admission` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ManifestError, ClusterError) as exc:
        return fail(str(exc))
    except ConfigError as exc:
        return fail(one_line(exc))
    except OSError as exc:  # a file named on the command line that cannot be read or written
        return fail(describe(exc))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, never a traceback
        return fail(f"unexpected {type(exc).__name__}: {exc} (a bug in argo-admission)")


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the completion script for a shell."""
    sys.stdout.write(completion_script(args.shell))
    return EXIT_OK


COMMANDS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "serve": cmd_serve,
    "review": cmd_review,
    "check": cmd_check,
    "merge": cmd_merge,
    "audit": cmd_audit,
    "certs": cmd_certs,
    "webhooks": cmd_webhooks,
    "completion": cmd_completion,
}


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
