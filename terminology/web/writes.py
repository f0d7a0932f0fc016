"""Writes through the FHIR REST API: create, update and delete of CodeSystem, ValueSet and
ConceptMap (`application/fhir+json`).

    POST   /fhir/{type}        create (an id in the body is ignored, as FHIR says); 201, or
                               200 when the url|version was stored already (replaced)
    PUT    /fhir/{type}/{id}   create or replace under that id; 201 or 200
    DELETE /fhir/{type}/{id}   200 with an OperationOutcome, or 404

Each write is checked and stored exactly as `txserver import fhir` does (the ResourceStore the
app is given: the same validation, one transaction, the id-clash rule: 409 for an id held by
another url), needs a credential with the scope (web/auth.py's guard; checked again here), is
audited, and, when TX_SNAPSHOT_PUBLISH names a folder, publishes a new snapshot there for the
replicas. A replica serving a snapshot takes no writes (405: write to the primary).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from terminology.errors import InvalidRequest, NotFound, TerminologyError
from terminology.fhir.render import operation_outcome
from terminology.web import audit, metrics
from terminology.web.access_log import client_address
from terminology.web.api import base_url, fhir_response
from terminology.web.auth import CREDENTIAL, Principal
from terminology.web.body import read_body

writes = Blueprint("fhir_writes", __name__)
KINDS = "any(CodeSystem, ValueSet, ConceptMap)"


class FhirId(BaseConverter):
    """A FHIR id (`[A-Za-z0-9-.]{1,64}`): `/CodeSystem/$lookup` is no resource to write."""

    regex = r"[A-Za-z0-9\-\.]{1,64}"


@writes.record_once
def _add_converter(state: BlueprintSetupState) -> None:  # before the routes below are added
    state.app.url_map.converters["fhir_id"] = FhirId
JSON_TYPES = ("application/fhir+json", "application/json")


@dataclass(frozen=True, slots=True)
class Stored:
    kind: str
    resource_id: str
    created: bool


class ResourceStore(Protocol):
    """How the app stores what the API is sent (server.py gives the fhir_json importer's)."""

    def put(self, resource: dict[str, Any]) -> Stored: ...

    def delete(self, kind: str, resource_id: str) -> bool: ...


class Publisher(Protocol):
    def changed(self) -> None: ...


def _resource_store() -> ResourceStore:
    return current_app.extensions["resource_store"]  # type: ignore[no-any-return]


def _check_allowed(kind: str, action: str) -> Principal:
    """The guard (web/auth.py) has refused requests without the scope; this is the same rule
    once more, so that an app mounted without the guard takes no writes at all."""
    principal = request.environ.get(CREDENTIAL)
    if not isinstance(principal, Principal) or not principal.allows(kind, action):
        raise InvalidRequest(f"{action} of {kind} is not allowed", status=403,
                             issue_code="forbidden")
    if current_app.config.get("READ_ONLY"):
        raise InvalidRequest("This replica serves a read-only snapshot: send writes to the "
                             "primary", status=405, issue_code="not-supported")
    return principal


def _body(kind: str) -> dict[str, Any]:
    if request.mimetype not in JSON_TYPES:
        raise InvalidRequest(f"Content-Type {request.mimetype or '(none)'} is not supported: "
                             f"send the {kind} as application/fhir+json",
                             status=415, issue_code="not-supported")
    try:
        resource = orjson.loads(read_body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON ({exc})", issue_code="structure")
    if not isinstance(resource, dict) or resource.get("resourceType") != kind:
        found = resource.get("resourceType") if isinstance(resource, dict) else None
        raise InvalidRequest(f"The body must be a {kind} resource, not {found or 'that'}",
                             issue_code="invalid")
    return resource


def _audited(kind: str, action: str, resource_id: str | None, write: Any) -> Response:
    """Run `write()` if the credential allows it, timed, and audit the attempt whatever its
    outcome; a write that changed the store publishes a snapshot when so configured."""
    principal = _check_allowed(kind, action)
    started = time.perf_counter()
    status, reason = 500, None
    try:
        response: Response = write()
        status = response.status_code
        return response
    except TerminologyError as error:
        status, reason = error.status, error.message
        raise
    finally:
        metrics.IMPORT_SECONDS.labels(f"api-{kind}").observe(time.perf_counter() - started)
        audit.record(who=principal.name,
                     client=client_address(request.environ,
                                           current_app.config.get("TRUSTED_PROXIES", ())),
                     method=request.method, path=request.path, kind=kind, action=action,
                     id=resource_id, status=status, reason=reason)
        if status < 300:
            publisher: Publisher | None = current_app.extensions.get("snapshot_publisher")
            if publisher is not None:
                publisher.changed()


def _stored_response(resource: dict[str, Any], stored: Stored) -> Response:
    response = fhir_response({**resource, "id": stored.resource_id},
                             201 if stored.created else 200)
    response.headers["Location"] = f"{base_url()}/{stored.kind}/{stored.resource_id}"
    return response


@writes.route(f"/<{KINDS}:kind>", methods=["POST"])
def create(kind: str) -> Response:
    def write() -> Response:
        resource = {k: v for k, v in _body(kind).items() if k != "id"}
        return _stored_response(resource, _resource_store().put(resource))

    return _audited(kind, "create", None, write)


@writes.route(f"/<{KINDS}:kind>/<fhir_id:resource_id>", methods=["PUT"])
def update(kind: str, resource_id: str) -> Response:
    def write() -> Response:
        resource = _body(kind)
        if resource.setdefault("id", resource_id) != resource_id:
            raise InvalidRequest(f"The id in the body ({resource['id']}) is not the id in the "
                                 f"URL ({resource_id})", expression=f"{kind}.id")
        return _stored_response(resource, _resource_store().put(resource))

    return _audited(kind, "update", resource_id, write)


@writes.route(f"/<{KINDS}:kind>/<fhir_id:resource_id>", methods=["DELETE"])
def delete(kind: str, resource_id: str) -> Response:
    def write() -> Response:
        if not _resource_store().delete(kind, resource_id):
            raise NotFound(f"{kind}/{resource_id} is not known on this server")
        return fhir_response(operation_outcome(f"{kind}/{resource_id} was deleted",
                                               code="informational", severity="information"))

    return _audited(kind, "delete", resource_id, write)
