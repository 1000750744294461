"""`argo-admission`: serve | review | check | merge | certs generate.

Exit codes: 0 success (review/check: everything admitted), 1 something denied, 2 usage or
input errors (unreadable files, malformed AdmissionReview, invalid policy).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

from admission import __version__, certs
from admission.config import Config, ConfigError, load_workflow_defaults
from admission.diff import equivalent
from admission.merge import (
    MergeError,
    apply_workflow_defaults,
    join_workflow_spec,
    sanitize_user_spec,
)
from admission.objects import metadata_of
from admission.policy import KINDS
from admission.review import make_review
from admission.state import load_policy
from admission.templates import FileTemplateSource, ManifestError, manifest_files, read_documents
from admission.webhook import handle

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input on the command line: reported on stderr, exit code 2."""


def _template_source(
    paths: Iterable[str], extra: Iterable[dict[str, Any]] = ()
) -> FileTemplateSource:
    source = FileTemplateSource.from_paths(paths)
    for obj in extra:
        source.add(obj)
    return source


def _read_one(path: str) -> Any:
    docs = read_documents(Path(path)) if path != "-" else list(yaml.safe_load_all(sys.stdin))
    if len(docs) != 1:
        raise UsageError(f"{path}: expected one document, found {len(docs)}")
    return docs[0]


# --- review ---------------------------------------------------------------------------------


def cmd_review(args: argparse.Namespace) -> int:
    """Print the AdmissionReview response the server would send for one request."""
    config = load_policy(args.config)
    source = _template_source([*args.templates, *args.workflows])
    raw = sys.stdin.read() if args.review == "-" else _read_text(args.review)
    body: Any = raw
    if not raw.lstrip().startswith("{"):  # YAML; JSON goes to the server's own decoder
        try:
            body = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise UsageError(f"{args.review}: neither JSON nor YAML: {exc}") from exc
        if not isinstance(body, dict):
            raise UsageError(f"{args.review}: not an AdmissionReview object")
    result = handle(
        body, endpoint="mutate" if args.mutate else "validate", config=config, templates=source
    )
    print(json.dumps(result.body, indent=2, sort_keys=True))
    if result.status != 200:
        print(f"error: {result.body.get('message')}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if result.body["response"]["allowed"] else EXIT_DENIED


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc


# --- check ----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    """Admit each manifest as a CREATE (mutate, then validate) and print a verdict per object."""
    config = load_policy(args.config)
    objects: list[tuple[str, dict[str, Any]]] = []
    for file in manifest_files(args.manifests):
        for doc in read_documents(file):
            if isinstance(doc, dict):
                objects.append((str(file), doc))
    policed = [(p, o) for p, o in objects if str(o.get("kind", "")).lower() in KINDS]
    if not policed:
        raise UsageError(
            "no Workflow, CronWorkflow, WorkflowTemplate or ClusterWorkflowTemplate "
            "found in the manifests"
        )
    source = _template_source(args.templates, (o for _, o in objects))
    denied = 0
    for path, obj in policed:
        ok, lines = _check_one(obj, config, source, args.namespace)
        denied += not ok
        print(f"{'ADMIT' if ok else 'DENY '} {_describe(obj, args.namespace)} ({path})")
        for line in lines:
            print(f"    {line}")
    print(f"{len(policed) - denied} admitted, {denied} denied")
    return EXIT_DENIED if denied else EXIT_OK


def _check_one(
    obj: dict[str, Any], config: Config, source: FileTemplateSource, namespace: str
) -> tuple[bool, list[str]]:
    review = make_review(obj, namespace=namespace)
    mutated = handle(review, endpoint="mutate", config=config, templates=source)
    response = mutated.body["response"]
    lines = [f"warning: {w}" for w in response.get("warnings", [])]
    if "patch" in response:
        ops = json.loads(base64.b64decode(response["patch"]))
        obj = jsonpatch.apply_patch(obj, ops)
        review = make_review(obj, namespace=namespace)
        lines.append(f"mutated: {len(ops)} patch operation(s)")
    validated = handle(review, endpoint="validate", config=config, templates=source)
    response = validated.body["response"]
    lines += [f"warning: {w}" for w in response.get("warnings", [])]
    if not response["allowed"]:
        lines += response["status"]["message"].splitlines()
    return bool(response["allowed"]), lines


def _describe(obj: dict[str, Any], namespace: str) -> str:
    meta = metadata_of(obj)
    name = meta.get("name") or meta.get("generateName", "?")
    if obj.get("kind") == "ClusterWorkflowTemplate":
        return f"{obj.get('kind')} {name}"
    return f"{obj.get('kind')} {meta.get('namespace') or namespace}/{name}"


# --- merge ----------------------------------------------------------------------------------


def cmd_merge(args: argparse.Namespace) -> int:
    """Print the spec Argo stores in status.storedWorkflowTemplateSpec (or the defaulted spec)."""
    workflow = _read_one(args.workflow)
    if not isinstance(workflow, dict) or not isinstance(workflow.get("spec"), dict):
        raise UsageError(f"{args.workflow}: not a Workflow (no spec)")
    config = load_policy(args.config) if args.config else Config()
    defaults = (
        load_workflow_defaults(args.defaults) if args.defaults else dict(config.workflow_defaults)
    )
    spec = workflow["spec"]
    try:
        if args.template:
            template = _read_one(args.template)
            if not isinstance(template, dict):
                raise UsageError(f"{args.template}: not a template")
            user = sanitize_user_spec(spec, config.override_allowlist) if config.strict else spec
            merged = join_workflow_spec(user, template.get("spec") or {}, defaults.get("spec"))
        elif spec.get("workflowTemplateRef"):
            raise UsageError("the Workflow references a template: pass it with --template")
        else:
            merged = apply_workflow_defaults(workflow, defaults).get("spec", {})
    except MergeError as exc:
        print(f"error: Argo cannot join these specs: {exc}", file=sys.stderr)
        return EXIT_DENIED
    print(json.dumps(merged, indent=2, sort_keys=True))
    if args.expect:
        expected = _read_one(args.expect)
        if isinstance(expected, dict) and "status" in expected:  # a Workflow the controller ran
            expected = (expected.get("status") or {}).get("storedWorkflowTemplateSpec")
        elif isinstance(expected, dict) and isinstance(expected.get("spec"), dict):
            expected = expected["spec"]
        same = equivalent(merged, expected)
        print("equivalent" if same else "DIFFERENT", file=sys.stderr)
        return EXIT_OK if same else EXIT_DENIED
    return EXIT_OK


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="argo-admission", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

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
        nargs="*",
        default=[],
        metavar="PATH",
        help="read templates from files instead of the cluster",
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

    review = sub.add_parser("review", help="print the response to one AdmissionReview")
    review.add_argument("--config")
    review.add_argument("--templates", nargs="*", default=[], metavar="PATH")
    review.add_argument(
        "--workflows",
        nargs="*",
        default=[],
        metavar="PATH",
        help="running Workflows, for the template-edit warning",
    )
    review.add_argument("--mutate", action="store_true", help="answer as /mutate")
    review.add_argument(
        "review", nargs="?", help="AdmissionReview request (JSON or YAML; - for stdin)"
    )
    review.set_defaults(func=cmd_review)

    check = sub.add_parser("check", help="check manifests as CREATEs (for CI pipelines)")
    check.add_argument("--config")
    check.add_argument("--templates", nargs="*", default=[], metavar="PATH")
    check.add_argument("--namespace", default="default", help="namespace for manifests without one")
    check.add_argument("manifests", nargs="*")
    check.set_defaults(func=cmd_check)

    merge = sub.add_parser("merge", help="print the spec Argo stores for a Workflow")
    merge.add_argument("--workflow", required=True)
    merge.add_argument("--template")
    merge.add_argument(
        "--defaults",
        help="workflowDefaults (Workflow fragment), a policy file "
        "or a workflow-controller ConfigMap",
    )
    merge.add_argument("--config", help="policy: Strict/Secure sanitise the Workflow as Argo does")
    merge.add_argument(
        "--expect",
        help="compare with this stored spec: a spec, {spec: ...}, or a "
        "Workflow whose status holds it; exit 1 when different",
    )
    merge.set_defaults(func=cmd_merge)

    certs_cmd = sub.add_parser("certs", help="certificates")
    certs_sub = certs_cmd.add_subparsers(dest="certs_command", required=True)
    generate = certs_sub.add_parser("generate", help="write a CA and a serving certificate")
    generate.add_argument("--out", required=True)
    generate.add_argument("--service")
    generate.add_argument("--namespace", default="default")
    generate.add_argument("--days", type=int, default=365)
    generate.add_argument("--host", action="append", default=[], help="extra DNS name or IP")
    generate.set_defaults(func=cmd_certs)
    return parser


def _positional_after_list(args: argparse.Namespace) -> None:
    """`review --templates A B REVIEW`: a greedy --templates list swallowed the positional."""
    if args.command == "review" and args.review is None and len(args.templates) > 1:
        args.review = args.templates.pop()
    if args.command == "check" and not args.manifests and len(args.templates) > 1:
        args.manifests = [args.templates.pop()]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `argo-admission` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _positional_after_list(args)
    if args.command == "review" and args.review is None:
        parser.error("review: the AdmissionReview file is required")
    if args.command == "check" and not args.manifests:
        parser.error("check: at least one MANIFEST is required")
    try:
        return int(args.func(args))
    except (UsageError, ManifestError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
