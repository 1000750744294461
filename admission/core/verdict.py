"""`check`'s core: each manifest admitted as a CREATE, and the verdicts written out.

A manifest takes the server's own path (`webhook.handle`): /mutate first, its patch applied, then
/validate on the mutated object, as the API server calls the webhooks. The verdict keeps what
was decided (allowed, code, the rules broken with their messages, the Secure diff, warnings and
the patch) and where the manifest came from. Writers render a list of verdicts as text, JSON,
YAML or JUnit XML (what CI systems show as test results). Pure; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from xml.etree import ElementTree

import jsonpatch
import yaml

from admission.core.config import Config
from admission.core.decision import Violation
from admission.core.policy.source import TemplateSource
from admission.core.review import make_review
from admission.core.webhook import handle

FORMATS: Final = ("text", "json", "yaml", "junit")


@dataclass(frozen=True)
class Verdict:
    """How one manifest fares as a CREATE."""

    kind: str
    namespace: str
    """The namespace it would be created in ("" for a ClusterWorkflowTemplate)."""
    name: str
    """metadata.name, or metadata.generateName when it has no name."""
    file: str
    allowed: bool
    code: int
    """200 admitted, 403 refused by a rule, 400/500 could not be evaluated."""
    violations: tuple[Violation, ...] = ()
    diff: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    patch: tuple[Mapping[str, Any], ...] = ()

    @property
    def rules(self) -> list[str]:
        """The rules broken, each once, in the order found."""
        return list(dict.fromkeys(v.rule for v in self.violations))

    @property
    def messages(self) -> list[str]:
        """One line per broken rule (`[rule] reason: detail`), then the diff lines."""
        return [v.message() for v in self.violations] + [f"  {line}" for line in self.diff]

    @property
    def title(self) -> str:
        """`Kind namespace/name`, or `Kind name` for a cluster-scoped template."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def judge(
    obj: Mapping[str, Any],
    *,
    config: Config,
    templates: TemplateSource,
    namespace: str,
    file: str = "",
) -> Verdict:
    """Admit `obj` as a CREATE through /mutate then /validate, as the API server would."""
    review = make_review(obj, namespace=namespace)
    mutated = handle(review, endpoint="mutate", config=config, templates=templates)
    warnings = list(mutated.decision.warnings) if mutated.decision else []
    patch = tuple(mutated.decision.patch) if mutated.decision else ()
    if patch:
        obj = jsonpatch.apply_patch(dict(obj), [dict(op) for op in patch])
        review = make_review(obj, namespace=namespace)
    validated = handle(review, endpoint="validate", config=config, templates=templates)
    request, decision = validated.request, validated.decision
    if request is None or decision is None:  # e.g. a metadata.name that is not a string
        problem = Violation("request", str(validated.body.get("message", "malformed object")))
        return Verdict(str(obj.get("kind", "")), namespace, "", file, False, 400, (problem,))
    return Verdict(
        kind=request.kind,
        namespace=request.namespace,
        name=request.name,
        file=file,
        allowed=decision.allowed,
        code=decision.code if not decision.allowed else 200,
        violations=decision.violations,
        diff=decision.diff,
        warnings=(*warnings, *decision.warnings),
        patch=patch,
    )


# --- writers --------------------------------------------------------------------------------


def as_dict(verdict: Verdict) -> dict[str, Any]:
    """One verdict as the JSON/YAML writers give it."""
    return {
        "kind": verdict.kind,
        "namespace": verdict.namespace,
        "name": verdict.name,
        "file": verdict.file,
        "allowed": verdict.allowed,
        "code": verdict.code,
        "rules": verdict.rules,
        "paths": list(dict.fromkeys(v.path for v in verdict.violations if v.path)),
        "messages": [v.message() for v in verdict.violations],
        "diff": list(verdict.diff),
        "warnings": list(verdict.warnings),
        "patch": [dict(op) for op in verdict.patch],
    }


def write_text(verdicts: Sequence[Verdict], *, show_patch: bool = False) -> str:
    """A line per manifest (ADMIT/DENY, what, where), its reasons beneath, and a count."""
    lines: list[str] = []
    for verdict in verdicts:
        lines.append(f"{'ADMIT' if verdict.allowed else 'DENY '} {verdict.title} ({verdict.file})")
        lines += [f"    warning: {w}" for w in verdict.warnings]
        if verdict.patch:
            lines.append(f"    mutated: {len(verdict.patch)} patch operation(s)")
            if show_patch:
                lines += [f"      {json.dumps(op, sort_keys=True)}" for op in verdict.patch]
        shown = set(verdict.warnings)  # warn mode repeats the violations as warnings
        lines += [f"    {m}" for m in verdict.messages if m not in shown]
    denied = sum(not v.allowed for v in verdicts)
    lines.append(f"{len(verdicts) - denied} admitted, {denied} denied")
    return "\n".join(lines) + "\n"


def write_json(verdicts: Sequence[Verdict], *, show_patch: bool = False) -> str:
    """A JSON list, one object per manifest (see as_dict)."""
    return json.dumps([as_dict(v) for v in verdicts], indent=2) + "\n"


def write_yaml(verdicts: Sequence[Verdict], *, show_patch: bool = False) -> str:
    """The JSON writer's list as YAML."""
    return yaml.safe_dump([as_dict(v) for v in verdicts], sort_keys=False, width=1000)


def write_junit(verdicts: Sequence[Verdict], *, show_patch: bool = False) -> str:
    """JUnit XML: a test case per manifest; a denial is a failure, an unevaluable one an error."""
    failures = sum(not v.allowed and v.code == 403 for v in verdicts)
    errors = sum(not v.allowed and v.code != 403 for v in verdicts)
    suites = ElementTree.Element("testsuites", name="argo-admission check")
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="argo-admission check",
        tests=str(len(verdicts)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
    )
    for verdict in verdicts:
        case = ElementTree.SubElement(suite, "testcase", classname=verdict.file, name=verdict.title)
        if not verdict.allowed:
            tag = "failure" if verdict.code == 403 else "error"
            first = verdict.messages[0] if verdict.messages else f"refused with code {verdict.code}"
            element = ElementTree.SubElement(
                case, tag, message=first, type=",".join(verdict.rules) or "error"
            )
            element.text = "\n".join(verdict.messages)
        if verdict.warnings or (show_patch and verdict.patch):
            out = [f"warning: {w}" for w in verdict.warnings]
            out += [json.dumps(op, sort_keys=True) for op in verdict.patch] if show_patch else []
            ElementTree.SubElement(case, "system-out").text = "\n".join(out)
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


WRITERS: Final[dict[str, Callable[..., str]]] = {
    "text": write_text,
    "json": write_json,
    "yaml": write_yaml,
    "junit": write_junit,
}
