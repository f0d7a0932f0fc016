"""ValueSet.compose filters as predicates over one provider's concepts.

Every operator of FHIR R4/R5 (`=`, `is-a`, `descendent-of`, `is-not-a`, `regex`, `in`,
`not-in`, `generalizes`, `child-of`, `descendent-leaf`, `exists`) on the hierarchy (`concept`,
`code`) or on a property. A provider with SpecialFilters may answer a filter itself
(`special_filter(property, op, value)`), or None to fall back to these; the hierarchy filters
use its Hierarchy, and without one a code subsumes only itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

from terminology.errors import InvalidRequest
from terminology.model import Concept
from terminology.provider import CodeSystemProvider, Hierarchy, Predicate, SpecialFilters

HIERARCHY = {"concept", "code"}


def _values(value: str) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()}


def _property_values(concept: Concept, prop: str) -> list[str]:
    out: list[str] = []
    for p in concept.properties:
        if p.code != prop:
            continue
        value = p.value
        if isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, dict):
            out.append(str(value.get("code", "")))
        else:
            out.append(str(value))
    return out


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def compile_regex(value: str, where: str) -> Any:
    """RE2: linear time, so a hostile pattern such as `((a+)+)+` cannot stall the server."""
    try:
        return re2.compile(value, _RE2_OPTIONS)
    except re2.error as exc:
        raise InvalidRequest(f"The regex '{value}' in {where} is not valid or not supported: "
                             f"{exc}", tx_issue_type="vs-invalid", expression=where) from None


def _itself(ancestor: str, code: str) -> bool:
    return ancestor == code


def _no_children(code: str) -> list[str]:
    return []


def predicate(provider: CodeSystemProvider, prop: str, op: str, value: str,
              where: str) -> Predicate:
    if isinstance(provider, SpecialFilters):
        found = provider.special_filter(prop, op, value)
        if found is not None:
            return found
    subsumes: Callable[[str, str], bool] = _itself
    children: Callable[[str], list[str]] = _no_children
    if isinstance(provider, Hierarchy):
        subsumes, children = provider.subsumes, provider.children
    if prop in HIERARCHY:
        if op == "is-a":
            return lambda c: subsumes(value, c.code)
        if op == "descendent-of":
            return lambda c: c.code != value and subsumes(value, c.code)
        if op == "is-not-a":
            return lambda c: not subsumes(value, c.code)
        if op == "generalizes":
            return lambda c: subsumes(c.code, value)
        if op == "child-of":
            below = set(children(value))
            return lambda c: c.code in below
        if op == "descendent-leaf":
            return lambda c: (c.code != value and subsumes(value, c.code)
                              and not children(c.code))
        if op == "=":
            return lambda c: c.code == value
        if op == "in":
            codes = _values(value)
            return lambda c: c.code in codes
        if op == "not-in":
            codes = _values(value)
            return lambda c: c.code not in codes
        if op == "regex":
            pattern = compile_regex(value, where)
            return lambda c: pattern.fullmatch(c.code) is not None
        raise InvalidRequest(f"The filter operator '{op}' cannot be used on '{prop}'",
                             tx_issue_type="vs-invalid", expression=where)
    if prop == "display":
        if op == "=":
            return lambda c: (c.display or "") == value
        if op == "regex":
            pattern = compile_regex(value, where)
            return lambda c: pattern.fullmatch(c.display or "") is not None
    if op == "=":
        return lambda c: value in _property_values(c, prop)
    if op == "in":
        wanted = _values(value)
        return lambda c: bool(wanted.intersection(_property_values(c, prop)))
    if op == "not-in":
        wanted = _values(value)
        return lambda c: not wanted.intersection(_property_values(c, prop))
    if op == "regex":
        pattern = compile_regex(value, where)
        return lambda c: any(pattern.fullmatch(v) for v in _property_values(c, prop))
    if op == "exists":
        want = value.strip().lower() != "false"
        return lambda c: bool(_property_values(c, prop)) == want
    raise InvalidRequest(f"The filter operator '{op}' is not supported on property '{prop}'",
                         tx_issue_type="vs-invalid", expression=where)
