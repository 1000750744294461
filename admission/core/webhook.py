"""One admission call, start to end, without HTTP: body -> Request -> Decision -> AdmissionReview.

The server and `argo-admission review` both call `handle`, so the CLI prints exactly what the
server would send.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from admission.core import mutate, policy
from admission.core.config import Config
from admission.core.decision import Decision
from admission.core.policy.source import TemplateSource
from admission.core.review import Request, ReviewError, complete, parse_review, respond

# validate/warn: the advisory webhook (failurePolicy Ignore) - the validate decision, never a denial
ENDPOINTS: Final = ("validate", "mutate", "validate/warn")


@dataclass(frozen=True)
class Result:
    """What one call produced: an HTTP status and body, and what was decided (when parsed)."""

    status: int
    body: dict[str, Any]
    request: Request | None = None
    decision: Decision | None = None


def handle(
    body: bytes | str | dict[str, Any],
    *,
    endpoint: str,
    config: Config,
    templates: TemplateSource | None = None,
) -> Result:
    """Evaluate one AdmissionReview body for `validate` or `mutate`."""
    try:
        request = parse_review(body)
    except ReviewError as exc:
        return Result(400, {"error": "bad AdmissionReview", "message": str(exc)})
    if endpoint == "mutate":
        decision = mutate.patches(request, config=config, templates=templates)
    else:
        if endpoint == "validate/warn" and config.mode == "enforce":
            config = dataclasses.replace(config, mode="warn")
        decision = policy.evaluate(request, config=config, templates=templates)
    review = complete(respond(decision), request.uid)
    return Result(200, dict(review), request, decision)
