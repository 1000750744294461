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
from pathlib import Path
from typing import Any, Final

from gunicorn.app.base import BaseApplication

from admission.cluster import ConnectError, configuration, connect
from admission.cluster.argoconfigmap import ControllerConfigMap
from admission.cluster.kube import KubeTemplateSource, cluster_config_exists
from admission.cluster.leases import LeaseElector
from admission.cluster.registration import Registrar, read_configurations, validating_name
from admission.core.config import Config, enforces_nothing
from admission.files.policy import load_policy
from admission.files.templates import FileTemplateSource
from admission.server import certs
from admission.server.logs import LEVELS, QuietAccessLogger, logging_dict
from admission.server.options import ServeOptions, audit_lease, start_problem
from admission.server.state import PolicyFile, State, StaticSource
from admission.server.tls import CertReloader, build_context

log = logging.getLogger("argo_admission.serving")

# Longer than the 90 s after which Go's HTTP client (the API server's) drops an idle connection:
# the client closes first, so it never sends a request on a connection we have just closed.
KEEPALIVE_SECONDS: Final = 120
WORKER_TIMEOUT: Final = 30
GRACEFUL_SECONDS: Final = 20  # under a Pod's default 30 s termination grace period
KEPT_POLICY: Final = "policy.yaml"
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


def serve(options: ServeOptions) -> int:
    """Run the webhook until SIGTERM/SIGINT; returns an exit code on start-up errors."""
    if options.log_level.upper() not in LEVELS:
        print(f"error: --log-level must be one of {', '.join(LEVELS).lower()}", file=sys.stderr)
        return 2
    logging.config.dictConfig(logging_dict(options.log_level))
    config = load_policy(options.config)  # a ConfigError ends the start here, with every problem
    problem = start_problem(options)
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
        "when_ready": lambda arbiter: _plain_metrics(options),
    }


def _plain_metrics(options: ServeOptions) -> None:
    if options.metrics_port:
        from admission.server import metricsport

        metricsport.start(options.host, options.metrics_port, https_port=options.port)


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
    events = event_sink(options)
    if options.background_audit:
        state.on_close(background_audit(options, state, metrics, events))
    if options.library_configmap:
        from admission.server.libraryparam import marker, start_library_param

        api_client = connect(options.kubeconfig)
        state.before_admit = marker(api_client, options.library_configmap, lambda: state.config)
        state.on_close(
            start_library_param(
                api_client,
                options.library_configmap,
                state.templates,
                config=lambda: state.config,
                ready=lambda: not state.readiness(),
                keeper=policy_keeper(options, api_client),
            )
        )
    if options.register_mutating_policy:
        state.on_close(
            map_keeper(
                options,
                connect(options.kubeconfig),
                config=lambda: state.config,
                ready=lambda: not state.readiness(),
            ).start()
        )
    metrics.follow(
        policy=lambda: state.config, certificate=certificate.expiry if certificate else None
    )
    # denials and warnings are always written; --log-level debug adds the admitted requests
    debug = options.log_level.lower() == "debug"
    audit = Audit(
        metrics=metrics,
        file=options.audit_file,
        level=logging.DEBUG if debug else logging.INFO,
        events=events.refusal if events else None,
    )
    log.info("worker %d started with the policy from %s", os.getpid(), policy.config.source)
    app = create_app(state, audit=audit)
    tune_gc()
    return app


def policy_keeper(options: ServeOptions, api_client: Any) -> Any:
    """The keeper of the exported policy (--register-policy), named as the validating
    configuration it narrows; None when not asked."""
    if not (options.register_policy and options.register_webhooks and options.library_configmap):
        return None
    from admission.cluster.policyregistration import PolicyInstaller
    from admission.core.vapinstall import enforcing_webhooks
    from admission.server.policykeeper import PolicyKeeper

    namespace, name = options.library_configmap.split("/", 1)
    configurations = read_configurations(options.register_webhooks)
    hooks = enforcing_webhooks(configurations)  # at least one: checked at start
    installer = PolicyInstaller(
        api_client,
        str(validating_name(configurations)),
        owner=options.webhook_owner,
        probe_namespace=options.policy_probe_namespace,
        hooks=frozenset(h["name"] for h in hooks),
    )
    return PolicyKeeper(installer, (namespace, name), webhook=hooks[0])


def map_keeper(options: ServeOptions, api_client: Any, *, config: Any, ready: Any) -> Any:
    """The loop keeping the exported MutatingAdmissionPolicy (--register-mutating-policy),
    named as the mutating configuration it narrows, elected by its own Lease."""
    from admission.cluster.leases import LeaseElector
    from admission.cluster.mapregistration import MapInstaller
    from admission.core.mapinstall import mutating_webhooks
    from admission.server.mapkeeper import MapKeeper, MapKeeperLoop
    from admission.server.options import mutating_policy_lease

    assert options.register_webhooks is not None  # start_problem says so
    name, hooks = mutating_webhooks(read_configurations(options.register_webhooks))
    installer = MapInstaller(
        api_client,
        name,
        owner=options.webhook_owner,
        probe_namespace=options.mutating_policy_probe_namespace,
        hooks=frozenset(h["name"] for h in hooks),
    )
    return MapKeeperLoop(
        MapKeeper(installer, webhook=hooks[0]),
        LeaseElector(api_client, *mutating_policy_lease(options).split("/", 1)),
        config=config,
        ready=ready,
    )


def controller_configmap(options: ServeOptions) -> ControllerConfigMap | None:
    """The watch of Argo's ConfigMap `--argo-configmap` names, started (in the worker)."""
    if not options.argo_configmap:
        return None
    namespace, name = options.argo_configmap.split("/", 1)
    watch = ControllerConfigMap(configuration(options.kubeconfig), namespace, name)
    watch.start()
    return watch


def event_sink(options: ServeOptions) -> Any:
    """The Events sender of this worker, started; None without --events-per-minute."""
    from admission.server.eventing import Eventing

    per_minute = options.events_per_minute
    return Eventing.start(connect(options.kubeconfig), per_minute) if per_minute else None


def background_audit(
    options: ServeOptions, state: State, metrics: Any, events: Any = None
) -> Callable[[], None]:
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
        on_findings=events.findings if events else None,
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
