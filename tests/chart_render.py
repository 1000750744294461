"""Render the Helm chart with the real `helm` and return its objects as dicts.

Used by tests/unit/test_chart.py and by the e2e suite, which registers the chart's own webhook
configurations with a real kube-apiserver, pointed at a local server:

    from chart_render import render_webhooks
    hooks = render_webhooks("https://127.0.0.1:9443", ca_bundle_b64)

or from a shell: `python tests/chart_render.py --url https://127.0.0.1:9443 --ca-file ca.crt`.

helm is found like every binary of the suite (tests/support.py: $ARGO_ADMISSION_BIN, default
~/.cache/argo-admission/bin, built by `tests/e2e/setup.sh helm`; then PATH). A helm built with
`go install` assumes Kubernetes v1.20 unless told otherwise, below the chart's kubeVersion, so
every render passes --kube-version.
"""

from __future__ import annotations

import argparse
import base64
import copy
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.processes import bin_dirs, built

CHART_DIR = Path(__file__).resolve().parents[1] / "charts" / "argo-admission"
RELEASE = "argo-admission"
NAMESPACE = "argo-admission"
KUBE_VERSION = "1.36.3"  # the e2e suite's kube-apiserver
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


class HelmNotFoundError(RuntimeError):
    """No helm binary: build it with `tests/e2e/setup.sh helm`."""


class RenderError(RuntimeError):
    """helm refused the chart or the values; `stderr` holds helm's message."""

    def __init__(self, args: Sequence[str], stderr: str) -> None:
        self.stderr = stderr
        super().__init__(f"helm {' '.join(args[:2])} failed:\n{stderr.strip()}")


def helm_binary() -> Path:
    """The helm to use; raises HelmNotFoundError saying how to get one."""
    path = built("helm")
    if path is None:
        raise HelmNotFoundError(
            f"helm not found in {bin_dirs()[0]} or on PATH; build it with `tests/e2e/setup.sh helm`"
        )
    return path


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`, mappings recursively, as helm merges values."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def run_helm(
    command: str,
    *args: str,
    values: Mapping[str, Any] | None = None,
    values_files: Sequence[str | Path] = (),
) -> subprocess.CompletedProcess[str]:
    """Run `helm COMMAND CHART ARGS...` with values written to a temporary file."""
    with tempfile.TemporaryDirectory(prefix="argo-admission-chart-") as tmp:
        flags: list[str] = []
        for path in values_files:
            flags += ["--values", str(path)]
        if values:
            path = Path(tmp) / "values.yaml"
            path.write_text(yaml.safe_dump(dict(values)), encoding="utf-8")
            flags += ["--values", str(path)]
        argv = [str(helm_binary()), command, *args, *flags]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={
                **os.environ,
                "HELM_CACHE_HOME": str(Path(tmp) / "cache"),
                "HELM_CONFIG_HOME": str(Path(tmp) / "config"),
                "HELM_DATA_HOME": str(Path(tmp) / "data"),
            },
        )


def render(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    kube_version: str = KUBE_VERSION,
    values_files: Sequence[str | Path] = (),
    api_versions: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every object `helm template` renders (hooks and tests included); RenderError on refusal.
    `api_versions` are what the cluster serves beyond helm's built-in list (--api-versions)."""
    text = render_text(
        values,
        release=release,
        namespace=namespace,
        kube_version=kube_version,
        values_files=values_files,
        api_versions=api_versions,
    )
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def render_text(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    kube_version: str = KUBE_VERSION,
    values_files: Sequence[str | Path] = (),
    api_versions: Sequence[str] = (),
) -> str:
    """What `helm template` prints, as it prints it; RenderError on refusal."""
    args = [release, str(CHART_DIR), "--namespace", namespace, "--kube-version", kube_version]
    for api in api_versions:
        args += ["--api-versions", api]
    result = run_helm("template", *args, values=values, values_files=values_files)
    if result.returncode != 0:
        raise RenderError(["template", *args], result.stderr)
    return result.stdout


def render_webhooks(
    url: str, ca_bundle_b64: str, values: Mapping[str, Any] | None = None, **options: Any
) -> list[dict[str, Any]]:
    """The chart's Validating/MutatingWebhookConfigurations with clientConfig.url = <url>/validate
    and <url>/mutate and the given CA, ready to create on an API server."""
    forced = {"webhook": {"url": url, "caBundle": ca_bundle_b64}}
    docs = render(deep_merge(values or {}, forced), **options)
    return [doc for doc in docs if doc.get("kind") in WEBHOOK_KINDS]


def render_policy(values: Mapping[str, Any] | None = None, **options: Any) -> str:
    """The policy file (`policy.yaml` of the policy ConfigMap) the chart gives the server."""
    for doc in render(values, **options):
        if doc.get("kind") == "ConfigMap" and "policy.yaml" in (doc.get("data") or {}):
            return str(doc["data"]["policy.yaml"])
    raise RenderError(["template"], "no ConfigMap with a policy.yaml key was rendered")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the webhook configurations in url mode as multi-document YAML."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--url", required=True, help="https://host:port of the server")
    parser.add_argument("--ca-file", required=True, help="PEM CA that signed its certificate")
    parser.add_argument("-f", "--values", action="append", default=[], help="values file")
    parser.add_argument("--kube-version", default=KUBE_VERSION)
    args = parser.parse_args(argv)
    ca = base64.b64encode(Path(args.ca_file).read_bytes()).decode()
    values: dict[str, Any] = {}
    for path in args.values:
        values = deep_merge(values, yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    docs = render_webhooks(args.url, ca, values, kube_version=args.kube_version)
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
