"""Differential tests: random specs joined by us and by Argo's own Go code (tests/oracle).

Hypothesis draws Workflow, template and workflowDefaults specs from the fields whose merge rules
differ (keyed lists, replaced lists, maps, hooks, labelsFrom, metrics, suspend, AnyString
parameters, nulls) and checks that both joins agree: equivalent specs, or both refuse.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_merge import assert_same

from admission.merge import (
    DEFAULT_OVERRIDE_ALLOWLIST,
    MergeError,
    join_workflow_spec,
    override_violations,
    overrides_message,
    sanitize_user_spec,
)
from support import MergeOracle

EXAMPLES = int(os.environ.get("MERGE_EXAMPLES", "1000"))
names = st.sampled_from(["a", "b", "c"])
words = st.sampled_from(["x", "y", "alpine:3.19", "evil:latest", ""])


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def keyed(element: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(element, max_size=3)


parameter = st.fixed_dictionaries(
    {"name": names},
    optional={
        "value": st.one_of(words, st.integers(0, 9), st.booleans(), st.none()),
        "default": words,
        "valueFrom": st.fixed_dictionaries(
            {"configMapKeyRef": st.fixed_dictionaries({"name": words, "key": names})}
        ),
        "enum": st.lists(words, max_size=2),
    },
)
arguments = st.fixed_dictionaries(
    {},
    optional={
        "parameters": keyed(parameter),
        "artifacts": keyed(st.fixed_dictionaries({"name": names}, optional={"path": words})),
    },
)
container = st.fixed_dictionaries(
    {},
    optional={
        "image": words,
        "command": st.lists(words, max_size=2),
        "env": keyed(st.fixed_dictionaries({"name": names}, optional={"value": words})),
        "resources": st.just({}),
    },
)
template = st.fixed_dictionaries(
    {"name": names},
    optional={
        "container": container,
        "script": st.fixed_dictionaries({"source": words}, optional={"image": words}),
        "sidecars": keyed(st.fixed_dictionaries({"name": names}, optional={"image": words})),
        "volumes": keyed(
            st.fixed_dictionaries({"name": names}, optional={"emptyDir": st.just({})})
        ),
        "outputs": st.fixed_dictionaries(
            {},
            optional={
                "artifacts": keyed(st.fixed_dictionaries({"name": names}, optional={"path": words}))
            },
        ),
        "suspend": st.just({}),
        "retryStrategy": st.fixed_dictionaries({}, optional={"limit": words}),
        "inputs": st.fixed_dictionaries({}, optional={"parameters": keyed(parameter)}),
        "dag": st.fixed_dictionaries(
            {
                "tasks": keyed(
                    st.fixed_dictionaries(
                        {"name": names},
                        optional={"template": names, "dependencies": st.lists(names, max_size=2)},
                    )
                )
            }
        ),
        "steps": st.lists(
            st.lists(
                st.fixed_dictionaries({"name": names, "template": names}), min_size=1, max_size=2
            ),
            max_size=2,
        ),
        "metrics": st.fixed_dictionaries(
            {},
            optional={
                "prometheus": st.lists(
                    st.fixed_dictionaries({"name": names, "help": words}), max_size=1
                )
            },
        ),
    },
)
spec = st.fixed_dictionaries(
    {},
    optional={
        "entrypoint": maybe(names),
        "arguments": arguments,
        "templates": keyed(template),
        "volumes": keyed(
            st.fixed_dictionaries(
                {"name": names},
                optional={
                    "emptyDir": st.just({}),
                    "configMap": st.fixed_dictionaries({"name": words}),
                },
            )
        ),
        "tolerations": keyed(st.fixed_dictionaries({"key": names}, optional={"operator": words})),
        "nodeSelector": st.dictionaries(names, words, max_size=2),
        "serviceAccountName": words,
        "ttlStrategy": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "secondsAfterCompletion": st.integers(0, 99),
                    "secondsAfterSuccess": st.integers(0, 9),
                },
            )
        ),
        "podGC": st.fixed_dictionaries({}, optional={"strategy": words}),
        "activeDeadlineSeconds": maybe(st.integers(0, 999)),
        "suspend": maybe(st.booleans()),
        "shutdown": st.sampled_from(["", "Stop", "Terminate"]),
        "priority": st.integers(-3, 3),
        "metrics": st.fixed_dictionaries(
            {},
            optional={
                "prometheus": st.lists(
                    st.fixed_dictionaries({"name": names, "help": words}), max_size=1
                )
            },
        ),
        "workflowMetadata": st.fixed_dictionaries(
            {},
            optional={
                "labels": st.dictionaries(names, words, max_size=2),
                "annotations": st.dictionaries(names, words, max_size=2),
                "labelsFrom": st.dictionaries(
                    names, st.fixed_dictionaries({"expression": words}), max_size=2
                ),
            },
        ),
        "hooks": st.dictionaries(names, st.fixed_dictionaries({"template": names}), max_size=2),
        "securityContext": st.fixed_dictionaries(
            {}, optional={"runAsUser": st.integers(0, 2000), "runAsNonRoot": st.booleans()}
        ),
        "workflowTemplateRef": st.fixed_dictionaries(
            {"name": names}, optional={"clusterScope": st.booleans()}
        ),
        "podSpecPatch": words,
        "templateDefaults": st.fixed_dictionaries(
            {}, optional={"timeout": words, "container": container}
        ),
        "imagePullSecrets": keyed(st.fixed_dictionaries({"name": names})),
        "hostAliases": keyed(
            st.fixed_dictionaries(
                {"ip": names}, optional={"hostnames": st.lists(words, max_size=2)}
            )
        ),
        "workflowMetaData": st.fixed_dictionaries(
            {}, optional={"labels": st.dictionaries(names, words, max_size=2)}
        ),
        "onExit": words,
        "artifactGC": st.fixed_dictionaries(
            {},
            optional={
                "strategy": words,
                "serviceAccountName": words,
                "podSpecPatch": words,
                "forceFinalizerRemoval": st.booleans(),
            },
        ),
    },
)

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _ours(
    user: dict[str, Any],
    tmpl: dict[str, Any] | None,
    defaults: dict[str, Any] | None,
    sanitize: bool,
) -> dict[str, Any]:
    if sanitize:
        user = sanitize_user_spec(user, DEFAULT_OVERRIDE_ALLOWLIST)
    try:
        return {"spec": join_workflow_spec(user, tmpl, defaults)}
    except MergeError as exc:
        return {"error": str(exc)}


@SETTINGS
@given(user=spec, tmpl=maybe(spec), defaults=maybe(spec), sanitize=st.booleans())
def test_join_agrees_with_argo_on_random_specs(
    merge_oracle: MergeOracle,
    user: dict[str, Any],
    tmpl: dict[str, Any] | None,
    defaults: dict[str, Any] | None,
    sanitize: bool,
) -> None:
    """JoinWorkflowSpec(sanitised spec, template, defaults): Argo's spec, or both refuse."""
    answer = merge_oracle.ask(
        op="join", workflow=user, template=tmpl, defaults=defaults, sanitize=sanitize
    )
    if "error" in answer and "cannot unmarshal" in answer["error"]:
        return  # a type Go cannot read at all; the API server's schema refuses such objects
    assert_same(_ours(user, tmpl, defaults, sanitize), answer)


@SETTINGS
@given(user=spec)
def test_override_check_agrees_with_argo(merge_oracle: MergeOracle, user: dict[str, Any]) -> None:
    """ValidateUserOverrides: the same fields refused, in Argo's own words."""
    answer = merge_oracle.ask(op="overrides", workflow=user)
    fields = override_violations(user, DEFAULT_OVERRIDE_ALLOWLIST)
    assert answer.get("error", "") == (overrides_message(fields) if fields else "")
