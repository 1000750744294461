"""Kubernetes' PodSecurityContext and SecurityContext, field by field, to check a baseline against.

A baseline is patched into Workflows and templates as written: a misspelt field (`runAsNonroot`)
would be mutated in, dropped by the API server or read case-insensitively by Go, and the
check that was meant to hold would not. `check` names every field Kubernetes does not have
(with the one meant, when it is close), every value of the wrong type, every enum value not
allowed, every required field missing: what the chart's values.schema.json refuses. Pure.

Mirrors k8s.io/api core/v1 types.go (v0.33): PodSecurityContext, SecurityContext, SELinuxOptions,
WindowsSecurityContextOptions, SeccompProfile, AppArmorProfile, Capabilities, Sysctl.
tests/unit/test_securityfields.py holds the tables to the Kubernetes client's models and the
chart's schema.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class Struct:
    """A Go struct: its json field names and what each holds; the fields it cannot lack."""

    name: str
    fields: Mapping[str, Kind]
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListOf:
    """A Go slice of one kind."""

    item: Kind


@dataclass(frozen=True)
class Enum:
    """A string type with named values (Go constants)."""

    values: tuple[str, ...]


BOOL: Final = "boolean"
INT: Final = "integer"  # int64 ids and counts: never negative
STRING: Final = "string"
Kind = str | Struct | ListOf | Enum

PROFILE_TYPES: Final = Enum(("RuntimeDefault", "Localhost", "Unconfined"))
SECCOMP_PROFILE: Final = Struct(
    "SeccompProfile", {"type": PROFILE_TYPES, "localhostProfile": STRING}, ("type",)
)
APPARMOR_PROFILE: Final = Struct(
    "AppArmorProfile", {"type": PROFILE_TYPES, "localhostProfile": STRING}, ("type",)
)
SELINUX_OPTIONS: Final = Struct(
    "SELinuxOptions", {"user": STRING, "role": STRING, "type": STRING, "level": STRING}
)
WINDOWS_OPTIONS: Final = Struct(
    "WindowsSecurityContextOptions",
    {
        "gmsaCredentialSpecName": STRING,
        "gmsaCredentialSpec": STRING,
        "runAsUserName": STRING,
        "hostProcess": BOOL,
    },
)
CAPABILITIES: Final = Struct("Capabilities", {"add": ListOf(STRING), "drop": ListOf(STRING)})
SYSCTL: Final = Struct("Sysctl", {"name": STRING, "value": STRING}, ("name", "value"))

POD_SECURITY_CONTEXT: Final = Struct(
    "PodSecurityContext",
    {
        "appArmorProfile": APPARMOR_PROFILE,
        "fsGroup": INT,
        "fsGroupChangePolicy": Enum(("OnRootMismatch", "Always")),
        "runAsGroup": INT,
        "runAsNonRoot": BOOL,
        "runAsUser": INT,
        "seLinuxChangePolicy": Enum(("MountOption", "Recursive")),
        "seLinuxOptions": SELINUX_OPTIONS,
        "seccompProfile": SECCOMP_PROFILE,
        "supplementalGroups": ListOf(INT),
        "supplementalGroupsPolicy": Enum(("Merge", "Strict")),
        "sysctls": ListOf(SYSCTL),
        "windowsOptions": WINDOWS_OPTIONS,
    },
)
SECURITY_CONTEXT: Final = Struct(
    "SecurityContext",
    {
        "allowPrivilegeEscalation": BOOL,
        "appArmorProfile": APPARMOR_PROFILE,
        "capabilities": CAPABILITIES,
        "privileged": BOOL,
        "procMount": Enum(("Default", "Unmasked")),
        "readOnlyRootFilesystem": BOOL,
        "runAsGroup": INT,
        "runAsNonRoot": BOOL,
        "runAsUser": INT,
        "seLinuxOptions": SELINUX_OPTIONS,
        "seccompProfile": SECCOMP_PROFILE,
        "windowsOptions": WINDOWS_OPTIONS,
    },
)
# Where a field of the other level belongs, for the hint.
OTHER_LEVEL: Final = {
    POD_SECURITY_CONTEXT.name: (SECURITY_CONTEXT, "container"),
    SECURITY_CONTEXT.name: (POD_SECURITY_CONTEXT, "pod"),
}


def check(value: Any, kind: Kind, path: str) -> list[str]:
    """Every way `value` is not a `kind`, as `path: reason` lines."""
    if isinstance(kind, Struct):
        return _check_struct(value, kind, path)
    if isinstance(kind, ListOf):
        if not isinstance(value, list):
            return [f"{path}: must be a list"]
        return [e for i, item in enumerate(value) for e in check(item, kind.item, f"{path}[{i}]")]
    if isinstance(kind, Enum):
        if value in kind.values:
            return []
        meant = did_you_mean(value, dict.fromkeys(kind.values)) if isinstance(value, str) else ""
        hint = f"; did you mean {meant}?" if meant else ""
        return [f"{path}: {value!r} is not one of {', '.join(map(repr, kind.values))}{hint}"]
    return _check_scalar(value, kind, path)


def _check_struct(value: Any, struct: Struct, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: must be a mapping ({struct.name})"]
    errors = []
    for key, item in value.items():
        where = f"{path}.{key}"
        if key in struct.fields:
            errors.extend(check(item, struct.fields[key], where))
        else:
            errors.append(f"{where}: {unknown_field(str(key), struct)}")
    errors.extend(f"{path}.{name}: required" for name in struct.required if name not in value)
    return errors


def unknown_field(key: str, struct: Struct) -> str:
    """Why `key` is refused, with the field meant when one is close."""
    reason = f"not a {struct.name} field"
    other = OTHER_LEVEL.get(struct.name)
    if other is not None and key in other[0].fields:
        return f"{reason}; it is a {other[0].name} field: set it under securityContext.{other[1]}"
    meant = did_you_mean(key, struct.fields)
    return f"{reason}; did you mean {meant}?" if meant else reason


def did_you_mean(key: str, known: Mapping[str, Any]) -> str:
    """The known name `key` most likely misspells ("" when none is close)."""
    for name in known:
        if name.lower() == key.lower():
            return name
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.8)
    return close[0] if close else ""


def _check_scalar(value: Any, kind: str, path: str) -> list[str]:
    if kind == BOOL and not isinstance(value, bool):
        return [f"{path}: must be true or false"]
    if kind == INT and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        return [f"{path}: must be a whole number, 0 or more"]
    if kind == STRING and not isinstance(value, str):
        return [f"{path}: must be a string"]
    return []
