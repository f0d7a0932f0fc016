"""The settings of the operational layers (from TX_* variables) and the process-wide WSGI
layers around the app, outermost first:

    AccessLog       one line per request (web/access_log.py)
    Metrics         counts and times; answers /metrics (web/metrics.py)
    BrowserHeaders  CSP, nosniff, Referrer-Policy; CORS and preflights (web/browser.py)
    Guard           credentials and scopes (web/auth.py)
    the app         a Flask app (its HTTP cache in front: web/http_cache.py), or the
                    snapshot replica choosing one per request (web/replica.py)

so that what an inner layer answers by itself (a 401, a 304, a cached answer) is still logged,
counted and given the browser headers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from terminology.web import audit
from terminology.web.access_log import DEFAULT_FORMAT, FORMATS, AccessLog
from terminology.web.auth import Authenticator, Guard, JwtVerifier, read_token_file
from terminology.web.browser import BrowserHeaders, CorsPolicy
from terminology.web.http_cache import DEFAULT_MAX_AGE
from terminology.web.metrics import Metrics
from terminology.web.publish import DEFAULT_KEEP
from terminology.web.wsgi import WsgiApp, log_to_stderr


def _tokens(env: Mapping[str, str], name: str) -> list[str]:
    """The token in `name` and those of the file in `name`_FILE."""
    found = [env[name].strip()] if env.get(name, "").strip() else []
    if env.get(f"{name}_FILE"):
        found += read_token_file(env[f"{name}_FILE"])
    return found


def from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The app config keys of the operational settings, from TX_* variables."""
    env = os.environ if env is None else env
    access_log = env.get("TX_ACCESS_LOG", DEFAULT_FORMAT).strip().lower() or "off"
    if access_log not in FORMATS:
        raise ValueError(f"TX_ACCESS_LOG={access_log!r} is not one of {', '.join(FORMATS)}")
    if env.get("TX_JWT_ISSUER") and not env.get("TX_JWT_JWKS"):
        raise ValueError("TX_JWT_ISSUER needs TX_JWT_JWKS (the issuer's keys: a file or URL)")
    return {
        "TRUSTED_PROXIES": tuple(p.strip() for p in env.get("TX_TRUSTED_PROXIES", "").split(",")
                                 if p.strip()),
        "MAX_AGE": int(env.get("TX_MAX_AGE", DEFAULT_MAX_AGE)),
        "ACCESS_LOG": access_log,
        "CORS_ORIGINS": env.get("TX_CORS_ORIGINS", "*"),
        "CORS_METHODS": env.get("TX_CORS_METHODS", "GET, HEAD"),
        "ADMIN_TOKENS": _tokens(env, "TX_ADMIN_TOKEN"),
        "READ_TOKENS": _tokens(env, "TX_READ_TOKEN"),
        "JWT_ISSUER": env.get("TX_JWT_ISSUER") or None,
        "JWT_JWKS": env.get("TX_JWT_JWKS") or None,
        "JWT_AUDIENCE": env.get("TX_JWT_AUDIENCE") or None,
        "AUDIT_LOG": env.get("TX_AUDIT_LOG") or None,
        "SNAPSHOT_PUBLISH": env.get("TX_SNAPSHOT_PUBLISH") or None,
        "SNAPSHOT_KEEP": int(env.get("TX_SNAPSHOT_KEEP", DEFAULT_KEEP)),
    }


def authenticator(config: Mapping[str, Any]) -> Authenticator:
    jwt = None
    if config.get("JWT_ISSUER"):
        jwt = JwtVerifier(str(config["JWT_ISSUER"]), str(config["JWT_JWKS"]),
                          config.get("JWT_AUDIENCE"))
    return Authenticator(config.get("ADMIN_TOKENS", ()), config.get("READ_TOKENS", ()), jwt)


def wrap(app: WsgiApp, config: Mapping[str, Any]) -> WsgiApp:
    """`app` inside the layers above, as `config` sets them."""
    # the server's own messages (txserver.*: snapshots switched to or refused, published)
    log_to_stderr(logging.getLogger("txserver"), "[%(levelname)s] %(name)s: %(message)s",
                  alone=False)
    audit.install_handlers(config.get("AUDIT_LOG"))
    wrapped: WsgiApp = Guard(app, authenticator(config))
    cors = CorsPolicy.parse(str(config.get("CORS_ORIGINS", "*")),
                            str(config.get("CORS_METHODS", "GET, HEAD")))
    wrapped = BrowserHeaders(wrapped, cors)
    wrapped = Metrics(wrapped)
    fmt = str(config.get("ACCESS_LOG", DEFAULT_FORMAT))
    if fmt != "off":
        wrapped = AccessLog(wrapped, fmt, tuple(config.get("TRUSTED_PROXIES", ())))
    return wrapped
