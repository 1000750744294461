"""CEL expressions that restate the webhook's rules, for a ValidatingAdmissionPolicy. Pure.

Each builder returns CEL source text. They mirror the Python they name, read the object as the
API server hands it to the policy (a map of maps for Argo's schema-less fields), and guard every
read, so an expression never fails on an odd object: it answers, and the message it writes is
the webhook's own line for the same finding (`[rule] reason: detail`).

Lists are sorted with CEL's `sort()` (ext.Lists v2), which the API server offers to policies from
Kubernetes 1.34's expression environment on; the chart installs the policy from 1.35 on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from admission.core.diff import PRESENCE_KEYS
from admission.core.merge import PLAIN_BOOLS

# How deep `kept` follows nested maps; deeper maps count as written (refused, never admitted).
KEPT_DEPTH: Final = 4


def quote(text: str) -> str:
    """A CEL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def strings(items: Iterable[str]) -> str:
    """A CEL list of string literals."""
    return "[" + ", ".join(quote(item) for item in items) + "]"


def string_map(items: Mapping[str, str]) -> str:
    """A CEL map literal from strings to strings."""
    return "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in items.items()) + "}"


def kept(key: str, value: str, depth: int = 0) -> str:
    """Whether `value` (under map key `key`) survives diff.strip_empty: what was really written.

    null and "" are unset (but for a presence key's ""), false of a plain bool too; maps are
    written when a member is, lists when not empty; numbers and other booleans always.
    """
    presence = f"{key} in variables.presenceKeys"
    if depth >= KEPT_DEPTH:
        nested = f"size({value}) > 0"
    else:
        inner = f"k{depth}"
        nested = f"{value}.exists({inner}, {kept(inner, f'{value}[{inner}]', depth + 1)})"
    return (
        f"({value} == null ? false : "
        f"type({value}) == string ? ({value} != '' || {presence}) : "
        f"type({value}) == bool ? ({value} || !({key} in variables.plainBools) "
        f"|| {presence}) : "
        f"type({value}) == list ? (size({value}) > 0 || {presence}) : "
        f"type({value}) == map ? ({presence} || {nested}) : true)"
    )


def zero(value: str) -> str:
    """Whether `value` is a Go zero value: null, "", 0, false, [] or {} (how Argo's clients
    write a CronWorkflow's status fields, none of which has omitempty)."""
    return (
        f"({blank(value)} || (type({value}) == bool && !{value}) || "
        f"((type({value}) == int || type({value}) == uint || type({value}) == double) && "
        f"{value} == 0))"
    )


def blank(value: str) -> str:
    """Whether `value` is null, "", [] or {} (no member looked at)."""
    return (
        f"({value} == null || (type({value}) == string && {value} == '') || "
        f"((type({value}) == list || type({value}) == map) && size({value}) == 0))"
    )


def constants() -> list[dict[str, str]]:
    """The lists `kept` reads, as policy variables (written once, not at every depth)."""
    return [
        {"name": "presenceKeys", "expression": strings(sorted(PRESENCE_KEYS))},
        {"name": "plainBools", "expression": strings(sorted(PLAIN_BOOLS))},
    ]


def spelling_problems(doc: str, known: str, canonical: str) -> str:
    """The sorted keys of map `doc` that spelling.check_keys refuses ([] for a non-map).

    `known` names a map of the exact field names, `canonical` one from their lower case to
    them (policy variables, built once per request). A key spelled exactly is never the first
    refused: any key of its spelling but for case is a case variant, and sorts before it.
    """
    odd = (
        f"!(k in {known}) && (k.lowerAscii() in {canonical} || "
        f"{doc}.exists(j, j < k && j.lowerAscii() == k.lowerAscii()))"
    )
    return f"(type({doc}) == map ? {doc}.filter(k, {odd}).sort() : [])"


def spelling_message(known: str, canonical: str, where: str, problems: str, doc: str) -> str:
    """The webhook's line for the first key of `problems` (a list from spelling_problems);
    `where` is a CEL string expression, "" at the top level."""
    first = f"{problems}[0]"
    path = first if not where else f"{where} + '.' + {first}"
    earlier = f"{doc}.filter(j, j < {first} && j.lowerAscii() == {first}.lowerAscii()).max()"
    return (
        f"{first}.lowerAscii() in {canonical} ? "
        f'"[spelling] field \'" + {path} + "\' is a case variant of \'" + '
        f"{canonical}[{first}.lowerAscii()] + \"': Argo's Go decoder may read it as that "
        'field; spell it exactly" : '
        f'"[spelling] fields \'" + {earlier} + "\' and \'" + {first} + "\' differ only in '
        'case: a Go reader would take one for the other"'
    )


def true_map(items: Iterable[str]) -> str:
    """A CEL map literal from each item to true: membership in O(1)."""
    return "{" + ", ".join(f"{quote(item)}: true" for item in items) + "}"


def go_repr(value: str) -> str:
    """Python's repr() of a JSON scalar, as the webhook prints it in a detail."""
    return (
        f'(type({value}) == string ? "\'" + {value} + "\'" : '
        f"{value} == null ? 'None' : type({value}) == bool ? ({value} ? 'True' : 'False') : "
        f"type({value}) == int ? string({value}) : type({value}) == double ? string({value}) : "
        "'(a value)')"
    )
