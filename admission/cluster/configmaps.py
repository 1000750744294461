"""Writing one ConfigMap whole: created when absent, replaced when its data changed."""

from __future__ import annotations

from collections.abc import Mapping

from kubernetes import client
from kubernetes.client.exceptions import ApiException

REQUEST_SECONDS = 10


class ConfigMapError(RuntimeError):
    """The ConfigMap could not be read or written."""


def put_config_map(
    api: client.CoreV1Api,
    namespace: str,
    name: str,
    data: Mapping[str, str],
    *,
    labels: Mapping[str, str],
) -> bool:
    """Make ConfigMap namespace/name hold exactly `data`; whether anything was written."""
    try:
        try:
            current = api.read_namespaced_config_map(
                name, namespace, _request_timeout=REQUEST_SECONDS
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=name, labels=dict(labels)), data=dict(data)
            )
            api.create_namespaced_config_map(namespace, body, _request_timeout=REQUEST_SECONDS)
            return True
        if (current.data or {}) == dict(data):
            return False
        current.data = dict(data)
        api.replace_namespaced_config_map(
            name, namespace, current, _request_timeout=REQUEST_SECONDS
        )
        return True
    except ApiException as exc:
        raise ConfigMapError(f"ConfigMap {namespace}/{name}: {exc.status} {exc.reason}") from exc


def patch_config_map_entry(
    api: client.CoreV1Api, namespace: str, name: str, key: str, value: str | None
) -> None:
    """Set one key of ConfigMap namespace/name (None: remove it), leaving the others."""
    try:
        api.patch_namespaced_config_map(
            name, namespace, {"data": {key: value}}, _request_timeout=REQUEST_SECONDS
        )
    except ApiException as exc:
        raise ConfigMapError(f"ConfigMap {namespace}/{name}: {exc.status} {exc.reason}") from exc
