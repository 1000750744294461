"""The template library holds, on the real API server with Argo's controller behind the door.

alice may create WorkflowTemplates in team-a (a common RBAC grant, given here by a Role of its
own); only the library's author (admin) may put a template into the library, change one, take
one out or delete one. A CronWorkflow admitted while its template was in the library spawns its
Workflows as the exempt controller; once the author takes the template out, the door refuses
the spawned Workflow, the cron controller records the failure, and nothing runs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from argocontroller import WorkflowController
from chart_render import deep_merge
from expect import NS, refused
from harness.processes import wait_for
from identities import ALICE
from webhook import DENIED, Door, chart_values
from workflows import (
    create,
    custom,
    make_cron_workflow,
    make_template,
    unique,
)

pytestmark = [pytest.mark.e2e, pytest.mark.argo]

LABEL = {"argo-admission.io/library": "approved"}
LIBRARY = deep_merge(
    chart_values(
        "Strict",
        templateLibrary={"selector": {"matchLabels": LABEL}, "authors": {"users": ["admin"]}},
    ),
    {"webhook": {"skipExempt": True}},  # the controller's Workflow CREATEs still come through
)
GROUP, VERSION = "argoproj.io", "v1alpha1"
AUTHOR_ONLY = "[library-author] only the template library's authors may"


@pytest.fixture
def library_door(door: Door, argo_strict: WorkflowController) -> Door:
    """Argo in Strict behind a door whose library is labelled and kept by admin."""
    door.configure(LIBRARY)
    return door


@pytest.fixture
def alice_writes_templates(admin: k8s.ApiClient) -> Iterator[None]:
    """A Role that lets alice write WorkflowTemplates in team-a, as many clusters grant."""
    rbac = k8s.RbacAuthorizationV1Api(admin)
    meta = {"name": "e2e-template-writer", "namespace": NS}
    rbac.create_namespaced_role(
        NS,
        {
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": ["workflowtemplates"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        NS,
        {
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": meta["name"],
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ALICE}],
        },
    )
    try:
        yield
    finally:
        rbac.delete_namespaced_role_binding(meta["name"], NS)
        rbac.delete_namespaced_role(meta["name"], NS)


def get_cron(api: k8s.ApiClient, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom(api).get_namespaced_custom_object(
        GROUP, VERSION, NS, "cronworkflows", name
    )
    return found


def library_template(name: str, *, image: str = "alpine:3.20") -> dict[str, Any]:
    body = make_template(name, NS, image=image)
    body["metadata"]["labels"] = dict(LABEL)
    return body


def get_template(api: k8s.ApiClient, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom(api).get_namespaced_custom_object(
        GROUP, VERSION, NS, "workflowtemplates", name
    )
    return found


def replace_template(api: k8s.ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    done: dict[str, Any] = custom(api).replace_namespaced_custom_object(
        GROUP, VERSION, NS, "workflowtemplates", body["metadata"]["name"], body
    )
    return done


def delete_template(api: k8s.ApiClient, name: str) -> None:
    custom(api).delete_namespaced_custom_object(GROUP, VERSION, NS, "workflowtemplates", name)


def edited(
    body: dict[str, Any], *, image: str | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A copy of the stored template with a new image and/or labels."""
    out = copy.deepcopy(body)
    if image is not None:
        out["spec"]["templates"][0]["container"]["image"] = image
    if labels is not None:
        out["metadata"]["labels"] = labels
    return out


def test_the_author_edits_a_library_template(
    library_door: Door, admin: k8s.ApiClient, clean_namespaces: None
) -> None:
    name = unique("lib")
    create(admin, library_template(name))
    replace_template(admin, edited(get_template(admin, name), image="alpine:3.21"))
    assert get_template(admin, name)["spec"]["templates"][0]["container"]["image"] == "alpine:3.21"


def test_a_non_author_can_neither_create_label_edit_unlabel_nor_delete_a_library_template(
    library_door: Door,
    admin: k8s.ApiClient,
    alice: k8s.ApiClient,
    alice_writes_templates: None,
    clean_namespaces: None,
) -> None:
    name = unique("lib")
    message = refused(lambda: create(alice, library_template(name)))
    assert message.startswith(f"{DENIED}{AUTHOR_ONLY} create WorkflowTemplate {NS}/{name}")

    own = unique("own")
    create(alice, make_template(own, NS))  # outside the library: RBAC alone decides
    message = refused(
        lambda: replace_template(alice, edited(get_template(alice, own), labels=dict(LABEL)))
    )
    assert message.startswith(f"{DENIED}{AUTHOR_ONLY} add to the library")
    assert "labels" not in get_template(admin, own)["metadata"]

    create(admin, library_template(name))
    before = get_template(admin, name)
    message = refused(lambda: replace_template(alice, edited(before, image="evil:latest")))
    assert message.startswith(f"{DENIED}{AUTHOR_ONLY} change")
    message = refused(lambda: replace_template(alice, edited(before, labels={})))
    assert message.startswith(f"{DENIED}{AUTHOR_ONLY} take out of the library")
    message = refused(lambda: delete_template(alice, name))
    assert message.startswith(f"{DENIED}{AUTHOR_ONLY} delete")
    assert get_template(admin, name)["spec"] == before["spec"]
    assert get_template(admin, name)["metadata"]["labels"] == LABEL
    delete_template(alice, own)  # and its own template stays its own to delete


def test_a_cron_workflow_whose_template_left_the_library_spawns_nothing_that_runs(
    library_door: Door, admin: k8s.ApiClient, alice: k8s.ApiClient, clean_namespaces: None
) -> None:
    name = unique("lib")
    create(admin, library_template(name))
    cron = make_cron_workflow(unique("nightly"), NS, {"workflowTemplateRef": {"name": name}})
    cron["spec"]["schedules"] = ["* * * * *"]
    create(alice, cron)  # admitted: its template is in the library
    replace_template(admin, edited(get_template(admin, name), labels={}))  # the author takes it out

    def failure(found: dict[str, Any]) -> str:
        conditions = (found.get("status") or {}).get("conditions") or []
        return next(
            (c.get("message", "") for c in conditions if c.get("type") == "SubmissionError"), ""
        )

    cron_name = cron["metadata"]["name"]
    found = wait_for(
        lambda: get_cron(admin, cron_name),
        until=lambda seen: bool(failure(seen)),
        what=f"the cron controller to record the refused spawn of {cron_name}",
        timeout=90,
    )
    assert "[template-library]" in failure(found), failure(found)
    assert f"WorkflowTemplate {NS}/{name} is not in the template library" in failure(found)
    spawned = custom(admin).list_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        "workflows",
        label_selector=f"workflows.argoproj.io/cron-workflow={cron_name}",
    )["items"]
    assert spawned == []
