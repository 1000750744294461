"""securityContext: the configured baseline (require mode) and the restricted profile.

Restricted fields / allowed values (after Pod Security Standards "restricted"):
- securityContext.privileged: unset or false
- securityContext.allowPrivilegeEscalation: unset or false
- securityContext.runAsNonRoot: unset or true; runAsUser: unset or not 0
- securityContext.capabilities.add: unset, or only NET_BIND_SERVICE
- securityContext.seccompProfile.type: unset, RuntimeDefault or Localhost
- spec.hostNetwork / hostPID / hostIPC: unset or false; volumes[*].hostPath: unset
The pod level is the Workflow spec's `securityContext` (and a `podSpecPatch`, parsed); the
container level is every template's container, script, init containers, sidecars and
containerSet containers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from admission.core.objects import containers, dicts, pod_spec_patch
from admission.core.policy.context import Context

Check = Callable[[Mapping[str, Any]], str]
ALLOWED_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})
ALLOWED_SECCOMP: Final = frozenset({"RuntimeDefault", "Localhost"})


# --- require: the baseline must be present ----------------------------------------------------


def check_baseline(ctx: Context, spec: Mapping[str, Any], where: str) -> None:
    """In `require` mode, deny a spec whose pod or containers lack the configured baseline."""
    policy = ctx.config.security_context
    if policy.mode != "require":
        return
    if policy.pod and not contains(spec.get("securityContext"), policy.pod):
        ctx.deny(
            "security-context",
            f"{where}.securityContext lacks the required baseline",
            f"set {where}.securityContext to include {dict(policy.pod)}",
            f"{where}.securityContext",
        )
    if not policy.container:
        return
    for path, label, container in containers(spec):
        if not contains(container.get("securityContext"), policy.container):
            ctx.deny(
                "security-context",
                f"{label} lacks the required securityContext baseline",
                f"set {path}.securityContext to include {dict(policy.container)}",
                f"{path}.securityContext",
            )


def contains(actual: Any, wanted: Any) -> bool:
    """Whether `actual` carries every value of `wanted` (maps by key, lists as sets)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            contains(actual.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(actual, list) and all(item in actual for item in wanted)
    return bool(actual == wanted)


# --- restricted: what may never be set ------------------------------------------------------


def check_restricted(ctx: Context, spec: Mapping[str, Any], where: str) -> None:
    """Deny what the restricted profile forbids, naming template and container."""
    if not ctx.config.security_context.restricted:
        return
    for problem in _pod_problems(spec, where):
        ctx.deny("restricted", problem[0], problem[1], problem[2])
    for path, label, container in containers(spec):
        sc = container.get("securityContext")
        for check in CONTAINER_CHECKS:
            found = check(sc) if isinstance(sc, dict) else ""
            if found:
                ctx.deny(
                    "restricted",
                    f"{label}: {found}",
                    "not allowed by the restricted profile",
                    f"{path}.securityContext",
                )


def _pod_problems(spec: Mapping[str, Any], where: str) -> Iterator[tuple[str, str, str]]:
    pods: list[tuple[str, Mapping[str, Any]]] = [(where, spec)]
    patch = pod_spec_patch(spec)
    if patch is not None:
        pods.append((f"{where}.podSpecPatch", patch))
    templates = spec.get("templates")
    for template in templates if isinstance(templates, list) else []:
        if isinstance(template, dict):
            base = f"{where}.templates[name={template.get('name')}]"
            pods.append((base, template))
            patch = pod_spec_patch(template)
            if patch is not None:
                pods.append((f"{base}.podSpecPatch", patch))
    for path, pod in pods:
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(host) is True:
                yield f"{path}.{host} is true", "host namespaces are not allowed", f"{path}.{host}"
        for i, volume in enumerate(dicts(pod.get("volumes"))):
            if "hostPath" in volume:
                yield (
                    f"{path}.volumes[{i}] ({volume.get('name')}) uses hostPath",
                    "hostPath volumes are not allowed",
                    f"{path}.volumes[{i}].hostPath",
                )
        sc = pod.get("securityContext")
        for check in POD_CHECKS:
            found = check(sc) if isinstance(sc, dict) else ""
            if found:
                yield (
                    f"{path}.securityContext: {found}",
                    "not allowed by the restricted profile",
                    f"{path}.securityContext",
                )
        for j, item in enumerate(dicts(pod.get("containers"))):
            sc = item.get("securityContext")
            for check in CONTAINER_CHECKS:
                found = check(sc) if isinstance(sc, dict) else ""
                if found:
                    yield (
                        f"{path}.containers[{j}]: {found}",
                        "not allowed by the restricted profile",
                        f"{path}.containers[{j}].securityContext",
                    )


def check_privileged(sc: Mapping[str, Any]) -> str:
    """privileged must be unset or false."""
    return "privileged: true" if sc.get("privileged") is True else ""


def check_privilege_escalation(sc: Mapping[str, Any]) -> str:
    """allowPrivilegeEscalation must be unset or false."""
    return "allowPrivilegeEscalation: true" if sc.get("allowPrivilegeEscalation") is True else ""


def check_run_as_root(sc: Mapping[str, Any]) -> str:
    """runAsUser must not be 0 and runAsNonRoot must not be false."""
    if sc.get("runAsUser") == 0:
        return "runAsUser: 0 (root)"
    return "runAsNonRoot: false" if sc.get("runAsNonRoot") is False else ""


def check_capabilities(sc: Mapping[str, Any]) -> str:
    """capabilities.add may hold only NET_BIND_SERVICE."""
    caps = sc.get("capabilities")
    added = caps.get("add") if isinstance(caps, dict) else None
    extra = (
        sorted(str(c) for c in added or [] if c not in ALLOWED_CAPABILITIES)
        if isinstance(added, list)
        else []
    )
    return f"capabilities.add: {extra}" if extra else ""


def check_seccomp(sc: Mapping[str, Any]) -> str:
    """seccompProfile.type must be RuntimeDefault or Localhost when set."""
    profile = sc.get("seccompProfile")
    kind = profile.get("type") if isinstance(profile, dict) else None
    return (
        f"seccompProfile.type: {kind}" if kind is not None and kind not in ALLOWED_SECCOMP else ""
    )


CONTAINER_CHECKS: Final[tuple[Check, ...]] = (
    check_privileged,
    check_privilege_escalation,
    check_run_as_root,
    check_capabilities,
    check_seccomp,
)
POD_CHECKS: Final[tuple[Check, ...]] = (check_run_as_root, check_seccomp)
