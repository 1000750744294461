"""Go's value types that write another spelling than they read, and where Argo's types hold them.

The controller reads a Workflow into Go structs and stores them marshalled again, so a value
comes back in the form its Go type writes: `resource.Quantity` canonical (`0.5` -> `"500m"`),
Argo's `AnyString` as a string (`3` -> `"3"`, `true` -> `"true"`), `intstr.IntOrString` as the
int or string it holds. A value Go cannot read into its type is refused, as Go refuses it.
Pure; no I/O.

Mirrors:
- argoproj/argo-workflows v3.7.18 pkg/apis/workflow/v1alpha1: anystring.go (AnyString),
  workflow_types.go and container_set_template_types.go (which fields have these types)
- k8s.io/apimachinery v0.33.1 pkg/util/intstr/intstr.go (IntOrString.UnmarshalJSON),
  pkg/api/resource (Quantity, see admission/core/quantity.py)
- k8s.io/api v0.33.1 core/v1/types.go (ResourceList, sizeLimit, divisor, probe ports)
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Final

from admission.core.quantity import QuantityError, canonical_quantity, go_json_number

JSON = Any

# The value kinds, named as Go declares the field. A pointer kind reads null as "unset"; the
# others read it as Go's zero value (a Quantity `"0"`, an IntOrString `0`, an AnyString `""`).
QUANTITY: Final = "Quantity"  # resource.Quantity (ResourceFieldSelector.divisor)
QUANTITY_PTR: Final = "*Quantity"  # *resource.Quantity (EmptyDirVolumeSource.sizeLimit)
RESOURCE_LIST: Final = "ResourceList"  # map[ResourceName]resource.Quantity
ANY_STRING_PTR: Final = "*AnyString"
ANY_STRINGS: Final = "[]AnyString"
INT_OR_STRING: Final = "IntOrString"
INT_OR_STRING_PTR: Final = "*IntOrString"
VALUE_KINDS: Final = frozenset(
    {
        QUANTITY,
        QUANTITY_PTR,
        RESOURCE_LIST,
        ANY_STRING_PTR,
        ANY_STRINGS,
        INT_OR_STRING,
        INT_OR_STRING_PTR,
    }
)
# Kinds Go omits when empty (omitempty on a map or slice).
OMITTED_WHEN_EMPTY: Final = frozenset({RESOURCE_LIST, ANY_STRINGS})
# Non-pointer kinds whose zero value Go writes: written or not, the same value.
ZERO_VALUES: Final[dict[str, JSON]] = {QUANTITY: "0", INT_OR_STRING: 0}

MAP_PREFIX: Final = "map:"  # "map:LifecycleHook": a Go map whose values have that type

_CONTAINER: Final = {
    "resources": "ResourceRequirements",
    "env": "EnvVar",
    "livenessProbe": "Probe",
    "readinessProbe": "Probe",
    "startupProbe": "Probe",
    "lifecycle": "Lifecycle",
}
_STEP: Final = {
    "arguments": "Arguments",
    "withSequence": "Sequence",
    "hooks": "map:LifecycleHook",
    "inline": "Template",
}
_HANDLER: Final = {"httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction"}
_REQUIREMENTS: Final = {"limits": RESOURCE_LIST, "requests": RESOURCE_LIST}

# VALUE_FIELDS[Go type][json name] = the field's type: another entry of this table, a
# "map:<type>", or one of VALUE_KINDS. Only the paths that lead to a value kind are listed.
VALUE_FIELDS: Final[dict[str, dict[str, str]]] = {
    "WorkflowSpec": {
        "templates": "Template",
        "arguments": "Arguments",
        "volumes": "Volume",
        "volumeClaimTemplates": "PersistentVolumeClaim",
        "templateDefaults": "Template",
        "hooks": "map:LifecycleHook",
        "retryStrategy": "RetryStrategy",
        "podDisruptionBudget": "PodDisruptionBudgetSpec",
    },
    "Template": {
        "container": "Container",
        "script": "Container",
        "initContainers": "Container",
        "sidecars": "Container",
        "containerSet": "ContainerSetTemplate",
        "volumes": "Volume",
        "inputs": "Inputs",
        "outputs": "Outputs",
        "steps": "WorkflowStep",  # [][]WorkflowStep: each inner list holds steps too
        "dag": "DAG",
        "retryStrategy": "RetryStrategy",
        "activeDeadlineSeconds": INT_OR_STRING_PTR,
    },
    "ContainerSetTemplate": {
        "containers": "Container",
        "retryStrategy": "ContainerSetRetryStrategy",
    },
    "ContainerSetRetryStrategy": {"retries": INT_OR_STRING_PTR},
    "Container": _CONTAINER,
    "Script": _CONTAINER,
    "ResourceRequirements": _REQUIREMENTS,
    "EnvVar": {"valueFrom": "EnvVarSource"},
    "EnvVarSource": {"resourceFieldRef": "ResourceFieldSelector"},
    "ResourceFieldSelector": {"divisor": QUANTITY},
    "Probe": _HANDLER,
    "Lifecycle": {"postStart": "LifecycleHandler", "preStop": "LifecycleHandler"},
    "LifecycleHandler": _HANDLER,
    "HTTPGetAction": {"port": INT_OR_STRING},
    "TCPSocketAction": {"port": INT_OR_STRING},
    "Volume": {
        "emptyDir": "EmptyDirVolumeSource",
        "ephemeral": "EphemeralVolumeSource",
        "downwardAPI": "DownwardAPIVolumeSource",
        "projected": "ProjectedVolumeSource",
    },
    "EmptyDirVolumeSource": {"sizeLimit": QUANTITY_PTR},
    "EphemeralVolumeSource": {"volumeClaimTemplate": "PersistentVolumeClaimTemplate"},
    "PersistentVolumeClaimTemplate": {"spec": "PersistentVolumeClaimSpec"},
    "PersistentVolumeClaim": {
        "spec": "PersistentVolumeClaimSpec",
        "status": "PersistentVolumeClaimStatus",
    },
    "PersistentVolumeClaimSpec": {"resources": "VolumeResourceRequirements"},
    "VolumeResourceRequirements": _REQUIREMENTS,
    "PersistentVolumeClaimStatus": {
        "capacity": RESOURCE_LIST,
        "allocatedResources": RESOURCE_LIST,
    },
    "DownwardAPIVolumeSource": {"items": "DownwardAPIVolumeFile"},
    "ProjectedVolumeSource": {"sources": "VolumeProjection"},
    "VolumeProjection": {"downwardAPI": "DownwardAPIProjection"},
    "DownwardAPIProjection": {"items": "DownwardAPIVolumeFile"},
    "DownwardAPIVolumeFile": {"resourceFieldRef": "ResourceFieldSelector"},
    "Arguments": {"parameters": "Parameter"},
    "Inputs": {"parameters": "Parameter"},
    "Outputs": {"parameters": "Parameter"},
    "Parameter": {
        "value": ANY_STRING_PTR,
        "default": ANY_STRING_PTR,
        "description": ANY_STRING_PTR,
        "enum": ANY_STRINGS,
        "valueFrom": "ValueFrom",
    },
    "ValueFrom": {"default": ANY_STRING_PTR},
    "DAG": {"tasks": "DAGTask"},
    "DAGTask": _STEP,
    "WorkflowStep": _STEP,
    "LifecycleHook": {"arguments": "Arguments"},
    "Sequence": {"count": INT_OR_STRING_PTR, "start": INT_OR_STRING_PTR, "end": INT_OR_STRING_PTR},
    "RetryStrategy": {"limit": INT_OR_STRING_PTR, "backoff": "Backoff"},
    "Backoff": {"factor": INT_OR_STRING_PTR},
    "PodDisruptionBudgetSpec": {
        "minAvailable": INT_OR_STRING_PTR,
        "maxUnavailable": INT_OR_STRING_PTR,
    },
}

_INT32_TEXT: Final = re.compile(r"-?[0-9]+")
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


class GoValueError(ValueError):
    """Go cannot read this JSON value into the field's type: Argo would error the Workflow."""


def map_value_type(type_name: str | None) -> str | None:
    """The value type of a "map:<type>" field type, else None."""
    if type_name and type_name.startswith(MAP_PREFIX):
        return type_name[len(MAP_PREFIX) :]
    return None


def read_value(kind: str, value: JSON) -> JSON:
    """`value` read into a field of `kind` and written back by Go; GoValueError if Go refuses.

    A null reads as Go's zero value (callers drop nulls of pointer kinds before asking).
    """
    try:
        if kind in (QUANTITY, QUANTITY_PTR):
            return canonical_quantity(value)
        if kind == RESOURCE_LIST:
            return _resource_list(value)
        if kind == ANY_STRING_PTR:
            return any_string(value)
        if kind == ANY_STRINGS:
            return _any_strings(value)
        if kind in (INT_OR_STRING, INT_OR_STRING_PTR):
            return int_or_string(value)
    except QuantityError as exc:
        raise GoValueError(str(exc)) from None
    raise GoValueError(f"unknown value kind {kind!r}")


def normal_value(kind: str, value: JSON) -> JSON:
    """read_value for comparing: what Go cannot read is kept as written; zero values are None."""
    if value is None and kind not in ZERO_VALUES:
        return None
    try:
        read = read_value(kind, value)
    except GoValueError:
        return value
    return None if kind in ZERO_VALUES and read == ZERO_VALUES[kind] else read


def _resource_list(value: JSON) -> JSON:
    """A ResourceList: every entry a Quantity (a null entry is Go's zero Quantity, "0")."""
    if not isinstance(value, dict):
        raise GoValueError(f"cannot read {type(value).__name__} into a ResourceList")
    return {name: canonical_quantity(item) for name, item in value.items()}


def _any_strings(value: JSON) -> JSON:
    if not isinstance(value, list):
        raise GoValueError(f"cannot read {type(value).__name__} into []AnyString")
    return [any_string(item) for item in value]


def any_string(value: JSON) -> str:
    """AnyString.UnmarshalJSON: numbers and booleans as their text, anything else as "" .

    Go reads a number as a float64 and writes it with strconv.FormatFloat(v, 'f', -1, 64):
    shortest digits, never an exponent (`1e21` -> "1000000000000000000000").
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = _float64(value)
        if number == 0:
            return "-0" if math.copysign(1.0, number) < 0 else "0"
        return format(Decimal(repr(number)).normalize(), "f")
    return ""  # null, an object or an array: none of AnyString's cases, the string stays empty


def _float64(value: int | float) -> float:
    try:
        number = float(value)
    except OverflowError:
        raise GoValueError(f"number {value} does not fit a float64") from None
    if not math.isfinite(number):
        raise GoValueError(f"json: unsupported value: {value}")
    return number


def int_or_string(value: JSON) -> JSON:
    """IntOrString.UnmarshalJSON: a string stays a string, a number must fit an int32.

    The number is read from the text the API server wrote (`3.0` arrives as `3`); a fraction,
    an exponent, a boolean, an object or an array is refused as Go refuses it.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GoValueError(f"cannot unmarshal {type(value).__name__} into an int32")
    text = go_json_number(value)
    if not _INT32_TEXT.fullmatch(text) or not _INT32_MIN <= int(text) <= _INT32_MAX:
        raise GoValueError(f"cannot unmarshal number {text} into an int32")
    return int(text)
