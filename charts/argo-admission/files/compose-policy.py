"""Compose the server's policy file from the chart's policy and a workflow-controller ConfigMap.

Runs in the init container when `policy.existingConfigMap` is set:

    python3 compose-policy.py CHART_POLICY ARGO_CONFIGMAP_DIR OUT

CHART_POLICY is the policy the chart rendered from values (exemptions included); the mounted
ConfigMap's `workflowRestrictions` and `workflowDefaults` keys (or its legacy `config` key) replace
those two keys, read as YAML 1.1 like the workflow-controller reads them. A key the ConfigMap does
not set takes Argo's default, as in the controller. The server validates the result at start-up.
"""

import os
import sys

import yaml

ARGO_KEYS = ("workflowRestrictions", "workflowDefaults")
ARGO_DEFAULTS = {"workflowRestrictions": {"templateReferencing": ""}, "workflowDefaults": {}}


def read_configmap_dir(path):
    """The keys of a mounted ConfigMap: one file each, skipping kubelet's `..data` links."""
    data = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if not name.startswith(".") and os.path.isfile(full):
            with open(full, encoding="utf-8") as handle:
                data[name] = handle.read()
    return data


def load(text, where):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        sys.exit(f"compose-policy: {where}: not valid YAML: {exc}")


def compose(policy, data):
    """The chart's policy with Argo's two keys taken from the ConfigMap data."""
    legacy = load(data["config"], "data.config") if "config" in data else None
    for key in ARGO_KEYS:
        if key in data:
            value = load(data[key], f"data.{key}")
        elif isinstance(legacy, dict) and key in legacy:
            value = legacy[key]
        else:
            value = ARGO_DEFAULTS[key]
            print(
                f"compose-policy: the ConfigMap has no {key}; using Argo's default", file=sys.stderr
            )
        policy[key] = value if value is not None else ARGO_DEFAULTS[key]
    return policy


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: compose-policy.py CHART_POLICY ARGO_CONFIGMAP_DIR OUT")
    chart_policy, argo_dir, out = argv
    with open(chart_policy, encoding="utf-8") as handle:
        policy = load(handle.read(), chart_policy) or {}
    policy = compose(policy, read_configmap_dir(argo_dir))
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("# Composed by the argo-admission chart's init container.\n")
        yaml.safe_dump(policy, handle, sort_keys=False)
    os.replace(tmp, out)
    restrictions = policy.get("workflowRestrictions") or {}
    print(
        f"compose-policy: wrote {out} (templateReferencing: "
        f"{restrictions.get('templateReferencing', '')!r})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
