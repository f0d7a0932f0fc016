"""The read operations clients send all day, answered before Flask: `$lookup` and
`$validate-code` (CodeSystem and ValueSet) and `$expand` at the type level, as a GET or as a
POSTed Parameters resource.

Flask's request context, routing, hooks and Response object cost about 100 µs a request here,
as much as the terminology work itself. This WSGI layer, inside the HTTP cache (a repeated GET
is answered there, web/http_cache.py) and the heavy-work gate (web/admission.py), answers those
requests with the same functions the Flask views call (web/api.py `*_answer`), the same checks
of Accept and `_format`, the same store-generation pin and time budget, and the same error
answers (a refusal that follows from the request alone marked for the cache to keep). Any
other request (a form, HEAD, a resource id in the path, a page) goes on to Flask unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import orjson
from werkzeug.http import HTTP_STATUS_CODES

from terminology import budget
from terminology.errors import TerminologyError
from terminology.fhir import params
from terminology.fhir.render import error_outcome, operation_outcome
from terminology.numbers import is_digits
from terminology.registry import StoreRegistry
from terminology.web import api
from terminology.web.http_cache import KEEPABLE_REFUSAL
from terminology.web.wsgi import WsgiApp

log = logging.getLogger("txserver")
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Answer = Callable[[StoreRegistry, dict[str, list[Any]], Environ], dict[str, Any]]
Found = tuple[int, bytes, list[tuple[str, str]]]  # status, body, more headers

_STATUS_LINES: dict[int, str] = {}


def status_line(status: int) -> str:
    """The status line Flask's Response sends (`422 UNPROCESSABLE ENTITY`)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = (
            f"{status} {HTTP_STATUS_CODES.get(status, 'unknown').upper()}")
    return line


def query_parameters(query: str) -> dict[str, list[Any]]:
    """The query as werkzeug reads it (request.args: urllib's parse_qsl, blanks kept, bad
    bytes left encoded), each name and short value unquoted once for all requests (the same
    system and url come with every request; parse_qsl takes 10 µs to unquote them again)."""
    flat: dict[str, list[Any]] = {}
    if not query:
        return flat
    for part in query.encode("latin1").decode().split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        flat.setdefault(_unquoted(name), []).append(_unquoted(value) if value else "")
    return flat


def _unquoted(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    return _unquote_short(text) if len(text) <= 200 else _unquote(text)


def _unquote(text: str) -> str:
    return unquote(text.replace("+", " "), encoding="utf-8", errors="werkzeug.url_quote")


_unquote_short = lru_cache(maxsize=4096)(_unquote)


def _check_format(environ: Environ, flat: dict[str, list[Any]]) -> None:
    fmt = flat.get("_format")
    api.check_format(environ.get("HTTP_ACCEPT"), fmt[0] if fmt else None)


def _refusal(error: TerminologyError) -> Found:
    """As server.py's handler of TerminologyError."""
    retry = [("Retry-After", str(error.retry_after))] if error.retry_after is not None else []
    return error.status, orjson.dumps(error_outcome(error)), retry


class HotReads:
    """WSGI middleware answering the hot operations itself (see the module docstring)."""

    def __init__(self, app: WsgiApp, registry: StoreRegistry, seconds: float,
                 config: dict[str, Any]) -> None:
        """`config`: the app's, read at each request as the views do (EXPAND_LIMIT)."""
        self.app = app
        self.registry = registry
        self.seconds = seconds
        self.config = config
        self.answers: dict[str, Answer] = {
            "/fhir/CodeSystem/$lookup": lambda reg, flat, env: api.lookup_answer(
                reg, flat, None),
            "/fhir/CodeSystem/$validate-code": lambda reg, flat, env: api.validate_answer(
                reg, flat, None),
            "/fhir/ValueSet/$validate-code": lambda reg, flat, env: (
                api.valueset_validate_answer(reg, flat, None)),
            "/fhir/ValueSet/$expand": lambda reg, flat, env: api.expand_answer(
                reg, flat, None,
                api.expand_limit(int(config.get("EXPAND_LIMIT", 10000)),
                                 env.get("HTTP_X_TOO_COSTLY_THRESHOLD"))),
        }

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        answer = self.answers.get(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD")
        posted = self._json_length(environ) if method == "POST" else 0
        if answer is None or not (method == "GET" or posted):
            return self.app(environ, start_response)
        started = False
        try:
            with self.registry.snapshot(), budget.started(self.seconds):
                found = self._answer(answer, environ, posted)
                started = True  # still pinned: the headers name this generation, as those
                self._start(start_response, found)  # of an answer from Flask's view do
                return [found[1]]
        except Exception:  # the store could not be read: logged, a 500
            if started:
                raise
            found = self._unexpected(environ)
        self._start(start_response, found)
        return [found[1]]

    @staticmethod
    def _start(start_response: StartResponse, found: Found) -> None:
        status, body, headers = found
        start_response(status_line(status), [
            ("Content-Type", api.FHIR_JSON), ("Content-Length", str(len(body))), *headers])

    def _json_length(self, environ: Environ) -> int:
        """The length of a POSTed Parameters resource this layer reads itself: FHIR JSON with
        a Content-Length within the limit (else 0: a form, chunks, a body over the limit and
        the rest go to Flask, which answers them as web/api.py operation_parameters says)."""
        ctype = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
        length = str(environ.get("CONTENT_LENGTH", ""))
        if ctype not in api.JSON_BODY_TYPES or not is_digits(length):
            return 0
        size = int(length)
        return size if 0 < size <= int(self.config["MAX_CONTENT_LENGTH"]) else 0

    def _answer(self, answer: Answer, environ: Environ, posted: int) -> Found:
        """As web/api.py operation_parameters and the view: the query's parameters, with
        those of a POSTed Parameters body."""
        try:
            flat = query_parameters(environ.get("QUERY_STRING", ""))
            _check_format(environ, flat)
            if posted:
                body = params.parameters_from_json(environ["wsgi.input"].read(posted))
                for name, values in body.items():
                    flat.setdefault(name, []).extend(values)
                flat.pop("_format", None)
            flat = api.with_accept_language(flat, environ.get("HTTP_ACCEPT_LANGUAGE"))
            return 200, orjson.dumps(answer(self.registry, flat, environ)), []
        except TerminologyError as error:
            if not error.depends_on_load:  # the same request gets it again: the cache may keep
                environ[KEEPABLE_REFUSAL] = True
            return _refusal(error)
        except Exception:  # noqa: BLE001 - as server.py's handler: logged, a 500 outcome
            return self._unexpected(environ)

    @staticmethod
    def _unexpected(environ: Environ) -> Found:
        """As server.py's handler of unexpected errors: logged, and a 500 OperationOutcome."""
        log.exception("unexpected error on %s %s", environ.get("REQUEST_METHOD"),
                      environ.get("PATH_INFO"))
        return 500, orjson.dumps(operation_outcome(
            "The server failed to process the request (see its log)", code="exception")), []
