"""AdmissionReview v1 in and out: parse and check the envelope, build the response.

No HTTP and no Kubernetes client: `parse_review` turns a body into a `Request` or raises
`ReviewError` (the server answers HTTP 400); the constructors build the `response` part; only
`complete()` copies the request's UID into it (controller-runtime webhook.go does the same).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

import orjson

from admission.core.decision import NOT_YET, Decision

API_VERSION: Final = "admission.k8s.io/v1"
OPERATIONS: Final = ("CREATE", "UPDATE", "DELETE", "CONNECT")
REASONS: Final = {
    400: "BadRequest",
    403: "Forbidden",
    NOT_YET: "TooManyRequests",
    500: "InternalError",
}
# A 429 says "not yet, retry": the API server turns details.retryAfterSeconds into a Retry-After
# header, on which client-go retries by itself.
RETRY_AFTER_SECONDS: Final = 1
MAX_WARNING: Final = 250
# What a bound service-account token says about its pod (k8s.io/apiserver serviceaccount
# util.go: every projected token since Kubernetes 1.21 is bound to its pod).
POD_NAME: Final = "authentication.kubernetes.io/pod-name"
POD_UID: Final = "authentication.kubernetes.io/pod-uid"


class ReviewError(ValueError):
    """The body is not an AdmissionReview v1 request; answered with HTTP 400, not a review."""


class Status(TypedDict, total=False):
    """metav1.Status as it appears in an AdmissionResponse."""

    code: int
    message: str
    reason: str
    status: str
    details: dict[str, int]


class Response(TypedDict, total=False):
    """AdmissionResponse (admission.k8s.io/v1)."""

    uid: str
    allowed: bool
    status: Status
    patch: str
    patchType: str
    warnings: list[str]
    auditAnnotations: dict[str, str]


class Review(TypedDict):
    """The AdmissionReview envelope we send back."""

    apiVersion: str
    kind: str
    response: Response


@dataclass(frozen=True)
class Request:
    """The parts of an AdmissionRequest the policy reads. Objects stay plain dicts."""

    uid: str
    group: str
    version: str
    kind: str
    resource: str
    sub_resource: str
    operation: str
    namespace: str
    name: str
    username: str
    groups: tuple[str, ...] = ()
    object: Any = None
    old_object: Any = None
    dry_run: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    user_extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """userInfo.extra: what the authenticator adds, e.g. a bound token's pod name and UID."""

    def claim(self, key: str) -> str:
        """The one value of a userInfo.extra key (e.g. POD_NAME), or "" (none, or several)."""
        values = self.user_extra.get(key, ())
        return values[0] if len(values) == 1 else ""


def decode_json(body: bytes | str) -> Any:
    """The JSON document of a request body (orjson: it is on every request's path).

    A key repeated in one object is read as Go's encoding/json reads it into a map, the last
    one winning. The API server never sends one: it decodes the user's request, resolving
    repeats, and encodes the object it stores and sends us from that, so we and Argo read the
    same object.
    """
    if not isinstance(body, bytes | str):
        raise ReviewError(f"body must be JSON text, got {type(body).__name__}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ReviewError(f"body is not valid JSON: {exc}") from exc


def parse_review(body: bytes | str | Mapping[str, Any]) -> Request:
    """Check an AdmissionReview v1 request envelope and return its `Request`."""
    doc = body if isinstance(body, Mapping) else decode_json(body)
    if not isinstance(doc, Mapping):
        raise ReviewError("body must be a JSON object (an AdmissionReview)")
    if doc.get("kind") != "AdmissionReview":
        raise ReviewError(f"kind must be AdmissionReview, got {doc.get('kind')!r}")
    if doc.get("apiVersion") != API_VERSION:
        raise ReviewError(f"apiVersion must be {API_VERSION}, got {doc.get('apiVersion')!r}")
    req = doc.get("request")
    if not isinstance(req, Mapping):
        raise ReviewError("request must be an object")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError("request.uid must be a non-empty string")
    kind = _mapping(req, "kind")
    resource = _mapping(req, "resource")
    user = _mapping(req, "userInfo", required=False)
    operation = req.get("operation")
    if operation not in OPERATIONS:
        raise ReviewError(f"request.operation must be one of {', '.join(OPERATIONS)}")
    for key in ("object", "oldObject"):
        if req.get(key) is not None and not isinstance(req.get(key), Mapping):
            raise ReviewError(f"request.{key} must be an object or null")
    dry_run = req.get("dryRun")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise ReviewError("request.dryRun must be a boolean")
    groups = user.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ReviewError("request.userInfo.groups must be a list of strings")
    return Request(
        uid=uid,
        group=_string(kind, "group", "request.kind"),
        version=_string(kind, "version", "request.kind"),
        kind=_string(kind, "kind", "request.kind", required=True),
        resource=_string(resource, "resource", "request.resource", required=True),
        sub_resource=_string(req, "subResource", "request"),
        operation=str(operation),
        namespace=_string(req, "namespace", "request"),
        name=_string(req, "name", "request"),
        username=_string(user, "username", "request.userInfo"),
        groups=tuple(groups),
        object=req.get("object"),
        old_object=req.get("oldObject"),
        dry_run=bool(dry_run),
        extra={"userUID": user.get("uid", "")},
        user_extra=_user_extra(user.get("extra")),
    )


def _user_extra(value: Any) -> dict[str, tuple[str, ...]]:
    """userInfo.extra, a map of string lists (authentication/v1 ExtraValue)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(i, str) for i in v)
        for k, v in value.items()
    ):
        raise ReviewError("request.userInfo.extra must map strings to lists of strings")
    return {k: tuple(v) for k, v in value.items()}


def _mapping(doc: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    value = doc.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise ReviewError(f"request.{key} must be an object")
    return value


def _string(doc: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = doc.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ReviewError(f"{where}.{key} must be {'a non-empty' if required else 'a'} string")
    return value


# --- responses ------------------------------------------------------------------------------


def allowed(
    *, warnings: Iterable[str] = (), annotations: Mapping[str, str] | None = None
) -> Response:
    """An admitting response, with warnings shown to the client."""
    return _with_extras({"allowed": True}, warnings, annotations)


def denied(
    message: str,
    *,
    code: int = 403,
    warnings: Iterable[str] = (),
    annotations: Mapping[str, str] | None = None,
) -> Response:
    """A refusing response: 403 for a policy denial, 429 for "not yet, retry"."""
    status: Status = {
        "code": code,
        "message": message,
        "reason": REASONS.get(code, "Forbidden"),
        "status": "Failure",
    }
    if code == NOT_YET:
        status["details"] = {"retryAfterSeconds": RETRY_AFTER_SECONDS}
    return _with_extras({"allowed": False, "status": status}, warnings, annotations)


def errored(code: int, message: str, *, annotations: Mapping[str, str] | None = None) -> Response:
    """A refusing response for what could not be evaluated (400 broken object, 500 lookup,
    429 not yet)."""
    return denied(message, code=code, annotations=annotations)


def patched(
    patch: Sequence[Mapping[str, Any]],
    *,
    warnings: Iterable[str] = (),
    annotations: Mapping[str, str] | None = None,
) -> Response:
    """An admitting response carrying an RFC 6902 JSONPatch (base64, as the API wants it)."""
    response = allowed(warnings=warnings, annotations=annotations)
    if patch:
        raw = orjson.dumps(list(patch))
        response["patch"] = base64.b64encode(raw).decode()
        response["patchType"] = "JSONPatch"
    return response


def _with_extras(
    response: Response, warnings: Iterable[str], annotations: Mapping[str, str] | None
) -> Response:
    lines = [line for w in warnings for line in _warning_lines(w)]
    if lines:
        response["warnings"] = lines
    if annotations:
        response["auditAnnotations"] = dict(annotations)
    return response


def _warning_lines(text: str) -> list[str]:
    """One warning as lines the API server passes on whole (it cuts each at 256 characters):
    split at spaces, continuation lines marked with a leading '... '."""
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate) > MAX_WARNING and current:
            lines.append(current)
            candidate = f"... {word}"
        current = candidate[:MAX_WARNING]
    if current:
        lines.append(current)
    return lines


def respond(decision: Decision) -> Response:
    """The response a Decision becomes (before `complete` adds the UID)."""
    annotations = dict(decision.annotations)
    if decision.allowed:
        return patched(list(decision.patch), warnings=decision.warnings, annotations=annotations)
    return denied(
        decision.message, code=decision.code, warnings=decision.warnings, annotations=annotations
    )


def complete(response: Response, uid: str) -> Review:
    """Wrap a response in its AdmissionReview and copy the request's UID into it."""
    body: Response = {"uid": uid, **response}
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": body}


# --- requests -------------------------------------------------------------------------------


def make_review(
    obj: Mapping[str, Any],
    *,
    namespace: str,
    operation: str = "CREATE",
    old: Mapping[str, Any] | None = None,
    username: str = "argo-admission-check",
    groups: Sequence[str] = ("system:authenticated",),
) -> dict[str, Any]:
    """An AdmissionReview request for the Argo object `obj` as the API server would send it.

    A ClusterWorkflowTemplate has no namespace; any other object keeps its own
    `metadata.namespace`, or takes `namespace` when it has none (as `kubectl apply -n` does).
    """
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    own = meta.get("namespace")
    ns = "" if kind == "ClusterWorkflowTemplate" else (own if own else namespace)
    return {
        "apiVersion": API_VERSION,
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": kind},
            "resource": {
                "group": "argoproj.io",
                "version": "v1alpha1",
                "resource": kind.lower() + "s",
            },
            "operation": operation,
            "namespace": ns,
            "name": meta.get("name") or meta.get("generateName", ""),
            "userInfo": {"username": username, "groups": list(groups)},
            "object": obj,
            "oldObject": old,
            "dryRun": False,
        },
    }
