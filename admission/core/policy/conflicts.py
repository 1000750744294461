"""Baseline conflicts: the baseline fields that, filled in, would make a pod Kubernetes refuses.

The securityContext baseline fills only what a template leaves unset, but some unset fields
cannot take the baseline's value beside what the template does set:
- `allowPrivilegeEscalation: false` beside `privileged: true`, or beside `CAP_SYS_ADMIN` in
  `capabilities.add`: the API server refuses the pod (k8s.io/kubernetes pkg/apis/core/validation
  ValidateSecurityContext, v1.36.3);
- `runAsNonRoot: true` (pod or container) where the container runs as `runAsUser: 0`, its own or
  its pod's: the kubelet refuses to start the container ("container's runAsUser breaks non-root
  policy", pkg/kubelet/kuberuntime verifyRunAsNonRoot; the container's fields outrank the pod's,
  pkg/securitycontext DetermineEffectiveSecurityContext).
Argo gives a template with its own `securityContext` that one as its pod's, in place of the
Workflow spec's (workflow/controller/workflowpod.go, v3.7.18): the spec-level baseline never
reaches those containers. /mutate leaves each conflicting field unset; /validate (so `check`,
`audit` and the background audit) warns with the conflict and the choices. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from admission.core.config import SecurityContextPolicy
from admission.core.objects import containers
from admission.core.policy import rules
from admission.core.policy.context import Context

CHOICES: Final = (
    "choose: fix the template ({fix}), set securityContext.restricted: true to refuse such "
    "templates, or exempt its namespace or author"
)

# The baseline values that can contradict a template, as the warning shows them.
BASELINE_VALUES: Final = {"allowPrivilegeEscalation": "false", "runAsNonRoot": "true"}


@dataclass(frozen=True)
class Conflict:
    """One baseline field not filled in, where, and what it contradicts."""

    level: str
    """"pod" (the Workflow spec's securityContext) or the path of the container."""
    field: str
    """The baseline field left unset, e.g. allowPrivilegeEscalation."""
    label: str
    """The container that sets the contradicting field, e.g. template 'main' container."""
    seen: str
    """What it sets, e.g. `privileged: true`."""
    refusal: str
    """What Kubernetes says of a pod with both."""
    fix: str

    def reason(self, where: str) -> str:
        """What was not applied, and where: the warning's reason."""
        target = f" to {where}.securityContext" if self.level == "pod" else ""
        return f"baseline {self.field}: {BASELINE_VALUES[self.field]} not applied{target}"

    def detail(self) -> str:
        """What it contradicts, what Kubernetes would say, and the choices."""
        return f"{self.label} sets {self.seen}, and {self.refusal}; " + CHOICES.format(fix=self.fix)


def find(policy: SecurityContextPolicy, spec: Mapping[str, Any]) -> list[Conflict]:
    """Every baseline field that would contradict what `spec` sets, pod level first."""
    pod_sc = _dict(spec.get("securityContext"))
    found = list(_pod_conflicts(policy, spec, pod_sc))
    for path, label, container in containers(spec):
        found += _container_conflicts(policy, path, label, container)
    return found


def skipped(conflicts: list[Conflict], level: str) -> frozenset[str]:
    """The baseline fields to leave unset at `level` ("pod" or a container's path)."""
    return frozenset(c.field for c in conflicts if c.level == level)


def warn(ctx: Context, spec: Mapping[str, Any], where: str) -> None:
    """In mutate mode, warn of each baseline field /mutate leaves unset, and why. In require
    mode the template is refused for lacking the field already; say why it cannot have it."""
    policy = ctx.config.security_context
    if policy.mode == "mutate":
        for conflict in find(policy, spec):
            ctx.warn(rules.SECURITY_CONTEXT, conflict.reason(where), conflict.detail())
    elif policy.mode == "require":
        for conflict in find(policy, spec):
            value = BASELINE_VALUES[conflict.field]
            ctx.deny(
                rules.SECURITY_CONTEXT,
                f"the required baseline {conflict.field}: {value} cannot go beside what "
                f"{conflict.label} sets ({conflict.seen}): {conflict.refusal}",
                f"fix the template ({conflict.fix}), exempt its namespace or author, or use "
                "securityContext.mode: mutate (which leaves the field out and warns)",
                f"{where}.securityContext" if conflict.level == "pod" else conflict.level,
            )


def _pod_conflicts(
    policy: SecurityContextPolicy, spec: Mapping[str, Any], pod_sc: Mapping[str, Any]
) -> Iterator[Conflict]:
    if policy.pod.get("runAsNonRoot") is not True or pod_sc.get("runAsNonRoot") is not None:
        return
    pod_user = _first(pod_sc.get("runAsUser"), policy.pod.get("runAsUser"))
    for _, label, container in _spec_pod_containers(spec):
        sc = _dict(container.get("securityContext"))
        if sc.get("runAsNonRoot") is not None:
            continue  # the container's own setting outranks the pod's
        user = _first(sc.get("runAsUser"), policy.container.get("runAsUser"), pod_user)
        if user == 0:
            yield Conflict("pod", "runAsNonRoot", label, "runAsUser: 0", _ROOT_REFUSAL, _ROOT_FIX)
            return


def _container_conflicts(
    policy: SecurityContextPolicy, path: str, label: str, container: Mapping[str, Any]
) -> list[Conflict]:
    sc = _dict(container.get("securityContext"))
    baseline = policy.container
    found = []
    if baseline.get("allowPrivilegeEscalation") is False and _unset(sc, "allowPrivilegeEscalation"):
        if sc.get("privileged") is True:
            found.append(
                Conflict(
                    path,
                    "allowPrivilegeEscalation",
                    label,
                    "privileged: true",
                    _PRIVILEGED_REFUSAL,
                    "drop privileged: true",
                )
            )
        elif "CAP_SYS_ADMIN" in _added(sc):
            found.append(
                Conflict(
                    path,
                    "allowPrivilegeEscalation",
                    label,
                    "capabilities.add: [CAP_SYS_ADMIN]",
                    _SYS_ADMIN_REFUSAL,
                    "drop CAP_SYS_ADMIN from capabilities.add",
                )
            )
    if baseline.get("runAsNonRoot") is True and _unset(sc, "runAsNonRoot"):
        if _first(sc.get("runAsUser"), baseline.get("runAsUser")) == 0:
            found.append(
                Conflict(path, "runAsNonRoot", label, "runAsUser: 0", _ROOT_REFUSAL, _ROOT_FIX)
            )
    return found


_PRIVILEGED_REFUSAL: Final = "the API server refuses a pod with both"
_SYS_ADMIN_REFUSAL: Final = "the API server refuses a pod with both"
_ROOT_REFUSAL: Final = "the kubelet never starts it (runAsUser breaks non-root policy)"
_ROOT_FIX: Final = "set a non-zero runAsUser and an image that runs as that user"


def _spec_pod_containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """The containers whose pod takes the spec's securityContext (templates without their own)."""
    own = {
        str(t.get("name"))
        for t in spec.get("templates") or []
        if isinstance(t, dict) and t.get("securityContext") is not None
    }
    for path, label, container in containers(spec):
        if not any(path.startswith(f"spec.templates[name={name}]") for name in own):
            yield path, label, container


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _unset(sc: Mapping[str, Any], key: str) -> bool:
    return sc.get(key) is None


def _added(sc: Mapping[str, Any]) -> list[Any]:
    caps = _dict(sc.get("capabilities"))
    added = caps.get("add")
    return added if isinstance(added, list) else []


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
