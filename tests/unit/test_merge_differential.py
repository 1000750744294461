"""Differential tests: random specs joined by us and by Argo's own Go code (tests/oracle).

Hypothesis draws Workflow, template and workflowDefaults specs from the fields whose merge rules
differ (keyed lists, replaced lists, maps, hooks, labelsFrom, metrics, suspend, nulls) and the
values Go writes in another spelling (Quantities in resources and volumes, AnyString parameters
and step arguments, IntOrStrings), and checks that both joins agree: the same spec, values
spelled as Go writes them, or both refuse. MERGE_EXAMPLES sets the number of cases.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admission.core.merge import (
    DEFAULT_OVERRIDE_ALLOWLIST,
    MergeError,
    join_workflow_spec,
    override_violations,
    overrides_message,
    sanitize_user_spec,
)
from support import MergeOracle, assert_same

EXAMPLES = int(os.environ.get("MERGE_EXAMPLES", "1000"))
names = st.sampled_from(["a", "b", "c"])
words = st.sampled_from(["x", "y", "alpine:3.19", "evil:latest", ""])


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def keyed(element: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(element, max_size=3)


# Numbers as a client may send them: ints beyond int64, floats with exponents, -0.0.
numbers = st.one_of(
    st.integers(-10, 10),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, 1.5, 0.1, 1e21, 1e-7, 100.0, -0.0, 2.0**53 + 1]),
)
# AnyString: Go writes numbers and booleans as text, objects and arrays as "".
any_strings = st.one_of(words, numbers, st.booleans(), st.just({}), st.just([1]))
# Quantity: spellings Go rewrites, spellings it keeps, numbers, and a few it cannot read.
quantities = st.one_of(
    st.sampled_from(
        [
            *("1", "0.5", "500m", "1024Mi", "1Gi", "1.5Gi", "100m", "0.1", "1e3", "+1", "01"),
            *("5.", "1000E", "0", "8Ei", "1e-10", " 2 ", "0.5Ki", "1.Ki", "12e-3", "-1.5"),
        ]
    ),
    st.from_regex(
        r"[+-]?[0-9]{0,4}(\.[0-9]{0,3})?(m|k|M|G|T|n|u|E|Ki|Mi|Gi|Ti|e[+-]?[0-9]{1,2})?",
        fullmatch=True,
    ).filter(lambda text: any(c.isdigit() for c in text)),
    numbers,
    st.sampled_from(["abc", "1x", True, "1e", {}]),
)
resource_names = st.sampled_from(["cpu", "memory", "ephemeral-storage"])
resource_list = st.dictionaries(resource_names, st.one_of(quantities, st.none()), max_size=2)
resources = st.fixed_dictionaries({}, optional={"limits": resource_list, "requests": resource_list})
# IntOrString: an int32 or a string; a fraction, a boolean or a huge number Go cannot read.
int_or_strings = st.one_of(
    words, st.integers(-5, 5), st.sampled_from([3.0, 1.5, 2**31, True, "{{inputs.n}}"])
)

parameter = st.fixed_dictionaries(
    {"name": names},
    optional={
        "value": st.one_of(words, st.integers(0, 9), st.booleans(), st.none(), any_strings),
        "default": any_strings,
        "description": any_strings,
        "valueFrom": st.fixed_dictionaries(
            {"configMapKeyRef": st.fixed_dictionaries({"name": words, "key": names})},
            optional={"default": any_strings},
        ),
        "enum": st.lists(st.one_of(any_strings, st.none()), max_size=2),
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
        "resources": st.one_of(st.just({}), resources),
    },
)
step_arguments = st.fixed_dictionaries(
    {},
    optional={
        "parameters": st.lists(
            st.fixed_dictionaries({"name": names}, optional={"value": any_strings}), max_size=2
        )
    },
)
empty_dir = st.fixed_dictionaries({}, optional={"sizeLimit": st.one_of(quantities, st.none())})
claim_template = st.fixed_dictionaries(
    {"metadata": st.fixed_dictionaries({"name": names})},
    optional={
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "accessModes": st.just(["ReadWriteOnce"]),
                "resources": st.fixed_dictionaries(
                    {}, optional={"requests": st.fixed_dictionaries({"storage": quantities})}
                ),
            },
        )
    },
)
retry_strategy = st.fixed_dictionaries(
    {},
    optional={
        "limit": st.one_of(words, int_or_strings),
        "backoff": st.fixed_dictionaries({}, optional={"factor": int_or_strings}),
    },
)
template = st.fixed_dictionaries(
    {"name": names},
    optional={
        "container": container,
        "script": st.fixed_dictionaries(
            {"source": words}, optional={"image": words, "resources": resources}
        ),
        "sidecars": keyed(
            st.fixed_dictionaries(
                {"name": names}, optional={"image": words, "resources": resources}
            )
        ),
        "initContainers": keyed(
            st.fixed_dictionaries({"name": names}, optional={"resources": resources})
        ),
        "volumes": keyed(st.fixed_dictionaries({"name": names}, optional={"emptyDir": empty_dir})),
        "outputs": st.fixed_dictionaries(
            {},
            optional={
                "artifacts": keyed(st.fixed_dictionaries({"name": names}, optional={"path": words}))
            },
        ),
        "suspend": st.just({}),
        "retryStrategy": retry_strategy,
        "activeDeadlineSeconds": int_or_strings,
        "inputs": st.fixed_dictionaries({}, optional={"parameters": keyed(parameter)}),
        "dag": st.fixed_dictionaries(
            {
                "tasks": keyed(
                    st.fixed_dictionaries(
                        {"name": names},
                        optional={
                            "template": names,
                            "dependencies": st.lists(names, max_size=2),
                            "arguments": step_arguments,
                        },
                    )
                )
            }
        ),
        "steps": st.lists(
            st.lists(
                st.fixed_dictionaries(
                    {"name": names, "template": names},
                    optional={
                        "arguments": step_arguments,
                        "withSequence": st.fixed_dictionaries(
                            {}, optional={"count": int_or_strings}
                        ),
                    },
                ),
                min_size=1,
                max_size=2,
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
                    "emptyDir": empty_dir,
                    "configMap": st.fixed_dictionaries({"name": words}),
                    "ephemeral": st.fixed_dictionaries({"volumeClaimTemplate": claim_template}),
                },
            )
        ),
        "volumeClaimTemplates": st.lists(claim_template, max_size=2),
        "retryStrategy": retry_strategy,
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
        "hooks": st.dictionaries(
            names,
            st.fixed_dictionaries({"template": names}, optional={"arguments": step_arguments}),
            max_size=2,
        ),
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
    try:
        if sanitize:
            user = sanitize_user_spec(user, DEFAULT_OVERRIDE_ALLOWLIST)
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
    if answer.get("error", "").startswith("workflow: "):
        return  # Go cannot read the spec (a value of the wrong type): the join test's ground
    fields = override_violations(user, DEFAULT_OVERRIDE_ALLOWLIST)
    assert answer.get("error", "") == (overrides_message(fields) if fields else "")
