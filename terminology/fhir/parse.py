"""JSON from clients, parsed with a depth limit: FHIR resources nest a few dozen levels at
most, while JSON nested hundreds deep passes the parser and then exhausts the serialiser's
and the engine's recursion. Deeper input is a 400, said before anything reads it."""

from __future__ import annotations

from typing import Any

import orjson

from terminology.errors import InvalidRequest

MAX_DEPTH = 100


def parse_json(data: bytes | str, what: str = "The request body") -> Any:
    """The parsed JSON, or 400 when it is not JSON or nested deeper than MAX_DEPTH."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}") from None
    if depth_over(parsed, MAX_DEPTH):
        raise InvalidRequest(f"{what} is nested more than {MAX_DEPTH} levels deep")
    return parsed


def depth_over(value: Any, limit: int) -> bool:
    """True when arrays and objects nest deeper than `limit` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False
