"""Every write Argo's own clients make is admitted, and forgeries of it are not: Argo decides.

For each supported Argo version, tests/shapes.py generates Workflows as the controller leaves
them (and CronWorkflows), tests/userops.py the operations users run on them, and
tests/oracle/ops (`ops-oracle-<version>`, Argo's own Go functions: FormulateRetryWorkflow,
ResumeWorkflow, updateSuspendedNode, patchShutdownStrategy, ...) says what the user's client
sends for each operation Argo allows. Two properties:

(a) the door admits that object as the user's UPDATE (or CREATE);
(b) one field the controller trusts, changed in that object (a node's phase, outputs, startedAt
    or children, a new node, storedTemplates, and the status fields of docs/status-trust.md),
    is refused.

ARGO_ADMISSION_OPERATION_CASES sets the number of operations per version (default 1000; the
hand run of the note used 20000); ARGO_ADMISSION_OPERATION_SEED the generator's seed.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import shapes
import userops
from admission.core import gofields
from admission.core.webhook import handle
from admission.files.policy import load_config
from admission.files.templates import FileTemplateSource
from harness.processes import built
from support import FIXTURES, MergeOracle, make_review, require_binaries

# make test runs the suite per Argo version (ARGO_VERSION, the -m argo tests again for the others)
VERSIONS = (os.environ["ARGO_VERSION"],) if os.environ.get("ARGO_VERSION") else gofields.VERSIONS
CASES = int(os.environ.get("ARGO_ADMISSION_OPERATION_CASES", "1000"))
SEED = int(os.environ.get("ARGO_ADMISSION_OPERATION_SEED", "27"))
CONFIG = load_config(FIXTURES.parent.parent / "policies" / "secure.yaml")
LIBRARY = list(yaml.safe_load_all((FIXTURES / "templates" / "library.yaml").read_text()))
SOURCE = FileTemplateSource(LIBRARY)
ALICE = ("alice", ["team", "system:authenticated"])
pytestmark = pytest.mark.argo


@pytest.fixture(scope="module", params=VERSIONS)
def oracle(request: pytest.FixtureRequest) -> Iterator[MergeOracle]:
    """Argo's client operations at one version; skipped where not built (failed in CI)."""
    binary = built(f"ops-oracle-{request.param}")
    if binary is None:
        message = f"ops-oracle-{request.param} not built: run tests/e2e/setup.sh ops-oracle"
        if require_binaries():
            pytest.fail(message)
        pytest.skip(message)
    pipe = MergeOracle(binary, quiet=True)  # Argo's own log lines
    yield pipe
    pipe.close()


def door(new: dict[str, Any], old: dict[str, Any] | None) -> tuple[bool, str]:
    """The validating webhook's answer to alice's CREATE (old None) or UPDATE.

    A resubmit's object carries its origin under "origin": the live Workflow the door reads.
    """
    source = SOURCE
    if "origin" in new:
        source = FileTemplateSource([*LIBRARY, new["origin"]])
        new = {k: v for k, v in new.items() if k != "origin"}
    review = make_review(
        copy.deepcopy(new),
        namespace="team-a",
        operation="UPDATE" if old is not None else "CREATE",
        old=copy.deepcopy(old),
        username=ALICE[0],
        groups=ALICE[1],
    )
    result = handle(json.dumps(review), endpoint="validate", config=CONFIG, templates=source)
    response = result.body["response"]
    return bool(response["allowed"]), str(response.get("status", {}).get("message", ""))


REFUSALS = 200  # Argo refusing this many requests in a row means the oracle is not answering


def sent(oracle: MergeOracle, request: dict[str, Any]) -> dict[str, Any] | None:
    """The object Argo's client sends for the request, or None where Argo refuses it."""
    answer = oracle.ask(**{k: v for k, v in request.items() if v is not None})
    if "error" in answer:
        assert not answer["error"].startswith("unknown op"), (
            f"{answer['error']}: the ops-oracle is older than tests/oracle/ops "
            "(tests/e2e/setup.sh ops-oracle rebuilds it)"
        )
        return None
    obj: dict[str, Any] = answer["object"]
    return obj


def workflow_cases(oracle: MergeOracle, rng: random.Random) -> Iterator[tuple[str, Any, Any]]:
    """(operation, old, new) for generated Workflows, old as Go wrote it."""
    index = 0
    while True:
        index += 1
        old = sent(oracle, {"op": "roundtrip", "object": shapes.workflow(rng, index)})
        assert old is not None
        large = int(len(json.dumps(old)) * 0.9)  # over MAX_WORKFLOW_SIZE: nodes compressed
        if rng.random() < 0.15:  # as a client's Dehydrate left it
            old = sent(oracle, {"op": "dehydrate", "object": old, "maxWorkflowSize": large}) or old
        for request in userops.operations(rng, old):
            if rng.random() < 0.25:
                request["maxWorkflowSize"] = large
            new = sent(oracle, {**request, "object": old})
            if new is None:
                continue
            if request["op"] == "resubmit":  # a CREATE, judged against its origin
                yield json.dumps(request), None, {**new, "origin": old}
            else:
                yield json.dumps(request), old, new


def submit_cases(oracle: MergeOracle, rng: random.Random) -> Iterator[tuple[str, Any, Any]]:
    """(operation, None, new) for `argo submit` of generated requests: CREATEs."""
    index = refused = 0
    while True:
        index += 1
        request = userops.submission(rng, index)
        cron = request.pop("cron", None)
        templates = [*LIBRARY, *([cron] if cron else [])]
        new = sent(oracle, {**request, "templates": templates})
        refused = 0 if new is not None else refused + 1
        assert refused < REFUSALS, f"Argo refused {REFUSALS} submits in a row, the last {request}"
        if new is not None:  # the API server's codec sets the kind the Go object left empty
            new = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", **new}
            yield json.dumps({k: v for k, v in request.items() if k != "object"}), None, new


def cron_cases(oracle: MergeOracle, rng: random.Random) -> Iterator[tuple[str, Any, Any]]:
    """(operation, old or None, new) for generated CronWorkflows."""
    index = 0
    while True:
        index += 1
        file = shapes.cron_workflow(rng, index, ran=False)
        created = sent(oracle, {"op": "cron-create", "object": file})
        yield "cron create", None, created
        current = sent(
            oracle, {"op": "roundtrip", "object": shapes.cron_workflow(rng, index, ran=True)}
        )
        yield (
            "cron update",
            current,
            sent(oracle, {"op": "cron-update", "object": file, "current": current}),
        )
        op = rng.choice(("cron-suspend", "cron-resume"))
        yield op, current, sent(oracle, {"op": op, "object": current})


def check(label: str, old: Any, new: Any, rng: random.Random, problems: list[str]) -> int:
    """Both properties for one operation's object; returns the forgeries tried."""
    allowed, message = door(new, old)
    if not allowed:
        problems.append(f"(a) {label} on {_name(new)} refused: {message}")
        return 0
    tried = 0
    forgeries = (
        userops.cron_perturbations if new.get("kind") == "CronWorkflow" else userops.perturbations
    )
    for what, forged in forgeries(rng, old or {}, new):
        tried += 1
        if door(forged, old)[0]:
            problems.append(f"(b) {label} on {_name(new)}: forged {what} admitted")
    return tried


def _name(obj: Any) -> str:
    return str((obj or {}).get("metadata", {}).get("name"))


def test_every_operation_argo_allows_is_admitted_and_its_forgeries_are_not(
    oracle: MergeOracle,
) -> None:
    """(a) and (b) on CASES Workflow operations, a quarter as many submits, a tenth as many
    CronWorkflow operations."""
    rng = random.Random(SEED)
    problems: list[str] = []
    done = forged = 0
    by_op: dict[str, int] = {}
    for label, old, new in workflow_cases(oracle, rng):
        forged += check(label, old, new, rng, problems)
        done += 1
        op = json.loads(label)["op"] + (" --memoized" if json.loads(label).get("memoized") else "")
        op += " (compressed nodes)" if (new.get("status") or {}).get("compressedNodes") else ""
        by_op[op] = by_op.get(op, 0) + 1
        if done >= CASES:
            break
    submits = 0
    for label, old, new in submit_cases(oracle, rng):
        forged += check(label, old, new, rng, problems)
        submits += 1
        if submits >= max(CASES // 4, 30):
            break
    crons = 0
    for label, old, new in cron_cases(oracle, rng):
        forged += check(label, old, new, rng, problems)
        crons += 1
        if crons >= max(CASES // 10, 30):
            break
    print(f"{done} Workflow operations {by_op}, {submits} submits, {crons} CronWorkflow ones,")
    print(f"{forged} forgeries")
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:30])
