"""The Flask app: /validate, /mutate, /healthz, /readyz, /metrics.

Every admission request takes one path: read a bounded JSON body -> `webhook.handle` (the same
function `argo-admission review` calls) -> audit line and metrics -> JSON. Errors take one of
two channels (STYLE.md rule 2): a body that is not an AdmissionReview is an HTTP 4xx JSON
error; anything that goes wrong inside a valid envelope is an AdmissionReview that refuses
with code 500 and the request's UID. No HTML error page and no traceback leaves the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from admission.core.review import ReviewError, complete, decode_json, errored
from admission.core.webhook import ENDPOINTS, Result, handle
from admission.server.audit import Audit
from admission.server.state import State

log = logging.getLogger("argo_admission.server")

MAX_BODY: Final = 3 * 1024 * 1024  # the API server's own request limit is 3 MiB
DISCARD_LIMIT: Final = 16 * 1024 * 1024  # larger oversized bodies: answer and close
JSON_TYPES: Final = ("application/json",)
EXTENSION: Final = "argo_admission"


@dataclass(frozen=True)
class Deps:
    """What the views need, kept on the app (flaskr's `current_app` pattern)."""

    state: State
    audit: Audit


def create_app(state: State, *, audit: Audit) -> Flask:
    """The webhook's Flask app over a live state and an audit sink."""
    app = Flask("admission")
    # one byte over the limit: Werkzeug stops a stream at its limit silently, read_body tells
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1
    app.extensions[EXTENSION] = Deps(state, audit)
    for endpoint in ENDPOINTS:
        app.add_url_rule(f"/{endpoint}", endpoint, _admission_view(endpoint), methods=["POST"])
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
    app.add_url_rule("/readyz", "readyz", readyz, methods=["GET"])
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    return app


def _deps() -> Deps:
    deps: Deps = current_app.extensions[EXTENSION]
    return deps


def json_response(body: Mapping[str, Any], status: int = 200) -> Response:
    """A JSON response (orjson: the response is on every request's path)."""
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


# --- admission ------------------------------------------------------------------------------


def _admission_view(endpoint: str) -> Any:
    def view() -> Response:
        return admit(endpoint)

    view.__name__ = f"admit_{endpoint}"
    return view


def admit(endpoint: str) -> Response:
    """Answer one AdmissionReview posted to /validate or /mutate (query string ignored)."""
    started = time.perf_counter()
    deps = _deps()
    body = read_body()
    doc = _decode(body)
    dry_run = _dry_run(doc)
    try:
        result = handle(
            doc if isinstance(doc, dict) else body,
            endpoint=endpoint,
            config=deps.state.config,
            templates=deps.state.source(dry_run=dry_run),
        )
    except Exception:  # fail closed: a refusal the API server understands, never a 500 page
        log.exception("evaluating %s request uid=%s failed", endpoint, g.get("uid", ""))
        deps.audit.record_failure(endpoint=endpoint, seconds=time.perf_counter() - started)
        return json_response(failure_review(g.get("uid", "")))
    if not _marked(deps, result, endpoint=endpoint, dry_run=dry_run):
        return json_response(failure_review(g.get("uid", "")))
    seconds = time.perf_counter() - started
    _record(deps.audit, result, endpoint=endpoint, seconds=seconds)
    return json_response(result.body, result.status)


def _marked(deps: Deps, result: Result, *, endpoint: str, dry_run: bool) -> bool:
    """Run the state's before-admit hook on an admitted write; False when it failed (the
    write is then refused, fail closed)."""
    hook = deps.state.before_admit
    if hook is None or dry_run or endpoint != "validate" or result.request is None:
        return True
    if not (result.decision and result.decision.allowed):
        return True
    try:
        hook(result.request)
    except Exception:
        log.exception("before admitting request uid=%s", result.request.uid)
        return False
    return True


def read_body() -> bytes:
    """The request body: JSON only, at most MAX_BODY bytes (checked before and while reading)."""
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.mimetype or 'none'!r}"
        )
    length = request.content_length
    if length is not None and length > MAX_BODY:
        _discard_rest(length)
        raise RequestEntityTooLarge(f"body of {length} bytes is over the {MAX_BODY} byte limit")
    body = request.get_data(cache=False)  # a chunked body has no length: count what is read
    if len(body) > MAX_BODY:
        _discard_rest(None)
        raise RequestEntityTooLarge(f"body is over the {MAX_BODY} byte limit")
    return body


def _discard_rest(length: int | None) -> None:
    """Read and drop what is left of an oversized body (up to DISCARD_LIMIT).

    A client that writes its whole body before reading (most do) would otherwise see the
    connection reset instead of the 413: the server drains only a little before closing.
    """
    if length is not None and length > DISCARD_LIMIT:
        return
    stream = request.environ["wsgi.input"]
    left = DISCARD_LIMIT
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            return
        left -= len(chunk)


def _decode(body: bytes) -> Any:
    """The decoded body, or None when it is not JSON (handle() then says why, as a 400)."""
    try:
        doc = decode_json(body)
    except ReviewError:
        return None
    req = doc.get("request") if isinstance(doc, dict) else None
    uid = req.get("uid") if isinstance(req, dict) else None
    g.uid = uid if isinstance(uid, str) else ""
    return doc


def _dry_run(doc: Any) -> bool:
    req = doc.get("request") if isinstance(doc, dict) else None
    return isinstance(req, dict) and req.get("dryRun") is True


def _record(audit: Audit, result: Result, *, endpoint: str, seconds: float) -> None:
    if result.request is None or result.decision is None:
        log.info(
            "refused a body that is not an AdmissionReview on /%s: %s",
            endpoint,
            result.body.get("message"),
        )
        audit.record_invalid(endpoint=endpoint, seconds=seconds)
        return
    audit.record(result.request, result.decision, endpoint=endpoint, seconds=seconds)


def failure_review(uid: str) -> dict[str, Any]:
    """The AdmissionReview sent when evaluation itself failed: refuse, code 500."""
    return dict(
        complete(
            errored(
                500, "[internal] the admission webhook failed to evaluate this request; see its log"
            ),
            uid,
        )
    )


# --- probes and metrics ---------------------------------------------------------------------


def healthz() -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


def readyz() -> Response:
    """Readiness: policy loaded and template cache synced."""
    waiting = _deps().state.readiness()
    if waiting:
        return json_response({"status": "not ready", "waiting": waiting}, 503)
    return json_response({"status": "ok", "policy": _deps().state.config.source})


def metrics() -> Response:
    """Prometheus text exposition (every worker's values under gunicorn)."""
    data, content_type = _deps().audit.metrics.exposition()
    return Response(data, status=200, content_type=content_type)


# --- errors ---------------------------------------------------------------------------------


def http_error(exc: HTTPException) -> Response:
    """An HTTP error (404, 405, 413, 415, ...) as JSON instead of Werkzeug's HTML page."""
    code = exc.code or 500
    return json_response({"error": exc.name, "code": code, "message": exc.description}, code)


def unexpected_error(exc: Exception) -> Response:
    """Anything uncaught: logged; an admission refusal on the admission paths, else JSON 500."""
    if isinstance(exc, HTTPException):
        return http_error(exc)
    log.error("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    if request.path.strip("/") in ENDPOINTS:
        return json_response(failure_review(g.get("uid", "")))
    return json_response(
        {
            "error": "Internal Server Error",
            "code": 500,
            "message": "unexpected error; see the server log",
        },
        500,
    )
