"""The cluster template source against a small fake API server: lists, watches, 410, lookups."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from admission.cluster.kube import KubeTemplateSource
from admission.core.policy.source import CLUSTER, NAMESPACED, TemplateKey, TemplateLookupError

PREFIX = "/apis/argoproj.io/v1alpha1"


def template(name: str, namespace: str = "team-a", version: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": version},
        "spec": {"entrypoint": "main"},
    }


class FakeAPI:
    """Answers list, watch and get for Argo's resources from scripted data."""

    def __init__(self) -> None:
        self.lists: dict[str, list[list[dict[str, Any]]]] = {}
        self.watches: dict[str, list[list[dict[str, Any]]]] = {}
        self.gets: dict[str, tuple[int, dict[str, Any]]] = {}
        self.calls: list[str] = []
        self.stop = threading.Event()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        self.calls.append(handler.path)
        plural = url.path.rsplit("/", 1)[-1]
        if url.path in self.gets:
            status, body = self.gets[url.path]
            return send(handler, status, body)
        if query.get("watch") == ["true"]:
            return self._watch(handler, plural)
        pages = self.lists.get(plural) or [[]]
        items = pages.pop(0) if len(pages) > 1 else pages[0]
        return send(handler, 200, {"items": items, "metadata": {"resourceVersion": "10"}})

    def _watch(self, handler: BaseHTTPRequestHandler, plural: str) -> None:
        scripts = self.watches.get(plural) or []
        events = scripts.pop(0) if scripts else []
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")  # as the API server streams
        handler.end_headers()
        for event in events:
            line = json.dumps(event).encode() + b"\n"
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            handler.wfile.flush()
        self.stop.wait(5)  # then end the watch, as the server's timeoutSeconds would
        handler.wfile.write(b"0\r\n\r\n")


def send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def api() -> Iterator[tuple[FakeAPI, str]]:
    fake = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            fake.answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    fake.stop.set()
    server.shutdown()


def source_for(
    host: str,
    seen: list[str] | None = None,
    timeout: float = 2.0,
    workflow_cache: int = 0,
    workflows_seen: list[str] | None = None,
) -> KubeTemplateSource:
    observe = seen.append if seen is not None else None
    return KubeTemplateSource(
        client.Configuration(host=host),
        lookup_timeout=timeout,
        observe=observe,
        observe_workflow=workflows_seen.append if workflows_seen is not None else None,
        workflow_cache=workflow_cache,
    )


def wait_until(check: Any) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_templates_listed_at_start_are_answered_from_the_cache(api: tuple[FakeAPI, str]) -> None:
    fake, host = api
    fake.lists["workflowtemplates"] = [[template("hello")]]
    seen: list[str] = []
    source = source_for(host, seen)
    source.start()
    assert source.wait_synced(10)
    found = source.get(TemplateKey(NAMESPACED, "team-a", "hello"))
    assert found is not None and found["metadata"]["name"] == "hello"
    assert seen == ["hit"]
    assert not any("/namespaces/" in call for call in fake.calls)
    source.close()


def test_each_lookup_gets_its_own_copy(api: tuple[FakeAPI, str]) -> None:
    fake, host = api
    fake.lists["workflowtemplates"] = [[template("hello")]]
    source = source_for(host)
    source.start()
    source.wait_synced(10)
    key = TemplateKey(NAMESPACED, "team-a", "hello")
    first = source.get(key)
    assert first is not None
    first["spec"]["entrypoint"] = "changed"  # type: ignore[index]
    assert source.get(key)["spec"]["entrypoint"] == "main"  # type: ignore[index]
    source.close()


def test_watch_events_update_the_cache(api: tuple[FakeAPI, str]) -> None:
    fake, host = api
    fake.lists["workflowtemplates"] = [[template("old")]]
    fake.watches["workflowtemplates"] = [
        [
            {"type": "ADDED", "object": template("new", version="11")},
            {"type": "DELETED", "object": template("old", version="12")},
        ]
    ]
    source = source_for(host)
    source.start()
    wait_until(lambda: source._templates.keys() == {TemplateKey(NAMESPACED, "team-a", "new")})
    source.close()


def test_a_410_watch_error_lists_again(api: tuple[FakeAPI, str]) -> None:
    fake, host = api
    fake.lists["workflowtemplates"] = [[template("before")], [template("after")]]
    fake.watches["workflowtemplates"] = [
        [
            {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "code": 410,
                    "reason": "Expired",
                    "message": "too old",
                },
            }
        ]
    ]
    source = source_for(host)
    source.start()
    wait_until(lambda: TemplateKey(NAMESPACED, "team-a", "after") in source._templates)
    assert TemplateKey(NAMESPACED, "team-a", "before") not in source._templates
    source.close()


def test_workflows_using_a_template_are_listed_when_asked_and_remembered_briefly(
    api: tuple[FakeAPI, str],
) -> None:
    fake, host = api
    running = {
        "metadata": {"name": "wf", "namespace": "team-a"},
        "spec": {"workflowTemplateRef": {"name": "shared", "clusterScope": True}},
        "status": {"phase": "Running"},
    }
    done = {
        "metadata": {"name": "done", "namespace": "team-a"},
        "spec": {"workflowTemplateRef": {"name": "shared", "clusterScope": True}},
        "status": {"phase": "Succeeded"},
    }
    other = {
        "metadata": {"name": "other", "namespace": "team-a"},
        "spec": {"workflowTemplateRef": {"name": "shared"}},
        "status": {"phase": "Running"},
    }
    fake.lists["workflows"] = [[running, done, other]]
    source = source_for(host)
    source.start()
    source.wait_synced(10)
    assert not any("/workflows?" in call and "watch=true" in call for call in fake.calls)
    assert source.workflows_using(TemplateKey(CLUSTER, "", "shared")) == ["team-a/wf"]
    lists = [call for call in fake.calls if call.split("?")[0].endswith("/workflows")]
    assert len(lists) == 1 and "labelSelector=workflows.argoproj.io" in lists[0]
    source.workflows_using(TemplateKey(CLUSTER, "", "shared"))
    assert len([c for c in fake.calls if c.split("?")[0].endswith("/workflows")]) == 1
    source.close()


def test_a_miss_asks_the_api_server_once_then_remembers_the_absence(
    api: tuple[FakeAPI, str],
) -> None:
    fake, host = api
    path = f"{PREFIX}/namespaces/team-a/workflowtemplates/nope"
    fake.gets[path] = (404, {"kind": "Status", "code": 404, "reason": "NotFound"})
    seen: list[str] = []
    source = source_for(host, seen)
    key = TemplateKey(NAMESPACED, "team-a", "nope")
    assert source.get(key) is None
    assert source.get(key) is None
    assert seen == ["miss", "hit"]
    assert fake.calls.count(path) == 1


def test_a_dry_run_miss_remembers_nothing(api: tuple[FakeAPI, str]) -> None:
    fake, host = api
    path = f"{PREFIX}/namespaces/team-a/workflowtemplates/nope"
    fake.gets[path] = (404, {"kind": "Status", "code": 404})
    source = source_for(host)
    key = TemplateKey(NAMESPACED, "team-a", "nope")
    assert source.for_dry_run().get(key) is None
    assert source.get(key) is None
    assert fake.calls.count(path) == 2


def test_a_miss_answered_with_a_template_returns_it(api: tuple[FakeAPI, str]) -> None:
    fake, host = api
    fake.gets[f"{PREFIX}/clusterworkflowtemplates/shared"] = (200, template("shared", ""))
    found = source_for(host).get(TemplateKey(CLUSTER, "", "shared"))
    assert found is not None and found["metadata"]["name"] == "shared"


def test_a_refused_lookup_raises_naming_the_api_server_and_status(api: tuple[FakeAPI, str]) -> None:
    fake, host = api
    fake.gets[f"{PREFIX}/namespaces/team-a/workflowtemplates/x"] = (
        403,
        {"kind": "Status", "code": 403, "reason": "Forbidden"},
    )
    seen: list[str] = []
    with pytest.raises(
        TemplateLookupError,
        match=rf"API server {host} refused the lookup of "
        r"WorkflowTemplate team-a/x: 403",
    ):
        source_for(host, seen).get(TemplateKey(NAMESPACED, "team-a", "x"))
    assert seen == ["miss", "error"]


def test_an_unreachable_api_server_raises_within_the_lookup_timeout() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(TemplateLookupError, match=rf"API server {host} unreachable"):
            source_for(host, timeout=0.2).get(TemplateKey(NAMESPACED, "team-a", "x"))


def running_workflow(name: str, uid: str, nodes: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team-a", "uid": uid},
        "spec": {"entrypoint": "main"},
        "status": {"phase": "Running", "nodes": nodes},
    }


def test_a_running_workflow_listed_at_start_is_looked_up_without_a_get(
    api: tuple[FakeAPI, str],
) -> None:
    fake, host = api
    fake.lists["workflows"] = [[running_workflow("wf", "u1", {"wf": {"id": "wf"}})]]
    seen: list[str] = []
    source = source_for(host, workflow_cache=10, workflows_seen=seen)
    source.start()
    wait_until(source.workflows_synced)
    found = source.workflow("team-a", "wf")
    assert found is not None and found["status"]["nodes"] == {"wf": {"id": "wf"}}
    assert seen == ["hit"]
    listed = [c for c in fake.calls if c.split("?")[0].endswith("/workflows")]
    assert listed and all("labelSelector=workflows.argoproj.io" in c for c in listed)
    assert not any("/namespaces/team-a/workflows/" in c for c in fake.calls)
    source.close()


def test_a_workflow_the_cache_lacks_costs_one_get_and_fresh_always_gets(
    api: tuple[FakeAPI, str],
) -> None:
    fake, host = api
    fake.lists["workflows"] = [[running_workflow("wf", "u1", {})]]
    path = f"{PREFIX}/namespaces/team-a/workflows/other"
    fake.gets[path] = (200, running_workflow("other", "u2", {}))
    seen: list[str] = []
    source = source_for(host, workflow_cache=10, workflows_seen=seen)
    source.start()
    wait_until(source.workflows_synced)
    assert source.workflow("team-a", "other") is not None
    assert fake.calls.count(path) == 1
    source.workflow("team-a", "wf", fresh=True)
    assert seen == ["miss", "fresh"]
    assert fake.calls.count(f"{PREFIX}/namespaces/team-a/workflows/wf") == 1
    source.close()


def test_with_the_workflow_cache_off_nothing_watches_workflows_and_each_lookup_gets(
    api: tuple[FakeAPI, str],
) -> None:
    fake, host = api
    path = f"{PREFIX}/namespaces/team-a/workflows/wf"
    fake.gets[path] = (200, running_workflow("wf", "u1", {}))
    source = source_for(host, workflow_cache=0)
    source.start()
    assert source.wait_synced(10)
    source.workflow("team-a", "wf")
    source.workflow("team-a", "wf")
    assert fake.calls.count(path) == 2
    assert not any(c.split("?")[0].endswith("/workflows") for c in fake.calls)
    source.close()
