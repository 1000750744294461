"""serve --register-policy as data: what the server writes (stamped policies in a safe order),
how it reads the probe's answer, the webhooks narrowed and widened, and the keeper's order of
steps (widen before another version, narrow only after the probe, delete only after widening).
That the API server decides so is proven in tests/e2e/test_policy_install_e2e.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from admission.core.config import Config, Exemptions
from admission.core.vap import webhook_condition
from admission.core.vapinstall import (
    NARROWING,
    TOKEN_ANNOTATION,
    VERSION_ANNOTATION,
    enforcing_webhooks,
    installed_objects,
    narrowed,
    probe_problem,
    probe_workflow,
    version_check,
    wanted,
    widened,
)
from admission.server.policykeeper import PolicyKeeper

STRICT = Config(template_referencing="Strict")
WITH_EXEMPT = dataclasses.replace(
    STRICT, exemptions=Exemptions(users=frozenset({"system:serviceaccount:argo:argo"}))
)
LIBRARY = ("argo-admission", "argo-admission-library")
OWNER = {"name": "argo-admission", "uid": "1234"}
REFUSED = (
    "ValidatingAdmissionPolicy 'argo-admission' with binding 'argo-admission' denied request: "
)


def objects_of(config: Config, owner: dict[str, Any] | None = OWNER) -> list[dict[str, Any]]:
    return installed_objects(config, name="argo-admission", library=LIBRARY, owner=owner)[0]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (STRICT, True),
        (dataclasses.replace(STRICT, template_referencing="Secure"), True),
        (dataclasses.replace(STRICT, mode="warn"), False),
        (dataclasses.replace(STRICT, mode="audit"), False),
        (Config(), False),
    ],
    ids=["strict", "secure", "warn", "audit", "no-restriction"],
)
def test_the_policy_is_wanted_only_where_it_refuses_something_whole(
    config: Config, expected: bool
) -> None:
    assert wanted(config) is expected


def test_the_narrowing_condition_is_the_one_the_exported_policy_names() -> None:
    condition = webhook_condition(STRICT, library=True)
    assert condition is not None and condition["name"] == NARROWING


def test_the_policy_is_written_before_its_binding() -> None:
    """The binding names the policy: written first, the policy is in place when it is seen."""
    order = [(o["kind"], o["metadata"]["name"]) for o in objects_of(WITH_EXEMPT)]
    assert order == [
        ("ValidatingAdmissionPolicy", "argo-admission"),
        ("ValidatingAdmissionPolicyBinding", "argo-admission"),
    ]


def test_every_object_is_stamped_owned_and_labelled() -> None:
    found, version = installed_objects(
        WITH_EXEMPT, name="argo-admission", library=LIBRARY, owner=OWNER
    )
    for obj in found:
        meta = obj["metadata"]
        assert meta["annotations"] == {VERSION_ANNOTATION: version}
        assert meta["labels"] == {"app.kubernetes.io/managed-by": "argo-admission"}
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "name": "argo-admission",
                "uid": "1234",
            }
        ]
    assert all("ownerReferences" not in o["metadata"] for o in objects_of(STRICT, owner=None))


def test_the_policy_checks_the_version_first_and_the_binding_reads_the_index() -> None:
    found, version = installed_objects(
        WITH_EXEMPT, name="argo-admission", library=LIBRARY, owner=None
    )
    policy, binding = found
    assert policy["spec"]["validations"][0] == version_check(version)
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert binding["spec"]["paramRef"]["name"] == LIBRARY[1]
    assert binding["spec"]["validationActions"] == ["Deny"]


def test_the_version_changes_with_the_policy_and_only_with_it() -> None:
    def version(config: Config) -> str:
        return installed_objects(config, name="argo-admission", library=LIBRARY, owner=OWNER)[1]

    assert version(STRICT) == version(dataclasses.replace(STRICT))
    assert version(STRICT) != version(WITH_EXEMPT)
    other_owner = installed_objects(
        STRICT, name="argo-admission", library=LIBRARY, owner={"name": "x", "uid": "9"}
    )[1]
    assert other_owner == version(STRICT)  # the owner is not the policy


def test_the_probe_is_a_workflow_without_a_ref_naming_the_version() -> None:
    probe = probe_workflow("abc", "t1")
    assert probe["kind"] == "Workflow"
    assert "workflowTemplateRef" not in probe["spec"]
    assert probe["metadata"]["annotations"] == {VERSION_ANNOTATION: "abc", TOKEN_ANNOTATION: "t1"}


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (403, 'workflows.argoproj.io "p-1" is forbidden: ' + REFUSED + "[strict] use a ref", ""),
        (201, "", "admitted"),
        (
            403,
            'admission webhook "validate.argo-admission.io" denied the request: [strict] x',
            "not by the policy",
        ),
        (403, 'w "p" is forbidden: ' + REFUSED + "policy version: names another", "another reason"),
        (404, 'namespaces "default" not found', "not by the policy"),
    ],
    ids=[
        "refused-by-this-version",
        "admitted",
        "refused-by-the-webhook",
        "older-version",
        "no-namespace",
    ],
)
def test_only_a_strict_refusal_by_the_policy_proves_it_in_force(
    status: int, message: str, expected: str
) -> None:
    problem = probe_problem("argo-admission", status, message)
    assert (problem == "") if expected == "" else (expected in problem)


CONDITION = {"name": NARROWING, "expression": "true"}
USERS = {"name": "not-an-exempt-user", "expression": "!(request.userInfo.username in ['a'])"}


def configuration(*conditions: dict[str, str]) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": "validate.argo-admission.io",
        "clientConfig": {"service": {"name": "s", "path": "/validate"}},
    }
    advise: dict[str, Any] = {
        "name": "advise.argo-admission.io",
        "clientConfig": {"url": "https://x/validate/warn"},
    }
    if conditions:
        hook["matchConditions"] = [dict(c) for c in conditions]
    return {"kind": "ValidatingWebhookConfiguration", "webhooks": [hook, advise]}


ENFORCING = frozenset({"validate.argo-admission.io"})


def test_narrowing_adds_the_condition_to_the_enforcing_webhook_only_and_keeps_the_others() -> None:
    out = narrowed(configuration(USERS), CONDITION, ENFORCING)
    assert out is not None
    assert [h.get("matchConditions") for h in out["webhooks"]] == [[USERS, CONDITION], None]
    assert narrowed(out, CONDITION, ENFORCING) is None  # already narrowed: nothing to write


def test_a_changed_condition_replaces_the_old_one() -> None:
    newer = {"name": NARROWING, "expression": "false"}
    out = narrowed(configuration(CONDITION), newer, ENFORCING)
    assert out is not None and out["webhooks"][0]["matchConditions"] == [newer]


def test_widening_takes_only_the_narrowing_off() -> None:
    narrow = narrowed(configuration(USERS), CONDITION, ENFORCING)
    assert narrow is not None
    assert widened(narrow, NARROWING) == configuration(USERS)
    assert widened(configuration(USERS), NARROWING) is None


class Installer:
    """Records the keeper's calls; the API server's side as plain fields."""

    name = "argo-admission"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.live: str | None = None
        self.narrow_now = False
        self.answer = (201, "")
        self.tokens: list[str] = []

    def owner_ref(self) -> dict[str, str]:
        return OWNER

    def live_version(self) -> str | None:
        return self.live

    def apply(self, objects: list[dict[str, Any]]) -> int:
        self.calls.append("apply")
        version = objects[0]["metadata"]["annotations"][VERSION_ANNOTATION]
        written, self.live = (0 if version == self.live else len(objects)), version
        return written

    def own_index(self, library: tuple[str, str], owner: dict[str, str]) -> None:
        self.calls.append("own index")

    def disable(self, names: list[str]) -> int:
        self.calls.append(f"disable {' '.join(names)}")
        return len(names)

    def remove(self, names: list[str]) -> int:
        self.calls.append(f"remove {' '.join(names)}" if names else "remove nothing")
        return len(names)

    def is_narrowed(self, condition: dict[str, str]) -> bool:
        return self.narrow_now

    def probe(self, version: str, library: tuple[str, str], token: str) -> tuple[int, str]:
        self.calls.append("probe")
        self.tokens.append(token)
        return self.answer

    def narrow(self, condition: dict[str, str]) -> bool:
        self.calls.append("narrow")
        self.narrow_now = True
        return True

    def widen(self, name: str) -> bool:
        self.calls.append("widen")
        was, self.narrow_now = self.narrow_now, False
        return was


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def keeper_of(installer: Installer, clock: Clock) -> PolicyKeeper:
    return PolicyKeeper(installer, LIBRARY, clock=clock)  # type: ignore[arg-type]


def test_the_webhooks_are_narrowed_only_once_the_probe_is_refused_by_the_policy() -> None:
    installer, clock = Installer(), Clock()
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)  # the API server does not decide with it yet: the probe is admitted
    assert installer.calls == [
        "widen",
        "apply",
        "own index",
        "remove argo-admission-exempt",
        "probe",
    ]
    installer.calls.clear()
    installer.answer = (403, REFUSED + "[strict] no ref")
    keeper.step(STRICT)
    assert installer.calls == ["probe", "narrow"]
    installer.calls.clear()
    keeper.step(STRICT)  # nothing changed, not yet time to look again
    assert installer.calls == []


def test_another_version_widens_the_webhooks_before_it_is_written() -> None:
    installer, clock = Installer(), Clock()
    installer.answer = (403, REFUSED + "[strict] no ref")
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    installer.calls.clear()
    keeper.step(WITH_EXEMPT)
    assert installer.calls == [
        "widen",
        "apply",
        "own index",
        "remove argo-admission-exempt",  # an earlier version's pair, where there is one
        "probe",
        "narrow",
    ]


def test_a_new_term_finding_this_version_in_force_leaves_it_alone() -> None:
    installer, clock = Installer(), Clock()
    installer.answer = (403, REFUSED + "[strict] no ref")
    keeper_of(installer, clock).step(STRICT)
    installer.calls.clear()
    keeper_of(installer, clock).step(STRICT)  # another server takes the Lease
    assert installer.calls == ["apply", "own index", "remove argo-admission-exempt"]


def test_a_widening_by_a_starting_server_is_narrowed_again_at_the_next_look() -> None:
    installer, clock = Installer(), Clock()
    installer.answer = (403, REFUSED + "[strict] no ref")
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    installer.narrow_now = False  # a server registered its un-narrowed configurations
    installer.calls.clear()
    clock.now += 11
    keeper.step(STRICT)
    assert installer.calls == ["apply", "probe", "narrow"]


def test_a_policy_no_longer_wanted_is_turned_off_only_a_grace_period_after_the_widening() -> None:
    """Turned off, not deleted: its bindings match nothing (kubernetes/kubernetes#130887)."""
    installer, clock = Installer(), Clock()
    installer.answer = (403, REFUSED + "[strict] no ref")
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    installer.calls.clear()
    relaxed = dataclasses.replace(STRICT, mode="warn")
    keeper.step(relaxed)
    assert installer.calls == ["widen"]
    clock.now += 1
    keeper.step(relaxed)
    assert installer.calls == ["widen"]
    clock.now += 5
    keeper.step(relaxed)
    keeper.step(relaxed)
    assert installer.calls == ["widen", "disable argo-admission argo-admission-exempt"]


def test_a_failing_api_server_is_retried_without_narrowing() -> None:
    installer, clock = Installer(), Clock()

    def refuse(objects: list[dict[str, Any]]) -> int:
        raise OSError("connection refused")

    installer.apply = refuse  # type: ignore[method-assign]
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    assert "narrow" not in installer.calls and keeper.version is None


def test_a_policy_changed_by_someone_else_is_written_back_and_proven_again() -> None:
    installer, clock = Installer(), Clock()
    installer.answer = (403, REFUSED + "[strict] no ref")
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    installer.live = "edited"
    installer.calls.clear()
    clock.now += 11
    keeper.step(STRICT)
    assert installer.calls == ["apply", "widen", "probe", "narrow"]


def test_register_policy_needs_the_index_and_the_webhooks_it_narrows(tmp_path: Any) -> None:
    from admission.server.options import ServeOptions, start_problem

    hooks = tmp_path / "webhooks.yaml"
    hooks.write_text("kind: MutatingWebhookConfiguration\nmetadata: {name: m}\n")
    base = ServeOptions(kubeconfig="kubeconfig", register_policy=True)
    assert "needs --library-configmap" in start_problem(base)
    with_index = dataclasses.replace(base, library_configmap="argo-admission/library")
    assert "needs --register-webhooks" in start_problem(with_index)
    mutating_only = dataclasses.replace(with_index, register_webhooks=str(hooks))
    assert "has no validating configuration" in start_problem(mutating_only)
    hooks.write_text("kind: ValidatingWebhookConfiguration\nmetadata: {name: v}\n")
    assert "no webhook in" in start_problem(mutating_only)
    hooks.write_text(yaml.safe_dump({**configuration(), "metadata": {"name": "v"}}))
    assert start_problem(mutating_only) == ""


def test_the_enforcing_webhooks_are_those_calling_validate() -> None:
    found = enforcing_webhooks([configuration(USERS), {"kind": "MutatingWebhookConfiguration"}])
    assert [h["name"] for h in found] == ["validate.argo-admission.io"]


def test_the_policy_is_scoped_to_what_the_enforcing_webhook_is_sent() -> None:
    """Selectors on the bindings, the webhook's conditions beside the policy's own (renamed),
    its narrowing and the chart's exemption conditions (the policy has its own) left out: the
    policy never refuses what the chart keeps from the webhook."""
    selector = {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}
    hook = {
        **configuration(USERS, CONDITION)["webhooks"][0],
        "namespaceSelector": selector,
        "objectSelector": {"matchLabels": {"checked": "yes"}},
    }
    hook["matchConditions"] = [
        *hook["matchConditions"],
        {"name": "team-only", "expression": "request.namespace.startsWith('team-')"},
    ]
    found, version = installed_objects(
        WITH_EXEMPT, name="argo-admission", library=LIBRARY, owner=None, webhook=hook
    )
    assert (
        version
        != installed_objects(WITH_EXEMPT, name="argo-admission", library=LIBRARY, owner=None)[1]
    )
    for obj in found:
        if obj["kind"].endswith("Binding"):
            assert obj["spec"]["matchResources"] == {
                "namespaceSelector": selector,
                "objectSelector": {"matchLabels": {"checked": "yes"}},
            }
        else:
            names = [c["name"] for c in obj["spec"]["matchConditions"]]
            assert names == ["not-plain", "webhook-team-only"]


def test_the_probes_name_one_token_until_the_webhooks_narrow() -> None:
    """The API server reads the index a moment after it is written: a token fresh at each
    probe might never be seen in time."""
    installer, clock = Installer(), Clock()
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    keeper.step(STRICT)
    installer.answer = (403, REFUSED + "[strict] no ref")
    keeper.step(STRICT)
    first, second, third = installer.tokens
    assert first == second == third and first
    installer.narrow_now = False
    clock.now += 11
    keeper.step(STRICT)
    assert installer.tokens[-1] != first  # the next narrowing proves the index afresh


LOST = (422, 'w "p" is forbidden: ' + REFUSED + "failed to configure binding: no params found")


def test_an_index_the_api_server_never_finds_turns_the_policy_off_for_the_term() -> None:
    """For a moment after the index is written the binding may find nothing; past the grace
    period its param informer has stopped (kubernetes/kubernetes#130887), and the policy, which
    then refuses every CREATE, is turned off until the next term."""
    installer, clock = Installer(), Clock()
    installer.answer = LOST
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    clock.now += 29
    keeper.step(STRICT)
    assert not any(c.startswith("disable") for c in installer.calls)
    clock.now += 2
    keeper.step(STRICT)
    assert installer.calls[-1] == "disable argo-admission argo-admission-exempt"
    installer.calls.clear()
    keeper.step(STRICT)
    assert installer.calls == []  # off for this term
    keeper.reset()
    keeper.step(STRICT)
    assert "probe" in installer.calls  # a new term tries again


def test_a_moment_without_the_index_does_not_turn_the_policy_off() -> None:
    installer, clock = Installer(), Clock()
    installer.answer = LOST
    keeper = keeper_of(installer, clock)
    keeper.step(STRICT)
    clock.now += 20
    installer.answer = (201, "")  # found it: the informer caught up
    keeper.step(STRICT)
    clock.now += 20
    installer.answer = LOST
    keeper.step(STRICT)
    assert not any(c.startswith("disable") for c in installer.calls)


def test_a_validating_binding_turned_off_is_written_back_on_when_the_policy_is_wanted_again() -> (
    None
):
    """A wanted binding with no matchResources is not "the same" as the stored one that was
    turned off (INERT), or the policy would stay off."""
    from admission.cluster.policywriter import same
    from admission.core.vapinstall import INERT

    objects, _ = installed_objects(STRICT, name="argo-admission", library=LIBRARY, owner=None)
    binding = next(o for o in objects if o["kind"].endswith("Binding"))
    assert "matchResources" not in binding["spec"]
    stored = {**binding, "spec": {**binding["spec"], "matchResources": INERT}}
    assert not same(binding, stored)
    assert same(binding, {**binding, "spec": {**binding["spec"], "x": 1}})
