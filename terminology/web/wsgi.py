"""What the WSGI layers around the Flask app share: the types, and a whole answer in one call.

The layers (access log, metrics, browser headers, the credential guard, the HTTP cache, the
snapshot dispatcher) are plain WSGI middleware rather than Flask hooks, so that what they answer
themselves (a 304, a cached answer, a 401) costs no routing, no request context and no view.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import orjson

from terminology.fhir.render import operation_outcome

Environ = dict[str, Any]
Headers = list[tuple[str, str]]
FHIR_JSON = "application/fhir+json; charset=utf-8"


class StartResponse(Protocol):
    def __call__(self, status: str, headers: Headers, exc_info: Any = None, /) -> Any: ...


WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
           400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable"}


def status_line(code: int) -> str:
    return f"{code} {REASONS.get(code, 'Unknown')}"


def respond(start_response: StartResponse, code: int, headers: Headers, body: bytes = b"",
            head: bool = False) -> list[bytes]:
    """Start and return a whole answer (`head`: headers only, as HEAD asks)."""
    start_response(status_line(code), [*headers, ("Content-Length", str(len(body)))])
    return [b""] if head else [body]


def outcome(start_response: StartResponse, code: int, text: str, issue_code: str,
            headers: Headers | None = None) -> list[bytes]:
    """An OperationOutcome answer with one error issue."""
    body = orjson.dumps(operation_outcome(text, code=issue_code))
    return respond(start_response, code,
                   [("Content-Type", FHIR_JSON), ("Cache-Control", "no-store"),
                    *(headers or [])], body)


class ClosingBody:
    """An answer's body that calls `on_done` once, as the server takes its last chunk or when
    it closes it (PEP 3333), whichever comes first: what a layer holds for a request (a heavy
    slot, the store snapshot) lasts as long as a streamed answer is being written, and no
    longer. Not until close(), nor until the server asks for a chunk after the last: a client
    that has its whole answer may ask again before then, and must not find its own request
    still holding a slot (the HL7 test runner got 503 so on a loaded machine)."""

    def __init__(self, body: Iterable[bytes], on_done: Callable[[], None]) -> None:
        self.body = body
        self._on_done: Callable[[], None] | None = on_done

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self.body)
        last = next(chunks, None)
        if last is not None:
            for chunk in chunks:  # one chunk ahead, to know which is the last
                yield last
                last = chunk
        self._done()  # the last chunk is in hand: nothing is read for this request after it
        if last is not None:
            yield last

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)  # WSGI: the body may have close()
            if close is not None:
                close()
        finally:
            self._done()

    def _done(self) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done()


def path_of(environ: Environ) -> str:
    return str(environ.get("PATH_INFO", "") or "/")


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


_LOGGING_TO_STDERR: set[str] = set()


def log_to_stderr(logger: logging.Logger, fmt: str = "%(message)s",
                  alone: bool = True) -> None:
    """Send `logger`'s INFO lines to stderr, once per process, unless the process has set up
    logging itself (a root handler: then the lines go there, as everything else does).
    `alone`: not also through the handlers of its parents (`txserver`), in their format."""
    logger.setLevel(logging.INFO)
    if logging.getLogger().handlers or logger.name in _LOGGING_TO_STDERR:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    logger.addHandler(handler)
    logger.propagate = not alone
    _LOGGING_TO_STDERR.add(logger.name)
