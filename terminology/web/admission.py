"""Cheap requests are never queued behind expensive ones.

Every request runs under the time budget (terminology.budget, set per request here).
Requests whose cost grows with the data — expansions (except GET pages of at most 100, which
a search or a type-ahead asks for and the time budget bounds), CodeSystem reads with their
concepts, batch validation, Bundle validation — also need one of a few "heavy" slots, fewer than the
worker's threads, so threads stay free for `$lookup` and `$validate-code`. A heavy request
that finds every slot taken answers 503 with Retry-After at once (waiting would hold a thread
the queue behind it needs). The gate is WSGI
middleware in front of Flask, so a refusal costs microseconds: fifty clients retrying at once
do not queue a cheap request behind fifty full Flask requests. A slot is held until the
server has taken the answer's last chunk (or closed it), not only until it is computed:
writing 21 MB to a slow reader holds a thread as surely as building it. Then the memory the
request freed is given back.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson
from flask import Flask, g

from terminology import budget, heap
from terminology.fhir.render import operation_outcome
from terminology.numbers import is_digits
from terminology.web.wsgi import ClosingBody

_HEAVY_OPERATIONS = ("/$expand", "/$batch-validate-code")
_CODESYSTEM_READ = re.compile(r"/fhir/CodeSystem(/[^/$]+)?/?")
_STACK = "tx_budget"


LIGHT_PAGE = 100  # a GET $expand page of at most this many (type-ahead, browsing) is light


def is_heavy(method: str, path: str, query: str) -> bool:
    """Whether a request's cost may grow with the size of a code system."""
    if path.endswith("/$expand") and method == "GET":
        count = first_value(query, "count")
        return not (is_digits(count) and int(count) <= LIGHT_PAGE)
    if path.endswith(_HEAVY_OPERATIONS):
        return True
    if method == "POST" and path.endswith("/Bundle/$validate"):
        return True
    if _CODESYSTEM_READ.fullmatch(path):
        args = parse_qs(query)
        return bool({"false", "data"} & set(args.get("_summary", []))) or any(
            "concept" in value for value in args.get("_elements", []))
    return False


def first_value(query: str, wanted: str) -> str:
    """`parse_qs(query).get(wanted, [""])[0]`, unquoting only names until `wanted` is found
    (parse_qs unquotes every name and value: 7 µs of a 220 µs search)."""
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if not equals or not value:
            continue  # as parse_qs: no value, no parameter
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "))
        if name == wanted:
            return unquote(value.replace("+", " "))
    return ""


class HeavyGate:
    """WSGI middleware admitting at most `slots` heavy requests at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]], slots: int) -> None:
        self.app = app
        self.slots = max(1, slots)
        self.semaphore = threading.BoundedSemaphore(self.slots)
        self.busy_body = orjson.dumps(operation_outcome(
            f"The server is busy with {self.slots} expensive requests; try again in a moment",
            code="throttled"))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if not is_heavy(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                        environ.get("QUERY_STRING", "")):
            return self.app(environ, start_response)
        if not self.semaphore.acquire(blocking=False):
            start_response("503 Service Unavailable", [
                ("Content-Type", "application/fhir+json"), ("Retry-After", "1"),
                ("Content-Length", str(len(self.busy_body)))])
            return [self.busy_body]
        try:
            return ClosingBody(self.app(environ, start_response), self._finished)
        except BaseException:
            self._finished()
            raise

    def _finished(self) -> None:
        """The slot released, and what the request freed given back to the system (about 1 ms
        after its answer was sent): an expansion or a code system written out frees 5-13 MB
        that malloc would otherwise keep, so that the next one's peak starts higher."""
        self.semaphore.release()
        heap.release_freed_memory()


def install(app: Flask, heavy_slots: int, seconds: float) -> None:
    """The time budget on every request, and the gate in front of the app."""

    @app.before_request
    def start_budget() -> None:
        stack = ExitStack()
        stack.enter_context(budget.started(seconds))
        setattr(g, _STACK, stack)

    @app.teardown_request
    def end_budget(_error: BaseException | None) -> None:
        stack: ExitStack | None = g.pop(_STACK, None)
        if stack is not None:
            stack.close()

    gate = HeavyGate(app.wsgi_app, heavy_slots)
    app.wsgi_app = gate  # type: ignore[method-assign]
    app.extensions["admission"] = gate
