"""The access log: one line per request on stderr, in a standard format, whatever the server.

`combined` (the default; Apache's and nginx's "combined": client, user, time, request line with
its query string, status, bytes, referrer, user agent), `common` (the Common Log Format, without
the last two) or `json` (the same fields and the time taken, one object per line); `off` for
none. TX_ACCESS_LOG or `txserver serve --access-log-format` chooses. The client is the
connecting address, or the X-Forwarded-For address a trusted proxy (TX_TRUSTED_PROXIES) names;
the user is the credential's name (web/auth.py) when the request carried one. A bearer token
sent in the query string is written as `REDACTED`, and quotes and control characters are
escaped so that no request can forge a line.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable, Iterable

import orjson

from terminology.web.wsgi import Environ, Headers, StartResponse, WsgiApp

FORMATS = ("combined", "common", "json", "off")
DEFAULT_FORMAT = "combined"
PRINCIPAL = "txserver.principal"  # environ key: the name of the request's credential
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOKEN_IN_QUERY = re.compile(r"(?i)(^|&)(access_token=)[^&]*")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\]')

log = logging.getLogger("txserver.access")


def _sink() -> Callable[[str], None]:
    """Where lines go: through logging when the process has set it up (a root handler, as
    pytest and embedding applications have), else straight to stderr, one write() per line
    (a line is one system call: lines of concurrent requests never interleave, and it costs
    a few microseconds instead of a logging record's tens)."""
    if logging.getLogger().handlers or log.handlers:
        log.setLevel(logging.INFO)
        return log.info
    return lambda line: None if os.write(2, (line + "\n").encode()) else None


def _escape(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@functools.lru_cache(maxsize=4)
def _clf_second(second: int) -> str:
    t = time.gmtime(second)
    return (f"[{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000]")


def _clf_time(moment: float) -> str:
    return _clf_second(int(moment))


def client_address(environ: Environ, trusted: tuple[str, ...]) -> str:
    """The connecting address; behind a trusted proxy, the nearest address it was forwarded
    for that is not itself a trusted proxy."""
    remote = str(environ.get("REMOTE_ADDR") or "-")
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    if remote in trusted and forwarded:
        for address in reversed([a.strip() for a in forwarded.split(",") if a.strip()]):
            if address not in trusted:
                return address
    return remote


def request_target(environ: Environ) -> str:
    path = str(environ.get("PATH_INFO", "") or "/")
    query = str(environ.get("QUERY_STRING", ""))
    if query:
        path += "?" + _TOKEN_IN_QUERY.sub(r"\1\2REDACTED", query)
    return path


class AccessLog:
    """WSGI middleware writing one line per request in `fmt` (one of FORMATS but off)."""

    def __init__(self, app: WsgiApp, fmt: str = DEFAULT_FORMAT,
                 trusted_proxies: tuple[str, ...] = ()) -> None:
        if fmt not in FORMATS or fmt == "off":
            raise ValueError(f"access log format {fmt!r} is not one of "
                             f"{', '.join(f for f in FORMATS if f != 'off')}")
        self.app = app
        self.fmt = fmt
        self.trusted = trusted_proxies
        self.write = _sink()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.time()
        seen: dict[str, str] = {"status": "500", "length": "-"}

        def start(line: str, headers: Headers, exc_info: object = None) -> object:
            seen["status"] = line[:3]
            seen["length"] = next((v for k, v in headers if k.lower() == "content-length"), "-")
            return start_response(line, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            self.write(self.line(environ, seen["status"], seen["length"], started))

    def line(self, environ: Environ, status: str, length: str, started: float) -> str:
        client = client_address(environ, self.trusted)
        user = str(environ.get(PRINCIPAL) or "-")
        method = str(environ.get("REQUEST_METHOD", "-"))
        target = request_target(environ)
        protocol = str(environ.get("SERVER_PROTOCOL", "HTTP/1.1"))
        referrer = str(environ.get("HTTP_REFERER", "-"))
        agent = str(environ.get("HTTP_USER_AGENT", "-"))
        if self.fmt == "json":
            return orjson.dumps({
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "client": client, "user": user, "method": method, "target": target,
                "protocol": protocol, "status": int(status),
                "bytes": int(length) if length.isdigit() else None,
                "referrer": referrer, "agent": agent,
                "ms": round((time.time() - started) * 1000, 3)}).decode()
        request_line = _escape(f"{method} {target} {protocol}")
        size = length if length.isdigit() and length != "0" else "-"
        common = (f"{_escape(client)} - {_escape(user)} {_clf_time(started)} "
                  f'"{request_line}" {status} {size}')
        if self.fmt == "common":
            return common
        return f'{common} "{_escape(referrer)}" "{_escape(agent)}"'
