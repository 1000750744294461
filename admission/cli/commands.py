"""The offline commands: read the inputs, call the core, write the answer, return the exit code.

`check`, `review`, `merge` and `audit` as the CLI runs them, each given typed options (the CLI
parses the command line into them; nothing here reads flags). Exit codes: 0 admitted (or
equivalent, or nothing found), 1 denied (or different, or findings), 2 an input or usage error,
raised as UsageError/ManifestError/ConfigError for the CLI to report in one line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TextIO

import yaml

from admission.cluster.listing import ClusterError, Listing
from admission.core import inventory
from admission.core.config import Config, enforces_nothing
from admission.core.diff import equivalent
from admission.core.merge import (
    MergeError,
    apply_workflow_defaults,
    join_workflow_spec,
    sanitize_user_spec,
)
from admission.core.policy import KINDS
from admission.core.policy.source import TemplateKey, TemplateLookupError
from admission.core.verdict import WRITERS, judge
from admission.core.webhook import handle
from admission.files.manifests import Document, ManifestError, Reader, describe_yaml_error
from admission.files.policy import load_policy, load_workflow_defaults
from admission.files.templates import FileTemplateSource

EXIT_OK: Final = 0
EXIT_DENIED: Final = 1
EXIT_ERROR: Final = 2


class UsageError(Exception):
    """Bad input on the command line: reported on stderr in one line, exit code 2."""


def template_source(
    reader: Reader, paths: Iterable[str], extra: Iterable[Any] = ()
) -> FileTemplateSource:
    """Templates (and Workflows) from files, directories or `-`, plus `extra` objects."""
    source = FileTemplateSource()
    paths = list(paths)
    docs = reader.documents(paths) if paths else []
    for doc in docs:
        if isinstance(doc.body, dict):
            source.add(doc.body)
    if docs and not any(_kind(doc.body) in SOURCE_KINDS for doc in docs):
        raise UsageError(
            f"--templates/--workflows {', '.join(paths)}: no WorkflowTemplate, "
            f"ClusterWorkflowTemplate or Workflow in it (found {_kinds(docs)})"
        )
    for obj in extra:
        if isinstance(obj, dict):
            source.add(obj)
    return source


TEMPLATE_KINDS: Final = ("WorkflowTemplate", "ClusterWorkflowTemplate")
SOURCE_KINDS: Final = frozenset({"workflowtemplate", "clusterworkflowtemplate", "workflow"})


def _kind(obj: Any) -> str:
    return str(obj.get("kind", "")).lower() if isinstance(obj, dict) else ""


def _kinds(docs: Iterable[Document]) -> str:
    return ", ".join(sorted({str(d.body.get("kind")) for d in docs if isinstance(d.body, dict)}))


def _expect_kind(obj: Any, path: str, kinds: tuple[str, ...]) -> None:
    """A document naming another kind than `kinds` is refused (one without `kind` is a fragment)."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind is not None and kind not in kinds:
        raise UsageError(f"{path}: a {kind}, not a {' or '.join(kinds)}")


def require_objects(docs: Iterable[Document]) -> None:
    """Every document must be an object (a mapping): a stray scalar or list is an input error."""
    for doc in docs:
        if not isinstance(doc.body, dict):
            raise ManifestError(
                f"{doc.source}: a document is a {type(doc.body).__name__}, not a Kubernetes object"
            )


# --- check ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOptions:
    """`argo-admission check`: manifests admitted as CREATEs, for CI pipelines."""

    manifests: tuple[str, ...]
    config: str | None = None
    templates: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    namespace: str = "default"
    output: str = "text"
    show_patch: bool = False


def check(options: CheckOptions, *, reader: Reader, out: TextIO, err: TextIO | None = None) -> int:
    """A verdict per policed object in the manifests; 1 when any is refused."""
    config = load_policy(options.config)
    warn_if_idle(config, err)
    docs = reader.documents(options.manifests)
    require_objects(docs)
    policed = [d for d in docs if str(d.body.get("kind", "")).lower() in KINDS]
    if not policed:
        raise UsageError(
            f"no Workflow, CronWorkflow, WorkflowTemplate or ClusterWorkflowTemplate in "
            f"{', '.join(options.manifests)}"
        )
    source = template_source(
        reader, [*options.templates, *options.workflows], (d.body for d in docs)
    )
    verdicts = [
        judge(d.body, config=config, templates=source, namespace=options.namespace, file=d.source)
        for d in policed
    ]
    out.write(WRITERS[options.output](verdicts, show_patch=options.show_patch))
    return EXIT_DENIED if any(not v.allowed for v in verdicts) else EXIT_OK


def warn_if_idle(config: Config, err: TextIO | None) -> None:
    """Say on stderr, loudly, that the policy enforces nothing (a verdict alone would not)."""
    idle = enforces_nothing(config)
    if idle:
        (err or sys.stderr).write(f"WARNING: {idle}\n")


# --- review ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewOptions:
    """`argo-admission review`: the response the server sends for one AdmissionReview."""

    review: str
    config: str | None = None
    templates: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    mutate: bool = False


def review(options: ReviewOptions, *, reader: Reader, out: TextIO, err: TextIO) -> int:
    """Print the AdmissionReview response the server would send (same code path)."""
    config = load_policy(options.config)
    source = template_source(reader, [*options.templates, *options.workflows])
    raw = reader.text(options.review)
    body: Any = raw
    if not raw.lstrip().startswith("{"):  # YAML; JSON goes to the server's own decoder
        try:
            body = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ManifestError(
                f"{options.review}: neither JSON nor YAML: {describe_yaml_error(exc)}"
            ) from exc
        if not isinstance(body, dict):
            raise UsageError(f"{options.review}: not an AdmissionReview object")
    endpoint = "mutate" if options.mutate else "validate"
    result = handle(body, endpoint=endpoint, config=config, templates=source)
    out.write(json.dumps(result.body, indent=2, sort_keys=True) + "\n")
    if result.status != 200:
        err.write(f"error: {options.review}: {result.body.get('message')}\n")
        return EXIT_ERROR
    return EXIT_OK if result.body["response"]["allowed"] else EXIT_DENIED


# --- merge ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeOptions:
    """`argo-admission merge`: the spec Argo stores for a Workflow."""

    workflow: str
    template: str | None = None
    defaults: str | None = None
    config: str | None = None
    expect: str | None = None


def merge(options: MergeOptions, *, reader: Reader, out: TextIO, err: TextIO) -> int:
    """Print the spec Argo stores in status.storedWorkflowTemplateSpec (or the defaulted spec)."""
    workflow = reader.one(options.workflow)
    if not isinstance(workflow, dict) or not isinstance(workflow.get("spec"), dict):
        raise UsageError(f"{options.workflow}: not a Workflow (no spec)")
    _expect_kind(workflow, options.workflow, ("Workflow",))
    config = load_policy(options.config) if options.config else Config()
    defaults = (
        load_workflow_defaults(options.defaults)
        if options.defaults
        else dict(config.workflow_defaults)
    )
    spec = workflow["spec"]
    try:
        if options.template:
            template = reader.one(options.template)
            if not isinstance(template, dict):
                raise UsageError(f"{options.template}: not a template")
            _expect_kind(template, options.template, TEMPLATE_KINDS)
            user = sanitize_user_spec(spec, config.override_allowlist) if config.strict else spec
            merged = join_workflow_spec(user, template.get("spec") or {}, defaults.get("spec"))
        elif spec.get("workflowTemplateRef"):
            raise UsageError("the Workflow references a template: pass it with --template")
        else:
            merged = apply_workflow_defaults(workflow, defaults).get("spec", {})
    except MergeError as exc:
        err.write(f"error: Argo cannot join these specs: {exc}\n")
        return EXIT_DENIED
    out.write(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    if options.expect:
        same = equivalent(merged, _stored_spec(reader.one(options.expect)))
        err.write("equivalent\n" if same else "DIFFERENT\n")
        return EXIT_OK if same else EXIT_DENIED
    return EXIT_OK


def _stored_spec(expected: Any) -> Any:
    """A spec, {spec: ...}, or a Workflow the controller ran (its stored spec)."""
    if isinstance(expected, dict) and "status" in expected:
        return (expected.get("status") or {}).get("storedWorkflowTemplateSpec")
    if isinstance(expected, dict) and isinstance(expected.get("spec"), dict):
        return expected["spec"]
    return expected


# --- audit ----------------------------------------------------------------------------------

AUDIT_FORMATS: Final = ("table", "json", "policyreport")


@dataclass(frozen=True)
class AuditOptions:
    """`argo-admission audit`: objects judged as they stand, from files or a cluster."""

    files: tuple[str, ...] = ()
    """Exported manifests; none: list the cluster's objects."""
    kubeconfig: str | None = None
    namespace: str | None = None
    """Only this namespace's objects (ClusterWorkflowTemplates still serve as templates)."""
    config: str | None = None
    templates: tuple[str, ...] = ()
    output: str = "table"


def audit(
    options: AuditOptions,
    *,
    reader: Reader,
    out: TextIO,
    list_cluster: Callable[[AuditOptions], Listing],
    now: Callable[[], float] = time.time,
    err: TextIO | None = None,
) -> int:
    """Judge the objects; 1 when anything is to be acted on (a fail, warn or error)."""
    config = load_policy(options.config)
    warn_if_idle(config, err)
    if options.files:
        docs = reader.documents(options.files)
        require_objects(docs)
        objects = [d.body for d in docs]
        source = template_source(reader, options.templates, objects)
        findings = inventory.audit(_audited(objects, options), config=config, templates=source)
    else:
        findings = _audit_cluster(list_cluster(options), options, config, reader)
    if options.output == "json":
        out.write(json.dumps([f.as_dict() for f in inventory.problems(findings)], indent=2) + "\n")
    elif options.output == "policyreport":
        reports = inventory.policy_reports(findings, timestamp=int(now()))
        out.write(yaml.safe_dump_all(reports, sort_keys=False, width=1000))
    else:
        out.write(inventory.table(findings))
    return EXIT_DENIED if inventory.problems(findings) else EXIT_OK


def _audited(objects: Iterable[Any], options: AuditOptions) -> list[Any]:
    return [o for o in objects if inventory.is_audited(o) and _in_namespace(o, options.namespace)]


def _audit_cluster(
    listing: Listing, options: AuditOptions, config: Config, reader: Reader
) -> list[inventory.Finding]:
    """Each page judged as it arrives, only its findings kept; the templates judged last (the
    order of a whole listing: Workflows, CronWorkflows, then templates)."""
    source = ClusterSource(template_source(reader, options.templates, listing.templates), listing)
    findings: list[inventory.Finding] = []
    for page in listing.pages:
        findings += inventory.audit(_audited(page, options), config=config, templates=source)
    audited = _audited(listing.templates, options)
    return findings + inventory.audit(audited, config=config, templates=source)


class ClusterSource:
    """Templates listed (and read from --templates); a Workflow from the files, else fetched."""

    def __init__(self, files: FileTemplateSource, listing: Listing) -> None:
        self._files = files
        self._listing = listing

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        """The template (see FileTemplateSource.get)."""
        return self._files.get(key)

    def workflows_using(self, key: TemplateKey) -> list[str]:
        """Not asked by an audit (a template UPDATE's warning): the files' answer."""
        return list(self._files.workflows_using(key))

    def workflow(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> Mapping[str, Any] | None:
        """The Workflow from --templates/--workflows files, else read from the cluster (every
        read is fresh: an audit keeps no cache)."""
        found = self._files.workflow(namespace, name)
        if found is not None:
            return found
        try:
            return self._listing.workflow(namespace, name)
        except ClusterError as exc:
            raise TemplateLookupError(str(exc)) from exc


def _in_namespace(obj: Mapping[str, Any], namespace: str | None) -> bool:
    if namespace is None:
        return True
    if obj.get("kind") == "ClusterWorkflowTemplate":
        return False
    own = (obj.get("metadata") or {}).get("namespace")
    return (own or "default") == namespace
