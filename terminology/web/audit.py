"""The audit log: one JSON line per write attempted through the API, accepted or refused.

Who (the credential's name, never the token), from where, what (method, path, resource type,
id, url|version), the status answered and why. Lines go to stderr and, when TX_AUDIT_LOG names
a file, are appended to it as well.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson

from terminology.web.wsgi import log_to_stderr

log = logging.getLogger("txserver.audit")


def install_handlers(path: str | Path | None = None) -> None:
    """stderr (see wsgi.log_to_stderr); the file at `path` too when given (once per path)."""
    log_to_stderr(log)
    if path is not None:
        target = str(Path(path).resolve())
        if not any(isinstance(h, logging.FileHandler) and h.baseFilename == target
                   for h in log.handlers):
            file = logging.FileHandler(target, encoding="utf-8")
            file.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(file)


def record(**event: Any) -> None:
    """Write one audit line (`event` keys: who, client, method, path, kind, id, status...)."""
    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": "write",
            **{k: v for k, v in event.items() if v is not None}}
    log.info(orjson.dumps(line).decode())
