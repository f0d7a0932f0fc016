"""Headers for browsers: a Content-Security-Policy on the HTML pages, `nosniff` everywhere, a
Referrer-Policy, and CORS for the FHIR API.

The pages load nothing but their own stylesheet (and scripts, should they grow any) from this
server: no inline script, no inline style, no frames, forms posting only here. The referrer
leaves only for this server's own pages: a search URL names the codes looked for.

CORS (FHIR apps running in browsers call the API from their own origin): TX_CORS_ORIGINS is `*`
(the default: any origin), a comma-separated list of origins, or empty for none;
TX_CORS_METHODS the methods allowed (default `GET, HEAD`). Never with credentials (cookies): a
bearer token in `Authorization` is allowed, since it is sent on purpose, never by ambient
authority. Preflight requests are answered here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from terminology.web.wsgi import Environ, Headers, StartResponse, WsgiApp, path_of, respond, under

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
REFERRER_POLICY = "same-origin"
ALLOWED_REQUEST_HEADERS = ("Accept", "Accept-Language", "Content-Type", "Authorization",
                           "If-None-Match", "If-Modified-Since", "Prefer",
                           "X-TOO-COSTLY-THRESHOLD")
EXPOSED_HEADERS = "ETag, Last-Modified, Location, Content-Location, WWW-Authenticate"
PREFLIGHT_MAX_AGE = 600


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    origins: tuple[str, ...] = ("*",)
    methods: tuple[str, ...] = ("GET", "HEAD")

    @classmethod
    def parse(cls, origins: str, methods: str) -> CorsPolicy:
        return cls(tuple(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
                   tuple(m.strip().upper() for m in methods.split(",") if m.strip()))

    def allow_origin(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for `origin`, or None when not allowed."""
        if "*" in self.origins:
            return "*"
        return origin if origin.rstrip("/") in self.origins else None


class BrowserHeaders:
    """WSGI middleware adding the headers above; `api_prefix` is where CORS applies."""

    def __init__(self, app: WsgiApp, cors: CorsPolicy, api_prefix: str = "/fhir") -> None:
        self.app = app
        self.cors = cors
        self.api_prefix = api_prefix

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        cors: Headers = []
        if origin and under(path_of(environ), self.api_prefix):
            allowed = self.cors.allow_origin(origin)
            if allowed is not None:
                cors = [("Access-Control-Allow-Origin", allowed)]
                if allowed != "*":
                    cors.append(("Vary", "Origin"))
                preflight = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
                if environ.get("REQUEST_METHOD") == "OPTIONS" and preflight:
                    return self._preflight(start_response, cors, preflight.upper())
                cors.append(("Access-Control-Expose-Headers", EXPOSED_HEADERS))

        def start(line: str, headers: Headers, exc_info: object = None) -> object:
            added: Headers = [("X-Content-Type-Options", "nosniff")]
            content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
            if content_type.startswith("text/html"):
                added += [("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                          ("Referrer-Policy", REFERRER_POLICY)]
            method_allowed = environ.get("REQUEST_METHOD") in self.cors.methods
            return start_response(line, [*headers, *added, *(cors if method_allowed else [])],
                                  exc_info)

        return self.app(environ, start)

    def _preflight(self, start_response: StartResponse, cors: Headers,
                   method: str) -> list[bytes]:
        if method not in self.cors.methods:  # no CORS headers: the browser refuses
            return respond(start_response, 204, [("X-Content-Type-Options", "nosniff")])
        return respond(start_response, 204, [
            *cors, ("Access-Control-Allow-Methods", ", ".join(self.cors.methods)),
            ("Access-Control-Allow-Headers", ", ".join(ALLOWED_REQUEST_HEADERS)),
            ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE)),
            ("X-Content-Type-Options", "nosniff")])
