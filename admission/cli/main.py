"""`argo-admission`: serve | review | check | merge | audit | export vap|map | certs generate |
webhooks remove | completion.

The command line is an edge: it parses arguments (admission/cli/arguments.py) into typed options
and calls the commands (admission/cli/commands.py, admission/server/serving.py); nothing
imports it. Exit
codes: 0 success (review/check: everything admitted), 1 something denied, 2 usage or input
errors (unreadable files, malformed AdmissionReview, invalid policy), each reported in one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import yaml

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
from admission.cluster.listing import ClusterError, Listing
from admission.core import mutatingpolicy
from admission.core.config import ConfigError
from admission.core.vap import policy_objects
from admission.files.manifests import ManifestError, Reader
from admission.files.policy import load_policy
from admission.server import certs

EXIT_INTERRUPTED: Final = 130
Options = TypeVar("Options")


def options_of(kind: type[Options], args: argparse.Namespace, **flags: str) -> Options:
    """The options dataclass `kind`, each field from the flag of its name (or the one `flags`
    names for it); a repeatable flag's list becomes a tuple."""
    values = {}
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        value = getattr(args, flags.get(field.name, field.name))
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return kind(**values)


def cmd_check(args: argparse.Namespace) -> int:
    """Admit each manifest as a CREATE (mutate, then validate); a verdict per object."""
    options = options_of(CheckOptions, args)
    return check(options, reader=Reader(), out=sys.stdout)


def cmd_review(args: argparse.Namespace) -> int:
    """Print the AdmissionReview response the server would send for one request."""
    options = options_of(ReviewOptions, args)
    return review(options, reader=Reader(), out=sys.stdout, err=sys.stderr)


def cmd_merge(args: argparse.Namespace) -> int:
    """Print the spec Argo stores in status.storedWorkflowTemplateSpec (or the defaulted spec)."""
    options = options_of(MergeOptions, args)
    return merge(options, reader=Reader(), out=sys.stdout, err=sys.stderr)


def cmd_audit(args: argparse.Namespace) -> int:
    """Judge existing objects as they stand; a table, JSON findings or PolicyReports."""
    if args.filename and args.kubeconfig:
        raise UsageError("audit reads either manifests (-f) or a cluster (--kubeconfig), not both")
    options = options_of(AuditOptions, args, files="filename")
    return audit(options, reader=Reader(), out=sys.stdout, list_cluster=list_cluster)


def list_cluster(options: AuditOptions) -> Listing:
    """The Argo objects of the cluster the kubeconfig (or the in-cluster config) names, the
    Workflows and CronWorkflows a page at a time."""
    from admission.cluster import objects_api
    from admission.cluster.listing import streamed

    return streamed(
        objects_api(api_client(options.kubeconfig)),
        namespace=options.namespace,
        skipped=lambda why: print(f"warning: {why}", file=sys.stderr),
    )


def api_client(kubeconfig: str | None) -> Any:
    """A client for the cluster `kubeconfig` (or the in-cluster config) names; UsageError."""
    from admission.cluster import ConnectError, connect

    try:
        return connect(kubeconfig)
    except (ConnectError, OSError) as exc:
        where = kubeconfig or "no in-cluster config and no kubeconfig"
        raise UsageError(f"--kubeconfig {where}: {exc}") from exc


def cmd_export(args: argparse.Namespace) -> int:
    """Print the policy as a ValidatingAdmissionPolicy and its binding (YAML)."""
    if args.export_command == "map":
        return export_mutating(args)
    library = None
    if args.library_configmap:
        namespace, _, name = args.library_configmap.partition("/")
        if not namespace or not name or "/" in name:
            raise UsageError(
                f"--library-configmap {args.library_configmap}: must be NAMESPACE/NAME"
            )
        library = (namespace, name)
    objects = policy_objects(load_policy(args.config), name=args.name, library=library)
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, width=100))
    return EXIT_OK


def export_mutating(args: argparse.Namespace) -> int:
    """Print /mutate's baseline as a MutatingAdmissionPolicy and its binding (YAML); a policy
    with nothing the API server can mutate is refused with the reason."""
    config = load_policy(args.config)
    reason = mutatingpolicy.why_not(config)
    if reason:
        raise UsageError(f"export map: nothing to export: {reason}")
    objects = mutatingpolicy.policy_objects(config, name=args.name)
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, width=100))
    return EXIT_OK


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

    return serve(options_of(ServeOptions, args))


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
    "export": cmd_export,
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
