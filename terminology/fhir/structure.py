"""Whether an inline resource has the JSON shape FHIR gives it, checked against the
fhir.resources models.

Resources arrive inline (`tx-resource`, `valueSet`) and the engine reads them as plain dicts,
so each is checked first: a wrong JSON type anywhere (`"concept": false`, `"url": ["x"]`, a
string where an object belongs) answers 400 with the element's location
(`CodeSystem.concept[0].code`), never a crash deep inside an operation. Only the shape is
enforced here; what tx.fhir.org accepts and reports in its own words (a missing status or
filter value, an unknown element, an id pattern) is left to the operations, as there. Checks are
kept by the resource's digest: clients send the same inline resources over and over.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import orjson

from terminology.errors import each_model_errors

CHECKED_KINDS = ("CodeSystem", "ValueSet", "ConceptMap", "NamingSystem")
# pydantic error types that are about content, not shape (see the module docstring)
NOT_SHAPE = {"extra_forbidden", "string_pattern_mismatch", "value_error", "missing",
             "model_field_validation.missing"}


def _location(kind: str, loc: tuple[Any, ...]) -> str:
    path = kind
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _first_problem(kind: str, errors: list[dict[str, Any]]) -> str | None:
    wrong = [e for e in errors if e["type"] not in NOT_SHAPE]
    if not wrong:
        return None
    first = wrong[0]
    message = "the value is not valid JSON for this element" if first["type"] == "json_invalid" \
        else first["msg"]
    return f"{_location(kind, tuple(first['loc']))}: {message}"


PROBLEMS_KEPT = 512  # checks kept, by the resource's digest
_problems: OrderedDict[bytes, str | None] = OrderedDict()
_problems_lock = threading.Lock()


def _kept_problem(resource: dict[str, Any]) -> str | None:
    """`_shape_problem`, kept by the resource's digest alone: a resource kept as the key (an
    inline code system can be megabytes) would let the kept checks hold gigabytes."""
    data = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(data, digest_size=16).digest()
    with _problems_lock:
        if digest in _problems:
            _problems.move_to_end(digest)
            return _problems[digest]
    found = _shape_problem(resource)
    with _problems_lock:
        _problems[digest] = found
        while len(_problems) > PROBLEMS_KEPT:
            _problems.popitem(last=False)
    return found


def _shape_problem(resource: dict[str, Any]) -> str | None:
    """R4's first shape problem, unless R5's models find none (then R5 wrote it). A model
    that finds no shape wrong is enough: R5's are not asked when R4's find only content
    problems (an element R4 lacks, a missing status)."""
    first = None
    for errors in each_model_errors(resource):
        problem = _first_problem(resource["resourceType"], errors)
        if problem is None:
            return None
        first = first or problem
    return first


def _null_element(resource: dict[str, Any]) -> str | None:
    """The location of the first element whose value is null (the models accept a null for an
    optional element, but the engine would meet None where FHIR promises a value or a list)."""
    stack: list[tuple[Any, str]] = [(resource, str(resource.get("resourceType")))]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if item is None:
                    return f"{where}.{key}"
                stack.append((item, f"{where}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value)
                         if isinstance(item, (dict, list)))
    return None


def problem(resource: dict[str, Any]) -> str | None:
    """The first element of `resource` whose JSON type is wrong for FHIR R4 (or R5, for
    resources written in R5), or None. Only the resource types the server reads are checked."""
    if resource.get("resourceType") not in CHECKED_KINDS:
        return None
    null = _null_element(resource)
    if null is not None:
        return f"{null}: null is not a value in FHIR JSON (leave the element out)"
    return _kept_problem(resource)
