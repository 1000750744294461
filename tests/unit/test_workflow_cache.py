"""The bounded cache of running Workflows: bounds, eviction, finished ones dropped, UIDs."""

from __future__ import annotations

from typing import Any

from admission.cluster.workflows import WorkflowCache, reduced


def workflow(name: str, uid: str = "", phase: str = "Running", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}"},
        "spec": {"entrypoint": "main"},
        "status": {"phase": phase, **status},
    }


def test_listed_workflows_are_answered_by_namespace_and_name() -> None:
    cache = WorkflowCache(10)
    cache.replace([workflow("a"), workflow("b")])
    found = cache.get("ns", "a")
    assert found is not None and found["metadata"]["uid"] == "uid-a"
    assert cache.get("other", "a") is None and cache.get("ns", "c") is None


def test_each_answer_is_a_copy_the_caller_may_change() -> None:
    cache = WorkflowCache(10)
    cache.replace([workflow("a")])
    first = cache.get("ns", "a")
    assert first is not None
    first["status"]["phase"] = "Failed"
    assert cache.get("ns", "a")["status"]["phase"] == "Running"  # type: ignore[index]


def test_the_cache_never_holds_more_than_its_size_dropping_the_least_recently_used() -> None:
    cache = WorkflowCache(2)
    cache.apply("ADDED", workflow("a"))
    cache.apply("ADDED", workflow("b"))
    assert cache.get("ns", "a") is not None  # a used: b is now the oldest
    cache.apply("ADDED", workflow("c"))
    assert len(cache) == 2
    assert cache.get("ns", "b") is None
    assert cache.get("ns", "a") is not None and cache.get("ns", "c") is not None


def test_a_list_larger_than_the_size_keeps_only_the_size() -> None:
    cache = WorkflowCache(3)
    cache.replace([workflow(f"w{i}") for i in range(10)])
    assert len(cache) == 3
    assert cache.get("ns", "w9") is not None and cache.get("ns", "w0") is None


def test_a_workflow_that_finishes_or_is_deleted_leaves_the_cache() -> None:
    cache = WorkflowCache(10)
    cache.replace([workflow("a"), workflow("b")])
    cache.apply("MODIFIED", workflow("a", phase="Succeeded"))
    cache.apply("DELETED", workflow("b"))
    assert cache.get("ns", "a") is None and cache.get("ns", "b") is None
    assert len(cache) == 0


def test_finished_workflows_in_a_list_are_not_kept() -> None:
    cache = WorkflowCache(10)
    cache.replace([workflow("a", phase="Failed"), workflow("b", phase="Error")])
    assert len(cache) == 0


def test_the_deletion_of_an_old_workflow_does_not_remove_a_new_one_of_its_name() -> None:
    cache = WorkflowCache(10)
    cache.apply("ADDED", workflow("a", uid="old"))
    cache.apply("ADDED", workflow("a", uid="new"))
    cache.apply("DELETED", workflow("a", uid="old"))
    found = cache.get("ns", "a")
    assert found is not None and found["metadata"]["uid"] == "new"
    assert len(cache) == 1


def test_a_changed_workflow_is_answered_as_changed() -> None:
    cache = WorkflowCache(10)
    cache.apply("ADDED", workflow("a", nodes={}))
    cache.apply("MODIFIED", workflow("a", nodes={"a-1": {"id": "a-1"}}))
    assert cache.get("ns", "a")["status"]["nodes"] == {"a-1": {"id": "a-1"}}  # type: ignore[index]


def test_a_size_of_zero_keeps_nothing() -> None:
    cache = WorkflowCache(0)
    cache.replace([workflow("a")])
    cache.apply("ADDED", workflow("b"))
    assert len(cache) == 0


def test_only_what_the_rules_read_is_kept() -> None:
    obj = workflow("a", nodes={"a": {"id": "a"}}, conditions=[{"type": "PodRunning"}])
    obj["metadata"]["managedFields"] = [{"manager": "workflow-controller"}]
    obj["metadata"]["labels"] = {"l": "v"}
    obj["status"]["storedTemplates"] = {"t": {"name": "t"}}
    kept = reduced(obj)
    assert "managedFields" not in kept["metadata"] and kept["metadata"]["labels"] == {"l": "v"}
    assert set(kept["status"]) == {"phase", "nodes", "storedTemplates"}
    assert kept["spec"] == obj["spec"] and kept["kind"] == "Workflow"
