"""Argo's and Kubernetes' Go types, as far as joining specs needs them. Pure; no I/O.

Which list fields merge element by element and by which key, which fields Go writes even when
zero, which `omitempty` drops, and WorkflowSpec's fields with their Go kinds. The other modules
of admission/merge read their types from here.

Mirrors (argoproj/argo-workflows v3.7.18):
- pkg/apis/workflow/v1alpha1/workflow_types.go: patchStrategy/patchMergeKey tags, omitempty tags
- k8s.io/api core/v1 types.go: the container, volume and probe fields Argo's types embed
"""

from __future__ import annotations

from typing import Any, Final

JSON = Any
Spec = dict[str, Any]


class MergeError(ValueError):
    """The specs cannot be joined: Argo's controller would mark the Workflow Error."""


#
# FIELDS[type][json name] = (child type or None, merge key or None). A list field with a merge
# key is merged element by element (patchStrategy "merge"); any other list is replaced. Map
# fields merge recursively whatever their type. Types not listed are plain: maps merge, lists
# are replaced, exactly as the strategic merge does for fields without patch tags.
FIELDS: Final[dict[str, dict[str, tuple[str | None, str | None]]]] = {
    "Workflow": {"metadata": ("ObjectMeta", None), "spec": ("WorkflowSpec", None)},
    "ObjectMeta": {"finalizers": (None, "")},  # list of scalars, merged as a set
    "WorkflowSpec": {
        "templates": ("Template", "name"),
        "arguments": ("Arguments", None),
        "volumes": ("Volume", "name"),
        "tolerations": (None, "key"),
        "imagePullSecrets": (None, "name"),
        "hostAliases": ("HostAlias", "ip"),
        "templateDefaults": ("Template", None),
        "metrics": ("Metrics", None),
    },
    "Template": {
        "inputs": ("Inputs", None),
        "outputs": ("Outputs", None),
        "arguments": ("Arguments", None),
        "dag": ("DAG", None),
        "container": ("Container", None),
        "script": ("Script", None),
        "initContainers": ("Container", "name"),
        "sidecars": ("Container", "name"),
        "volumes": ("Volume", "name"),
        "tolerations": (None, "key"),
        "hostAliases": ("HostAlias", "ip"),
        "metrics": ("Metrics", None),
    },
    "Arguments": {"parameters": ("Parameter", "name"), "artifacts": ("Artifact", "name")},
    "Inputs": {"parameters": ("Parameter", "name"), "artifacts": ("Artifact", "name")},
    "Outputs": {"parameters": ("Parameter", "name"), "artifacts": ("Artifact", "name")},
    "DAG": {"tasks": ("DAGTask", "name")},
    "DAGTask": {"arguments": ("Arguments", None)},
    "Script": {
        "env": ("EnvVar", "name"),
        "ports": ("ContainerPort", "containerPort"),
        "volumeMounts": ("VolumeMount", "mountPath"),
        "volumeDevices": ("VolumeDevice", "devicePath"),
    },
    "Container": {
        "env": ("EnvVar", "name"),
        "ports": ("ContainerPort", "containerPort"),
        "volumeMounts": ("VolumeMount", "mountPath"),
        "volumeDevices": ("VolumeDevice", "devicePath"),
    },
}

# Fields Go writes even when zero (no `omitempty`): they take part in the merge, e.g. a
# `metrics: {}` on the Workflow marshals as `prometheus: null` and deletes the template's.
ALWAYS_EMITTED: Final[dict[str, dict[str, JSON]]] = {
    "Container": {"name": ""},
    "Script": {"name": "", "source": ""},
    "Parameter": {"name": ""},
    "Artifact": {"name": ""},
    "DAGTask": {"name": ""},
    "Volume": {"name": ""},
    "HostAlias": {"ip": ""},
    "EnvVar": {"name": ""},
    "ContainerPort": {"containerPort": 0},
    "VolumeMount": {"name": "", "mountPath": ""},
    "VolumeDevice": {"name": "", "devicePath": ""},
    "Metrics": {"prometheus": None},
    "DAG": {"tasks": None},
    # k8s core/v1 and Argo fields without omitempty, or structs omitempty cannot omit.
    "ResourceFieldSelector": {"resource": "", "divisor": "0"},
    "HTTPGetAction": {"port": 0},
    "TCPSocketAction": {"port": 0},
    "ContainerSetRetryStrategy": {"retries": None},
}

# Go map fields (omitempty): an empty map is not written. Struct pointers (`artifactGC: {}`) are.
MAP_FIELDS: Final = frozenset(
    {"nodeSelector", "hooks", "labels", "annotations", "labelsFrom", "limits", "requests"}
)
# Strings Go writes even when "" below the types above (ConfigMapKeySelector.key, ...) and
# *IntOrString fields (a pointer: "" is a value); any other "" is an omitempty zero.
KEPT_EMPTY_STRINGS: Final = frozenset({"key", "help", "limit", "factor", "activeDeadlineSeconds"})
# Plain (non-pointer) bools with omitempty: false is not written.
PLAIN_BOOLS: Final = frozenset(
    {
        "clusterScope",
        "forceFinalizerRemoval",
        "optional",
        "readOnly",
        "stdin",
        "stdinOnce",
        "tty",
        "deleted",
    }
)

# WorkflowSpec: json name -> (Go field name, Go kind). Kinds: "string" and "bool"/"int" are
# plain values whose zero is "unset"; "ptr", "slice", "map" are unset only when null/absent.
WORKFLOW_SPEC_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "templates": ("Templates", "slice"),
    "entrypoint": ("Entrypoint", "string"),
    "arguments": ("Arguments", "struct"),
    "serviceAccountName": ("ServiceAccountName", "string"),
    "automountServiceAccountToken": ("AutomountServiceAccountToken", "ptr"),
    "executor": ("Executor", "ptr"),
    "volumes": ("Volumes", "slice"),
    "volumeClaimTemplates": ("VolumeClaimTemplates", "slice"),
    "parallelism": ("Parallelism", "ptr"),
    "artifactRepositoryRef": ("ArtifactRepositoryRef", "ptr"),
    "suspend": ("Suspend", "ptr"),
    "nodeSelector": ("NodeSelector", "map"),
    "affinity": ("Affinity", "ptr"),
    "tolerations": ("Tolerations", "slice"),
    "imagePullSecrets": ("ImagePullSecrets", "slice"),
    "hostNetwork": ("HostNetwork", "ptr"),
    "dnsPolicy": ("DNSPolicy", "ptr"),
    "dnsConfig": ("DNSConfig", "ptr"),
    "onExit": ("OnExit", "string"),
    "ttlStrategy": ("TTLStrategy", "ptr"),
    "activeDeadlineSeconds": ("ActiveDeadlineSeconds", "ptr"),
    "priority": ("Priority", "ptr"),
    "schedulerName": ("SchedulerName", "string"),
    "podGC": ("PodGC", "ptr"),
    "podPriorityClassName": ("PodPriorityClassName", "string"),
    "hostAliases": ("HostAliases", "slice"),
    "securityContext": ("SecurityContext", "ptr"),
    "podSpecPatch": ("PodSpecPatch", "string"),
    "podDisruptionBudget": ("PodDisruptionBudget", "ptr"),
    "metrics": ("Metrics", "ptr"),
    "shutdown": ("Shutdown", "string"),
    "workflowTemplateRef": ("WorkflowTemplateRef", "ptr"),
    "synchronization": ("Synchronization", "ptr"),
    "volumeClaimGC": ("VolumeClaimGC", "ptr"),
    "retryStrategy": ("RetryStrategy", "ptr"),
    "podMetadata": ("PodMetadata", "ptr"),
    "templateDefaults": ("TemplateDefaults", "ptr"),
    "archiveLogs": ("ArchiveLogs", "ptr"),
    "hooks": ("Hooks", "map"),
    "workflowMetadata": ("WorkflowMetadata", "ptr"),
    "artifactGC": ("ArtifactGC", "ptr"),
}
