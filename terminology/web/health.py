"""Health endpoints for whoever runs replicas (a load balancer, systemd, a container runtime).

`GET /healthz`: the process answers (live). `GET /readyz`: the store can be read now, with the
version of the data served (`g12-1a2b3c4d`: generation and store id, the same on every copy)
and the snapshot's name when serving one; 503 when the store cannot be read. Both JSON, never
cached.
"""

from __future__ import annotations

import logging

import orjson
from flask import Blueprint, Response, current_app

from terminology.registry import StoreRegistry

health = Blueprint("health", __name__)
log = logging.getLogger("txserver")


def _json(body: dict[str, object], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store"})


@health.route("/healthz", methods=["GET"])
def healthz() -> Response:
    return _json({"status": "live"})


@health.route("/readyz", methods=["GET"])
def readyz() -> Response:
    registry: StoreRegistry = current_app.extensions["registry"]
    try:
        version = registry.store.version()
    except Exception as exc:  # whatever stops a read makes the replica not ready
        log.error("not ready: the store %s cannot be read: %s", registry.store.path, exc)
        return _json({"status": "not ready", "reason": f"the store cannot be read: {exc}"}, 503)
    return _json({"status": "ready", "version": version.id, "generation": version.generation,
                  "committed": version.committed_at,
                  "snapshot": current_app.config.get("SNAPSHOT_NAME")})
