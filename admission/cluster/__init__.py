"""The cluster adapters: every call to the Kubernetes API server (watches, leases, listings).

Only this folder imports `kubernetes` (an import-linter contract): the layers above ask it for a
client with `connect(kubeconfig)`. The client is imported when first needed, not with the
package: it takes a good part of a second, which the offline commands need not pay.
"""

from __future__ import annotations

from typing import Any


class ConnectError(Exception):
    """No usable cluster configuration: the kubeconfig given, or else in-cluster, or the default."""


def configuration(kubeconfig: str | None) -> Any:
    """The client configuration: `kubeconfig` when given, else in-cluster, else the default."""
    from kubernetes.config.config_exception import ConfigException

    from admission.cluster.kube import kube_configuration

    try:
        return kube_configuration(kubeconfig)
    except ConfigException as exc:
        raise ConnectError(str(exc)) from exc


def connect(kubeconfig: str | None) -> Any:
    """An API client for the cluster `configuration(kubeconfig)` names."""
    from kubernetes import client

    return client.ApiClient(configuration(kubeconfig))


def objects_api(api_client: Any) -> Any:
    """The custom-objects API (Argo's kinds, PolicyReports) over `api_client`."""
    from kubernetes import client

    return client.CustomObjectsApi(api_client)
