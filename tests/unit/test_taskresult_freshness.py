"""Task results decided on a cached Workflow: only an admission is taken from the cache.

The cluster source answers from a watch that may lag the controller's last write of the
Workflow; the rule asks for a fresh copy before anything but an admission. Here a source hands
out a stale copy unless asked fresh, as a lagging cache would.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from admission.core.policy.source import TemplateKey
from admission.core.review import POD_NAME, POD_UID
from admission.core.webhook import handle
from admission.files.policy import load_config
from admission.files.templates import FileTemplateSource
from support import FIXTURES, make_review

NODE = "pipeline-running-123"
POD = "pipeline-running-build-1041152391"
EXECUTOR = "system:serviceaccount:team-a:reporter"
FILES = FileTemplateSource.from_paths([FIXTURES / "templates/trust.yaml"])
CONFIG = load_config(FIXTURES.parent.parent / "policies" / "secure.yaml")


class LaggingSource:
    """The Workflow as `stale` makes it, unless asked fresh; each lookup's freshness recorded."""

    def __init__(self, stale: Any) -> None:
        self.stale, self.asked = stale, []  # type: list[bool]

    def get(self, key: TemplateKey) -> Mapping[str, Any] | None:
        return FILES.get(key)

    def workflows_using(self, key: TemplateKey) -> list[str]:
        return []

    def workflow(self, namespace: str, name: str, *, fresh: bool = False) -> Any:
        self.asked.append(fresh)
        found = copy.deepcopy(FILES.workflow(namespace, name))
        return found if fresh else self.stale(found)


def without_node(workflow: dict[str, Any]) -> dict[str, Any]:
    del workflow["status"]["nodes"][NODE]
    return workflow


def without_accounts(workflow: dict[str, Any]) -> dict[str, Any]:
    workflow["spec"].pop("executor", None)
    for template in workflow["spec"].get("templates") or []:
        template.pop("executor", None)
    workflow["status"].pop("storedWorkflowTemplateSpec", None)
    workflow["status"].pop("storedTemplates", None)
    return workflow


def write(source: Any, *, node: str = NODE) -> dict[str, Any]:
    result = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": node,
            "namespace": "team-a",
            "labels": {"workflows.argoproj.io/workflow": "pipeline-running"},
        },
    }
    review = make_review(result, namespace="team-a", operation="CREATE", username=EXECUTOR)
    review["request"]["userInfo"]["extra"] = {POD_NAME: [POD], POD_UID: ["0a1b2c3d"]}
    answer = handle(json.dumps(review), endpoint="validate", config=CONFIG, templates=source)
    response: dict[str, Any] = answer.body["response"]
    return response


def test_a_cached_copy_with_the_node_admits_without_asking_again() -> None:
    source = LaggingSource(lambda wf: wf)
    assert write(source)["allowed"] is True
    assert source.asked == [False]


def test_a_node_the_cache_lacks_but_the_api_server_has_is_admitted() -> None:
    source = LaggingSource(without_node)
    assert write(source)["allowed"] is True
    assert source.asked == [False, True]


def test_a_node_neither_has_is_retried_later_only_after_the_fresh_copy_said_so() -> None:
    source = LaggingSource(lambda wf: wf)
    response = write(source, node="pipeline-running-999")
    assert response["allowed"] is False and response["status"]["code"] == 429
    assert source.asked == [False, True]


def test_an_account_the_cached_copy_does_not_name_yet_is_checked_on_a_fresh_copy() -> None:
    source = LaggingSource(without_accounts)
    assert write(source)["allowed"] is True
    assert source.asked == [False, True]
