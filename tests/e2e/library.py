"""The template library of tests/fixtures/e2e/library.yaml, and the Workflows tests run of it.

The admin (the library's owner) creates its entries as WorkflowTemplates; alice runs them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

from expect import NS, TEMPLATE_IMAGE
from workflows import (
    API_VERSION,
    GROUP,
    VERSION,
    create,
    custom,
    make_ref_workflow,
    make_steps_template,
    make_template,
    node_phase,
    status,
    stored_spec,
    unique,
    wait_for_pods,
    wait_for_workflow,
)

LIBRARY_FILE = Path(__file__).parents[1] / "fixtures" / "e2e" / "library.yaml"
UNSEEN_ATTEMPTS = 4  # a second apart, then 2 s, 4 s: the informer has long caught up


def create_library(admin: k8s.ApiClient, namespace: str, *entries: str) -> dict[str, str]:
    """Create entries of the library file as WorkflowTemplates, as admin, each under a fresh
    name; a `templateRef` to another entry created with it follows. Returns {entry: name}."""
    library = yaml.safe_load(LIBRARY_FILE.read_text(encoding="utf-8"))
    names = {entry: unique(entry) for entry in entries}
    for entry in entries:
        spec = renamed_refs(copy.deepcopy(library[entry]), names)
        create(
            admin,
            {
                "apiVersion": API_VERSION,
                "kind": "WorkflowTemplate",
                "metadata": {"name": names[entry], "namespace": namespace},
                "spec": spec,
            },
        )
    return names


def library(admin: k8s.ApiClient, *, steps: bool) -> str:
    """A one-entry library in team-a, created by admin (its owner): a steps template (one step)
    or a container template, of TEMPLATE_IMAGE; its name."""
    name = unique("library")
    make = make_steps_template if steps else make_template
    create(admin, make(name, NS, image=TEMPLATE_IMAGE))
    return name


def renamed_refs(value: Any, names: dict[str, str]) -> Any:
    """`value` with every templateRef naming a key of `names` pointed at its new name."""
    if isinstance(value, dict):
        ref = value.get("templateRef")
        if isinstance(ref, dict) and ref.get("name") in names:
            ref["name"] = names[ref["name"]]
        return {key: renamed_refs(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [renamed_refs(item, names) for item in value]
    return value


def submit_ref(
    api: k8s.ApiClient,
    watcher: k8s.ApiClient,
    namespace: str,
    template: str,
    until: Callable[[dict[str, Any]], Any],
    *,
    what: str,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> str:
    """Create a ref Workflow of `template` as `api`'s user and wait (reading as `watcher`) until
    `until(workflow)` holds; its name.

    Argo's controller resolves the ref from its template informer only (operator.go
    fetchWorkflowSpec, both versions): a Workflow it takes before that informer has a template
    created a moment earlier is errored `workflowtemplates.argoproj.io "…" not found`, as a
    user's would be who submitted in the instant the admin created it. The tests create their
    library just before they submit, so such a Workflow is deleted and submitted afresh a
    little later."""
    unseen = f'workflowtemplates.argoproj.io "{template}" not found'
    for attempt in range(UNSEEN_ATTEMPTS):
        time.sleep(attempt and 2 ** (attempt - 1))
        name = unique("wf")
        body = make_ref_workflow(name, namespace, template, **spec)
        if annotations:
            body["metadata"]["annotations"] = annotations
        create(api, body)
        workflow = wait_for_workflow(
            watcher,
            namespace,
            name,
            lambda wf: until(wf) or status(wf).get("message") == unseen,
            what=what,
        )
        if until(workflow):
            return name
        custom(watcher).delete_namespaced_custom_object(
            GROUP, VERSION, namespace, "workflows", name
        )
    raise AssertionError(f"Argo's controller never saw template {namespace}/{template}")


def start_running(alice: k8s.ApiClient, admin: k8s.ApiClient, template: str, **spec: Any) -> str:
    """Alice submits a ref Workflow of `template` in team-a; wait (reading as admin) until it
    runs with a stored spec (and, unless submitted suspended, a first pod). Its name."""
    name = submit_ref(
        alice,
        admin,
        NS,
        template,
        lambda wf: status(wf).get("phase") == "Running" and stored_spec(wf),
        what="to be Running with a stored spec",
        **spec,
    )
    if not spec.get("suspend"):
        wait_for_pods(admin, NS, name, bool, what="to include the first step's pod")
    return name


def submit_to_approval(
    api: k8s.ApiClient,
    watcher: k8s.ApiClient,
    namespace: str,
    template: str,
    *,
    annotations: dict[str, str] | None = None,
) -> str:
    """Create a Workflow of a library template whose first step is `approve` (a suspend node),
    as `api`'s user (with `annotations`); wait (reading as `watcher`) until the controller runs
    it and waits there. Its name."""
    return submit_ref(
        api,
        watcher,
        namespace,
        template,
        lambda wf: node_phase(wf, "approve") == "Running",
        what="to have step approve Running",
        annotations=annotations,
    )


def start_relay(alice: k8s.ApiClient, admin: k8s.ApiClient, namespace: str) -> str:
    """Alice's Workflow of a fresh relay (and its toolbox), waiting at approve; its name."""
    library = create_library(admin, namespace, "relay", "toolbox")
    return submit_to_approval(alice, admin, namespace, library["relay"])
