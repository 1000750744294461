"""Who the rules skip (exact names only).

Exemption is by the API server's view of the requester and namespace, never by anything the
object says about itself: labels and annotations are written by the same user the policy checks.
"""

from __future__ import annotations

from admission.core.config import Config
from admission.core.review import Request


def exempt_reason(request: Request, config: Config, namespace: str) -> str:
    """Why the request is exempt ("" when it is not)."""
    return config.exemptions.matches(
        namespace=namespace, username=request.username, groups=request.groups
    )
