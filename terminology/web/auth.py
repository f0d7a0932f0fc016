"""Who may do what: bearer tokens for writes (and for reads, when reads are closed).

Credentials, from the configuration:
- static tokens: TX_ADMIN_TOKEN and/or TX_ADMIN_TOKEN_FILE (one token a line, `#` comments)
  may write and read; TX_READ_TOKEN / TX_READ_TOKEN_FILE may only read. Compared in constant
  time, each against every configured token.
- JWT access tokens (SMART Backend Services): signed by a key of the JWKS at TX_JWT_JWKS (a
  file or an https URL), issued by TX_JWT_ISSUER, for TX_JWT_AUDIENCE when set, unexpired, and
  carrying scopes: SMART v1 `system/CodeSystem.write`, `system/*.read`, `system/ValueSet.*`,
  or v2 `system/CodeSystem.cud`, `system/*.rs`.

Reads are open unless a read token is configured. Writes (PUT, POST, DELETE of CodeSystem,
ValueSet and ConceptMap) always need a credential with the scope: none sent is 401 with
`WWW-Authenticate: Bearer`, a bad one 401 `invalid_token`, one without the scope 403
`insufficient_scope`. A token in the query string (`access_token=`) is refused with 400 on any
request, read or write: URLs end up in logs and histories.

The guard is WSGI middleware in front of the HTTP cache, so that no cached answer or 304 ever
reaches a request that may not read; it leaves the credential's name in the environ for the
access log and the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from terminology.web import audit
from terminology.web.access_log import PRINCIPAL
from terminology.web.wsgi import Environ, StartResponse, WsgiApp, outcome, path_of

REALM = "txserver"
WRITABLE = ("CodeSystem", "ValueSet", "ConceptMap")
ACTIONS = {"POST": "create", "PUT": "update", "DELETE": "delete"}
CREDENTIAL = "txserver.credential"  # environ key: the request's Principal
_WRITE_PATH = re.compile(r"^/fhir/(CodeSystem|ValueSet|ConceptMap)(?:/([A-Za-z0-9\-.]{1,64}))?$")
_SMART_V1 = {"read": {"read", "search"}, "write": {"create", "update", "delete"},
             "*": {"read", "search", "create", "update", "delete"}}
_SMART_V2 = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                  "ES512", "EdDSA")


class AuthError(Exception):
    """A refused request: its HTTP status, FHIR issue code and WWW-Authenticate value."""

    def __init__(self, status: int, message: str, issue_code: str, challenge: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.issue_code = issue_code
        self.challenge = challenge


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


def no_credential(message: str) -> AuthError:
    return AuthError(401, message, "login", f'Bearer realm="{REALM}"')


def invalid_token(message: str) -> AuthError:
    return AuthError(401, message, "login", f'Bearer realm="{REALM}", error="invalid_token", '
                                            f'error_description="{_quoted(message)}"')


def insufficient_scope(message: str, scope: str) -> AuthError:
    return AuthError(403, message, "forbidden", f'Bearer realm="{REALM}", '
                                                f'error="insufficient_scope", scope="{scope}"')


def _scope_actions(scope: str) -> tuple[str, set[str]] | None:
    """`system/CodeSystem.write` -> ('CodeSystem', {create, update, delete})."""
    context, _, rest = scope.partition("/")
    kind, _, permission = rest.partition(".")
    if context != "system" or not kind or not permission:
        return None
    permission = permission.split("?", 1)[0]  # SMART v2 parameters narrow; none are honoured
    if permission in _SMART_V1:
        return kind, _SMART_V1[permission]
    if permission and all(p in _SMART_V2 for p in permission):
        return kind, {_SMART_V2[p] for p in permission}
    return None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent the request (a name safe to log, never the token) and their scopes."""

    name: str
    scopes: frozenset[str]

    def allows(self, kind: str, action: str) -> bool:
        for scope in self.scopes:
            parsed = _scope_actions(scope)
            if parsed is not None and parsed[0] in (kind, "*") and action in parsed[1]:
                return True
        return False

    def can_read(self) -> bool:
        return any((p := _scope_actions(s)) is not None and "read" in p[1] for s in self.scopes)


ADMIN_SCOPES = frozenset({"system/*.*"})
READ_SCOPES = frozenset({"system/*.read"})


def read_token_file(path: str | Path) -> list[str]:
    """Tokens one a line; blank lines and `#` comments ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class JwtVerifier:
    """Checks a JWT access token against the issuer's keys (a JWKS file or URL)."""

    def __init__(self, issuer: str, jwks: str, audience: str | None = None,
                 leeway_seconds: int = 30) -> None:
        import jwt

        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self._jwt = jwt
        if jwks.startswith(("https://", "http://")):
            self._client: Any = jwt.PyJWKClient(jwks, cache_keys=True, lifespan=300)
            self._keys: Any = None
        else:
            self._client = None
            self._keys = jwt.PyJWKSet.from_json(Path(jwks).read_text(encoding="utf-8"))

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        kid = self._jwt.get_unverified_header(token).get("kid")
        keys = self._keys.keys
        if kid is None and len(keys) == 1:
            return keys[0].key
        for key in keys:
            if key.key_id == kid:
                return key.key
        raise self._jwt.InvalidTokenError(f"no key {kid!r} in the issuer's JWKS")

    def verify(self, token: str) -> Principal:
        jwt = self._jwt
        try:
            claims = jwt.decode(
                token, self._key(token), algorithms=list(JWT_ALGORITHMS), issuer=self.issuer,
                audience=self.audience, leeway=self.leeway,
                options={"require": ["exp", "iss"], "verify_aud": self.audience is not None})
        except (jwt.PyJWTError, ValueError) as exc:
            raise invalid_token(f"The access token was not accepted: {exc}") from None
        scopes = claims.get("scope", claims.get("scp", ""))
        listed = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes]
        who = claims.get("sub") or claims.get("client_id") or "unknown"
        return Principal(f"jwt:{who}", frozenset(listed))


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:8]


class Authenticator:
    """Turns an Authorization header into a Principal (see the module docstring)."""

    def __init__(self, admin_tokens: Sequence[str] = (), read_tokens: Sequence[str] = (),
                 jwt: JwtVerifier | None = None) -> None:
        self._tokens = [(t.encode(), f"token:{_fingerprint(t)}", ADMIN_SCOPES)
                        for t in admin_tokens if t]
        self._tokens += [(t.encode(), f"read-token:{_fingerprint(t)}", READ_SCOPES)
                         for t in read_tokens if t]
        self.reads_closed = any(t for t in read_tokens)
        self.jwt = jwt

    @property
    def accepts_any(self) -> bool:
        return bool(self._tokens) or self.jwt is not None

    def identify(self, authorization: str | None) -> Principal | None:
        """None without a credential; raises AuthError for one that is not accepted."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise invalid_token("Send the credential as `Authorization: Bearer TOKEN`")
        given = token.encode()
        found: Principal | None = None
        for known, name, scopes in self._tokens:  # every one compared: no early exit
            if hmac.compare_digest(known, given) and found is None:
                found = Principal(name, scopes)
        if found is not None:
            return found
        if self.jwt is not None and token.count(".") == 2:
            return self.jwt.verify(token)
        raise invalid_token("The access token is not one this server accepts")


@dataclass(frozen=True, slots=True)
class Need:
    """What a request needs: `action` on `kind` (None: any read)."""

    kind: str | None
    action: str


def need_of(method: str, path: str, reads_closed: bool) -> Need | None:
    """What the request at `path` needs; None when it is open to anyone."""
    if path in ("/healthz", "/readyz"):
        return None
    match = _WRITE_PATH.match(path)
    if match is not None and method in ACTIONS:
        return Need(match.group(1), ACTIONS[method])
    return Need(None, "read") if reads_closed else None


def token_in_query(query: str) -> bool:
    if "access_token" not in query.lower():  # the common case, without parsing the query
        return False
    return any(name.lower() == "access_token"
               for name, _ in parse_qsl(query, keep_blank_values=True))


class Guard:
    """WSGI middleware: refuses what the request's credential does not allow."""

    def __init__(self, app: WsgiApp, authenticator: Authenticator) -> None:
        self.app = app
        self.auth = authenticator

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            self.check(environ)
        except AuthError as refused:
            method, path = str(environ.get("REQUEST_METHOD", "")), path_of(environ)
            need = need_of(method, path, reads_closed=False)
            if need is not None:  # a write refused: audited like the writes accepted
                audit.record(who=environ.get(PRINCIPAL), client=environ.get("REMOTE_ADDR"),
                             method=method, path=path, kind=need.kind, action=need.action,
                             status=refused.status, reason=refused.message)
            return outcome(start_response, refused.status, refused.message, refused.issue_code,
                           [("WWW-Authenticate", refused.challenge)])
        return self.app(environ, start_response)

    def check(self, environ: Environ) -> None:
        if token_in_query(str(environ.get("QUERY_STRING", ""))):
            raise AuthError(400, "A token in the URL is refused (URLs are logged and kept in "
                                 "histories): send it as `Authorization: Bearer TOKEN`",
                            "security", f'Bearer realm="{REALM}", error="invalid_request"')
        method = str(environ.get("REQUEST_METHOD", ""))
        need = need_of(method, path_of(environ), self.auth.reads_closed)
        try:
            principal = self.auth.identify(environ.get("HTTP_AUTHORIZATION"))
        except AuthError:
            if need is None:  # open to anyone: a credential meant for elsewhere is no matter
                return
            raise
        if principal is not None:
            environ[PRINCIPAL] = principal.name
            environ[CREDENTIAL] = principal
        if need is None:
            return
        if principal is None:
            if need.kind is None:
                raise no_credential("Reading this server needs a bearer token")
            if not self.auth.accepts_any:
                raise no_credential("This server takes no writes: no TX_ADMIN_TOKEN or "
                                    "TX_JWT_ISSUER is configured")
            raise no_credential(f"{need.action} of {need.kind} needs a bearer token")
        if need.kind is None:
            if not principal.can_read():
                raise insufficient_scope("The token does not allow reading", "system/*.read")
            return
        if not principal.allows(need.kind, need.action):
            scope = f"system/{need.kind}.write"
            raise insufficient_scope(f"The token does not allow {need.action} of {need.kind} "
                                     f"(it needs {scope})", scope)
