"""`argo-admission serve`: the webhook under gunicorn, over TLS, with JSON logs.

The master validates the policy, makes certificates when there are none, and forks gthread
workers; each worker loads the policy itself, starts its own template cache (watch threads
run in the worker, after the fork) and builds the Flask app. Connections are kept alive long
enough for the API server to reuse them; the certificate is re-read when its files change.
Metrics are shared between workers through files in a private run directory.
"""

from __future__ import annotations

import gc
import logging
import logging.config
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gunicorn.app.base import BaseApplication

from admission.cluster import ConnectError, configuration, connect
from admission.cluster.argoconfigmap import ControllerConfigMap
from admission.cluster.kube import KubeTemplateSource, cluster_config_exists
from admission.cluster.leases import LeaseElector, own_namespace
from admission.cluster.registration import Registrar, RegistrationError, read_configurations
from admission.core.config import Config, enforces_nothing
from admission.files.templates import FileTemplateSource
from admission.server import certs
from admission.server.logs import LEVELS, QuietAccessLogger, logging_dict
from admission.server.state import PolicyFile, State, StaticSource, load_policy
from admission.server.tls import CertReloader, build_context

log = logging.getLogger("argo_admission.serving")

# Longer than the 90 s after which Go's HTTP client (the API server's) drops an idle connection:
# the client closes first, so it never sends a request on a connection we have just closed.
KEEPALIVE_SECONDS: Final = 120
WORKER_TIMEOUT: Final = 30
GRACEFUL_SECONDS: Final = 20  # under a Pod's default 30 s termination grace period
KEPT_POLICY: Final = "policy.yaml"
DEFAULT_LEASE: Final = "argo-admission-audit"
GC_GEN0_THRESHOLD: Final = 20_000  # CPython's default is 700 allocations


def bind_address(host: str, port: int) -> str:
    """host:port for gunicorn, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class WebhookApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn configured in code; `load` builds the app in each worker."""

    def __init__(self, options: dict[str, Any], build: Callable[[], Any]) -> None:
        self.options = options
        self.build = build
        super().__init__()

    def load_config(self) -> None:
        """Apply our options to gunicorn's settings."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The WSGI app, built in the worker process."""
        return self.build()


# --- the run --------------------------------------------------------------------------------

SourceFactory = Callable[[Callable[[str], None], Callable[[str], None]], Any]


@dataclass(frozen=True)
class ServeOptions:
    """What `argo-admission serve` is asked to do (the CLI's flags, typed)."""

    config: str | None = None
    """Policy file or workflow-controller ConfigMap; None: the shipped default policy."""
    cert_dir: str = "certs"
    """Where tls.crt/tls.key are read from (generated there when absent)."""
    host: str = "0.0.0.0"
    port: int = 8443
    workers: int = 2
    threads: int = 4
    templates: tuple[str, ...] = ()
    """Template files or directories to serve instead of the cluster's."""
    kubeconfig: str | None = None
    """Kubeconfig for template lookups; None: in-cluster, then the default kubeconfig."""
    no_cluster: bool = False
    """No Kubernetes API at all: templates only from `templates`."""
    argo_configmap: str | None = None
    """NAMESPACE/NAME of Argo's controller ConfigMap, watched where it lives."""
    register_webhooks: str | None = None
    """Webhook configurations to create or update on the API server once ready."""
    webhook_owner: str | None = None
    """ClusterRole that owns the registered configurations."""
    background_audit: float | None = None
    """Seconds between two audits of the cluster (PolicyReports); None: no background audit."""
    audit_lease: str | None = None
    """NAMESPACE/NAME of the Lease electing the one server that audits; None: the default."""
    audit_file: str | None = None
    log_level: str = "info"
    lookup_timeout: float = 3.0
    """Seconds a template lookup may take on a cache miss."""
    workflow_cache: int = 10_000
    """Unfinished Workflows the watch keeps for task-result writes (0: none, GET each time)."""


def serve(options: ServeOptions) -> int:
    """Run the webhook until SIGTERM/SIGINT; returns an exit code on start-up errors."""
    if options.log_level.upper() not in LEVELS:
        print(f"error: --log-level must be one of {', '.join(LEVELS).lower()}", file=sys.stderr)
        return 2
    logging.config.dictConfig(logging_dict(options.log_level))
    config = load_policy(options.config)  # a ConfigError ends the start here, with every problem
    problem = (
        _configmap_problem(options)
        or _registration_problem(options)
        or _background_audit_problem(options)
    )
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        templates, where = template_factory(options)
        generated = certs.ensure_certs(options.cert_dir, _cert_hosts(options.host))
        build_context(Path(options.cert_dir) / "tls.crt", Path(options.cert_dir) / "tls.key")
    except (ConnectError, OSError) as exc:  # ssl.SSLError too: a key that does not match
        log.error("cannot start: %s", exc)
        return 2
    if generated:
        log.info(
            "generated a CA and a serving certificate in %s (ca.crt is the caBundle)",
            options.cert_dir,
        )
    log.info(
        "serving %s (templateReferencing=%r, mode=%s) on https://%s, templates from %s",
        config.source,
        config.template_referencing,
        config.mode,
        bind_address(options.host, options.port),
        where,
    )
    if not options.argo_configmap and (idle := enforces_nothing(config)):
        log.warning("%s", idle)
    if config.strict and config.template_library.authors is None:
        log.warning(
            "templateLibrary.authors is not set: the template library rests on RBAC alone, and "
            "whoever may write a (Cluster)WorkflowTemplate can put one into it"
        )
    run_dir = Path(tempfile.mkdtemp(prefix="argo-admission-"))
    use_metrics_dir(run_dir)
    cert_dir = Path(options.cert_dir)
    reloader = CertReloader(cert_dir / "tls.crt", cert_dir / "tls.key")
    settings = gunicorn_options(options, cert_dir=cert_dir, run_dir=run_dir, reloader=reloader)
    WebhookApplication(
        settings,
        lambda: build_app(options, config, templates, run_dir=run_dir, certificate=reloader),
    ).run()
    return 0


def _configmap_problem(options: ServeOptions) -> str:
    """Why --argo-configmap cannot be used ("" when it can, or is not given)."""
    given = options.argo_configmap
    if not given:
        return ""
    return _namespaced_problem("--argo-configmap", given) or _cluster_problem(
        "--argo-configmap", options, files_too=True
    )


def _registration_problem(options: ServeOptions) -> str:
    """Why --register-webhooks cannot be used ("" when it can, or is not given)."""
    path = options.register_webhooks
    if not path:
        return ""
    try:
        read_configurations(path)
    except RegistrationError as exc:
        return f"--register-webhooks {exc}"
    return _cluster_problem("--register-webhooks", options)


def _background_audit_problem(options: ServeOptions) -> str:
    """Why --background-audit cannot be used ("" when it can, or is not given)."""
    if options.audit_lease and not options.background_audit:
        return "--audit-lease elects the server of --background-audit, which is not given"
    if not options.background_audit:
        return ""
    return _namespaced_problem("--audit-lease", audit_lease(options)) or _cluster_problem(
        "--background-audit", options, files_too=True
    )


def _namespaced_problem(flag: str, given: str) -> str:
    """Why `given` is not NAMESPACE/NAME ("" when it is)."""
    namespace, sep, name = given.partition("/")
    if not sep or not namespace or not name or "/" in name:
        return f"{flag} {given!r} must be NAMESPACE/NAME"
    return ""


def _cluster_problem(flag: str, options: ServeOptions, *, files_too: bool = False) -> str:
    """Why `flag`, which needs the cluster, cannot have it ("" when it can)."""
    if files_too and (options.no_cluster or options.templates):
        return f"{flag} reads the cluster; it cannot go with --no-cluster or --templates"
    if options.kubeconfig is None and not cluster_config_exists():
        return f"{flag} needs a cluster: no in-cluster config and no --kubeconfig"
    return ""


def audit_lease(options: ServeOptions) -> str:
    """NAMESPACE/NAME of the audit Lease: as given, or argo-admission-audit in our namespace."""
    return options.audit_lease or f"{own_namespace()}/{DEFAULT_LEASE}"


def _cert_hosts(host: str) -> list[str]:
    wildcard = host in ("", "0.0.0.0", "::")
    return certs.default_hosts(extra=[] if wildcard else [host])


def use_metrics_dir(run_dir: Path) -> None:
    """Point prometheus_client's multiprocess mode at an empty directory.

    Set before prometheus_client is first imported, which the workers do when they build the
    app. A directory the operator chose is emptied of old values, as its docs require.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return
    metrics_dir = run_dir / "metrics"
    metrics_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


def template_factory(options: ServeOptions) -> tuple[SourceFactory, str]:
    """How each worker gets its template source, checked now: files are read once, here."""
    if options.templates or options.no_cluster:
        files = FileTemplateSource.from_paths(options.templates)
        return (
            lambda observe, _workflows: StaticSource(files, observe=observe),
            f"files ({', '.join(options.templates) or 'none'})",
        )
    if options.kubeconfig is None and not cluster_config_exists():
        log.warning(
            "no in-cluster config and no kubeconfig: no template can be looked up, so "
            "every workflowTemplateRef is reported as not found (pass --kubeconfig, or "
            "--templates for files)"
        )
        return (
            lambda observe, _workflows: StaticSource(FileTemplateSource(), observe=observe),
            "nowhere",
        )
    cluster = configuration(options.kubeconfig)

    def kube(observe: Callable[[str], None], observe_workflow: Callable[[str], None]) -> Any:
        source = KubeTemplateSource(
            cluster,
            lookup_timeout=options.lookup_timeout,
            observe=observe,
            observe_workflow=observe_workflow,
            workflow_cache=options.workflow_cache,
        )
        source.start()  # in the worker: threads do not survive a fork
        return source

    return kube, f"the API server {cluster.host}"


def gunicorn_options(
    options: ServeOptions, *, cert_dir: Path, run_dir: Path, reloader: CertReloader | None = None
) -> dict[str, Any]:
    """gunicorn settings: gthread workers, TLS with reloading certificates, JSON logs."""
    reloader = reloader or CertReloader(cert_dir / "tls.crt", cert_dir / "tls.key")
    return {
        "bind": [bind_address(options.host, options.port)],
        "worker_class": "admission.server.worker.WebhookWorker",  # gthread, see worker.py
        "workers": options.workers,
        "threads": options.threads,
        "keepalive": KEEPALIVE_SECONDS,
        "timeout": WORKER_TIMEOUT,
        "graceful_timeout": GRACEFUL_SECONDS,
        "certfile": str(cert_dir / "tls.crt"),
        "keyfile": str(cert_dir / "tls.key"),
        "ssl_context": lambda conf, default_factory: reloader.context(),
        "logconfig_dict": logging_dict(options.log_level),
        "logger_class": QuietAccessLogger,
        "loglevel": options.log_level,
        "proc_name": "argo-admission",
        "worker_tmp_dir": str(run_dir),
        "control_socket_disable": True,  # no gunicornc socket: nothing else steers this server
        "child_exit": _child_exit,
        "worker_exit": _worker_exit,
        "on_exit": lambda arbiter: shutil.rmtree(run_dir, ignore_errors=True),
    }


def _child_exit(arbiter: Any, worker: Any) -> None:
    from admission.server.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def _worker_exit(arbiter: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    deps = getattr(app, "extensions", {}).get("argo_admission")
    if deps is not None:
        deps.state.close()


def build_app(
    options: ServeOptions,
    config: Config,
    templates: SourceFactory,
    *,
    run_dir: Path,
    certificate: CertReloader | None = None,
) -> Any:
    """The Flask app for one worker: policy, template source, audit and metrics."""
    # imported here, in the worker: prometheus_client picks its multiprocess mode at import
    from admission.server.app import create_app
    from admission.server.audit import Audit
    from admission.server.metrics import Metrics

    metrics = Metrics.create()
    policy = PolicyFile(
        options.config,
        fallback=config,
        keep=run_dir / KEPT_POLICY,
        on_reload=lambda ok: metrics.count_reload(ok=ok),
    )
    state = State(
        policy,
        templates(metrics.count_lookup, metrics.count_workflow_lookup),
        controller_configmap(options),
    )
    state.start()
    if options.register_webhooks:
        Registrar(
            connect(options.kubeconfig),
            read_configurations(options.register_webhooks),
            owner=options.webhook_owner,
            ready=lambda: not state.readiness(),
        ).start()
    if options.background_audit:
        state.on_close(background_audit(options, state, metrics))
    metrics.follow(
        policy=lambda: state.config, certificate=certificate.expiry if certificate else None
    )
    # denials and warnings are always written; --log-level debug adds the admitted requests
    debug = options.log_level.lower() == "debug"
    audit = Audit(
        metrics=metrics, file=options.audit_file, level=logging.DEBUG if debug else logging.INFO
    )
    log.info("worker %d started with the policy from %s", os.getpid(), policy.config.source)
    app = create_app(state, audit=audit)
    tune_gc()
    return app


def controller_configmap(options: ServeOptions) -> ControllerConfigMap | None:
    """The watch of Argo's ConfigMap `--argo-configmap` names, started (in the worker)."""
    if not options.argo_configmap:
        return None
    namespace, name = options.argo_configmap.split("/", 1)
    watch = ControllerConfigMap(configuration(options.kubeconfig), namespace, name)
    watch.start()
    return watch


def background_audit(options: ServeOptions, state: State, metrics: Any) -> Callable[[], None]:
    """The periodic audit, started in this worker (a candidate for the Lease); its closer."""
    from admission.server.background import BackgroundAudit

    assert options.background_audit
    namespace, name = audit_lease(options).split("/", 1)
    api_client = connect(options.kubeconfig)
    audit = BackgroundAudit(
        api_client,
        interval=options.background_audit,
        elector=LeaseElector(api_client, namespace, name),
        config=lambda: state.config,
        ready=lambda: not state.readiness(),
        findings=metrics.set_audit_findings,
        ran=metrics.count_audit,
    )
    audit.start()
    return audit.close


def tune_gc() -> None:
    """Keep the collector off the request path: what is loaded now lives as long as the worker.

    Freezing moves start-up objects out of the collector's view; a larger first generation
    means fewer collections while a request builds its short-lived dicts (each request's
    garbage is freed by reference counting, the collector only finds cycles).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
