"""serve --register-mutating-policy as data: what the server writes (the exported
MutatingAdmissionPolicy stamped and marking its probe), how it reads the probe's answer, and the
keeper's order of steps (widen before another version, narrow only after the probe, turn the
binding off only after widening). That the API server mutates so is proven in
tests/e2e/test_map_install_e2e.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from admission.core.config import Config, SecurityContextPolicy
from admission.core.mapinstall import (
    NARROWING,
    PROBE_ANNOTATION,
    VERSION_ANNOTATION,
    installed_objects,
    mutating_webhooks,
    probe_mark,
    probe_problem,
    probe_template,
    wanted,
)
from admission.core.mutatingpolicy import webhook_condition
from admission.server.mapkeeper import MapKeeper

BASELINE = SecurityContextPolicy(pod={"runAsNonRoot": True}, container={"privileged": False})
MUTATING = Config(security_context=BASELINE)
OWNER = {"name": "argo-admission", "uid": "1234"}
WEBHOOK = {
    "name": "mutate.argo-admission.io",
    "clientConfig": {"service": {"name": "s", "namespace": "n", "path": "/mutate"}},
    "namespaceSelector": {"matchExpressions": [{"key": "k", "operator": "NotIn", "values": ["x"]}]},
    "matchConditions": [
        {"name": "not-an-exempt-user", "expression": "true"},
        {"name": "something-to-mutate", "expression": "true"},
    ],
}


def objects_of(config: Config, webhook: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return installed_objects(config, name="argo-admission", owner=OWNER, webhook=webhook)[0]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (MUTATING, True),
        (dataclasses.replace(MUTATING, mode="warn"), False),
        (dataclasses.replace(MUTATING, mode="audit"), False),
        (Config(security_context=dataclasses.replace(BASELINE, mode="require")), False),
        (Config(), False),
    ],
    ids=["baseline", "warn", "audit", "required-not-mutated", "no-baseline"],
)
def test_the_policy_is_wanted_only_where_it_has_a_baseline_to_fill_in(
    config: Config, expected: bool
) -> None:
    assert wanted(config) is expected


def test_the_narrowing_condition_is_the_one_the_exported_policy_names() -> None:
    condition = webhook_condition(MUTATING)
    assert condition is not None and condition["name"] == NARROWING


def test_the_policy_comes_before_its_binding_and_both_are_stamped_owned_and_labelled() -> None:
    objects = objects_of(MUTATING)
    assert [o["kind"] for o in objects] == [
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    ]
    version = installed_objects(MUTATING, name="argo-admission", owner=None)[1]
    for obj in objects:
        meta = obj["metadata"]
        assert meta["annotations"] == {VERSION_ANNOTATION: version}
        assert meta["labels"] == {"app.kubernetes.io/managed-by": "argo-admission"}
        assert meta["ownerReferences"][0]["uid"] == "1234"


def test_the_last_mutation_marks_the_probe_with_the_version() -> None:
    objects, version = installed_objects(MUTATING, name="argo-admission", owner=None)
    mutations = objects[0]["spec"]["mutations"]
    assert mutations[-1] == probe_mark(version)
    assert len(mutations) == 2  # the baseline first, then the mark
    assert f"'{version}'" in mutations[-1]["jsonPatch"]["expression"]
    assert PROBE_ANNOTATION in mutations[-1]["jsonPatch"]["expression"]


def test_the_version_changes_with_the_policy_and_only_with_it() -> None:
    def version(config: Config) -> str:
        return installed_objects(config, name="argo-admission", owner=None)[1]

    assert version(MUTATING) == version(Config(security_context=BASELINE))
    other = SecurityContextPolicy(pod={"runAsNonRoot": True}, container={"privileged": True})
    assert version(MUTATING) != version(Config(security_context=other))
    assert version(MUTATING) == installed_objects(MUTATING, name="argo-admission", owner=OWNER)[1]


def test_the_policy_is_scoped_to_what_the_mutating_webhook_is_sent() -> None:
    policy, binding = objects_of(MUTATING, WEBHOOK)
    assert binding["spec"]["matchResources"] == {"namespaceSelector": WEBHOOK["namespaceSelector"]}
    names = [c["name"] for c in policy["spec"]["matchConditions"]]
    assert "webhook-something-to-mutate" in names
    assert "webhook-not-an-exempt-user" not in names  # the policy has its own exemptions


def test_the_probe_is_a_template_carrying_the_probe_annotation() -> None:
    probe = probe_template()
    assert probe["kind"] == "WorkflowTemplate"
    assert probe["metadata"]["annotations"] == {PROBE_ANNOTATION: "true"}
    assert probe["spec"]["templates"][0]["container"]


@pytest.mark.parametrize(
    ("status", "annotations", "expected"),
    [
        (201, {PROBE_ANNOTATION: "true", VERSION_ANNOTATION: "v1"}, ""),
        (201, {PROBE_ANNOTATION: "true"}, "unmarked"),
        (201, {PROBE_ANNOTATION: "true", VERSION_ANNOTATION: "v0"}, "version v0, not v1"),
        (403, {}, "refused (403)"),
    ],
    ids=["marked", "unmarked", "older-version", "refused"],
)
def test_only_a_probe_marked_by_this_version_proves_it_in_force(
    status: int, annotations: dict[str, str], expected: str
) -> None:
    body = {"metadata": {"annotations": annotations}, "message": "no"}
    problem = probe_problem("v1", status, body)
    assert (problem == "") if not expected else (expected in problem)


def test_the_mutating_webhooks_are_those_calling_mutate() -> None:
    advisory = {"name": "other", "clientConfig": {"service": {"path": "/advise"}}}
    configuration = {
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "argo-admission"},
        "webhooks": [WEBHOOK, advisory],
    }
    validating = {"kind": "ValidatingWebhookConfiguration", "metadata": {"name": "v"}}
    assert mutating_webhooks([validating, configuration]) == ("argo-admission", [WEBHOOK])
    assert mutating_webhooks([validating]) == ("", [])


def test_register_mutating_policy_needs_a_mutating_webhook_to_narrow(tmp_path: Any) -> None:
    from admission.server.options import ServeOptions, start_problem

    hooks = tmp_path / "webhooks.yaml"
    base = ServeOptions(kubeconfig="kubeconfig", register_mutating_policy=True)
    assert "needs --register-webhooks" in start_problem(base)
    given = dataclasses.replace(base, register_webhooks=str(hooks))
    hooks.write_text("kind: ValidatingWebhookConfiguration\nmetadata: {name: v}\n")
    assert "has no mutating configuration" in start_problem(given)
    hooks.write_text("kind: MutatingWebhookConfiguration\nmetadata: {name: m}\n")
    assert "no webhook in" in start_problem(given)
    body = {"kind": "MutatingWebhookConfiguration", "metadata": {"name": "m"}}
    hooks.write_text(yaml.safe_dump({**body, "webhooks": [WEBHOOK]}))
    assert start_problem(given) == ""


class Installer:
    """Records the keeper's calls; the API server's side as plain fields."""

    name = "argo-admission"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.live: str | None = None
        self.narrow_now = False
        self.mark: str | None = None  # the version the API server marks probes with

    def owner_ref(self) -> dict[str, str]:
        return OWNER

    def live_version(self) -> str | None:
        return self.live

    def apply(self, objects: list[dict[str, Any]]) -> int:
        self.calls.append("apply")
        version = objects[0]["metadata"]["annotations"][VERSION_ANNOTATION]
        written, self.live = (0 if version == self.live else len(objects)), version
        return written

    def probe(self) -> tuple[int, dict[str, Any]]:
        self.calls.append("probe")
        marks = {VERSION_ANNOTATION: self.mark} if self.mark else {}
        return 201, {"metadata": {"annotations": {PROBE_ANNOTATION: "true", **marks}}}

    def is_narrowed(self, condition: dict[str, str]) -> bool:
        return self.narrow_now

    def narrow(self, condition: dict[str, str]) -> bool:
        self.calls.append("narrow")
        self.narrow_now = True
        return True

    def widen(self, name: str) -> bool:
        self.calls.append("widen")
        was, self.narrow_now = self.narrow_now, False
        return was

    def disable(self) -> bool:
        self.calls.append("disable")
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def keeper_of(installer: Installer, clock: Clock) -> MapKeeper:
    return MapKeeper(installer, clock=clock)  # type: ignore[arg-type]


def version_of(config: Config) -> str:
    return installed_objects(config, name="argo-admission", owner=OWNER)[1]


def test_the_webhook_is_narrowed_only_once_the_probe_comes_back_marked_by_this_version() -> None:
    installer, clock = Installer(), Clock()
    keeper = keeper_of(installer, clock)
    keeper.step(MUTATING)  # the API server does not mutate with it yet: the probe is unmarked
    assert installer.calls == ["widen", "apply", "probe"]
    installer.calls.clear()
    installer.mark = version_of(MUTATING)
    keeper.step(MUTATING)
    assert installer.calls == ["probe", "narrow"]
    installer.calls.clear()
    keeper.step(MUTATING)  # nothing changed, not yet time to look again
    assert installer.calls == []


def test_another_version_widens_the_webhook_before_it_is_written() -> None:
    installer, clock = Installer(), Clock()
    installer.mark = version_of(MUTATING)
    keeper = keeper_of(installer, clock)
    keeper.step(MUTATING)
    assert installer.narrow_now
    installer.calls.clear()
    other = Config(security_context=dataclasses.replace(BASELINE, container={"privileged": True}))
    keeper.step(other)  # the API server still marks with the old version: stays wide
    assert installer.calls == ["widen", "apply", "probe"]
    assert not installer.narrow_now
    installer.calls.clear()
    installer.mark = version_of(other)
    keeper.step(other)
    assert installer.calls == ["probe", "narrow"]


def test_a_widening_by_a_starting_server_is_narrowed_again_at_the_next_look() -> None:
    installer, clock = Installer(), Clock()
    installer.mark = version_of(MUTATING)
    keeper = keeper_of(installer, clock)
    keeper.step(MUTATING)
    installer.narrow_now, clock.now = False, clock.now + 10  # re-registered un-narrowed
    installer.calls.clear()
    keeper.step(MUTATING)
    assert installer.calls == ["apply", "probe", "narrow"]


def test_a_policy_no_longer_wanted_is_turned_off_only_a_grace_period_after_the_widening() -> None:
    installer, clock = Installer(), Clock()
    installer.mark = version_of(MUTATING)
    keeper = keeper_of(installer, clock)
    keeper.step(MUTATING)
    installer.calls.clear()
    warn = dataclasses.replace(MUTATING, mode="warn")
    keeper.step(warn)
    assert installer.calls == ["widen"]
    clock.now += 1
    keeper.step(warn)
    assert installer.calls == ["widen"]  # still within the grace period
    clock.now += 5
    keeper.step(warn)
    keeper.step(warn)
    assert installer.calls == ["widen", "disable"]  # once
    installer.calls.clear()
    keeper.step(MUTATING)  # wanted again: written back on (a new version for the keeper)
    assert installer.calls[:2] == ["apply", "probe"]


def test_a_failing_api_server_is_retried_without_narrowing() -> None:
    installer, clock = Installer(), Clock()
    installer.mark = version_of(MUTATING)

    def refuse() -> tuple[int, dict[str, Any]]:
        raise OSError("connection refused")

    installer.probe = refuse  # type: ignore[method-assign]
    keeper = keeper_of(installer, clock)
    keeper.step(MUTATING)
    assert not installer.narrow_now and keeper.version is None


def test_a_binding_turned_off_is_written_back_on_when_the_policy_is_wanted_again() -> None:
    from admission.cluster.policywriter import same as _same
    from admission.core.vapinstall import INERT

    binding = objects_of(MUTATING)[1]
    stored = {**binding, "spec": {**binding["spec"], "matchResources": INERT}}
    assert not _same(binding, stored)
    assert _same(binding, {**binding, "spec": {**binding["spec"], "matchPolicy": "Equivalent"}})
