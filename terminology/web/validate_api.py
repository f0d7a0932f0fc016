"""`$validate` of orders, procedures and claims, and the CMS edits as FHIR resources.

`POST /fhir/{ServiceRequest|Procedure|Claim|Bundle}/$validate` with the resource as the body or
in the `resource` parameter of a Parameters. The body is first checked against the FHIR R4B
models (fhir.resources): a body that is not a valid resource answers 400 with an
OperationOutcome naming each problem and where it is. A valid one answers 200 with an
OperationOutcome of the findings (operations/validate_resource.py), each issue with the
FHIRPath of its element.

For the web page (another blueprint): `check_order(text)` takes what a person pasted, FHIR JSON
or lines like `64636 x2 mod 50`, and gives the resource checked and the findings.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from terminology.errors import InvalidRequest, NotFound, fhirpath
from terminology.fhir.parse import parse_json
from terminology.fhir.render import issue_json
from terminology.model import Issue
from terminology.operations.validate_resource import (
    RESOURCE_TYPES,
    ClaimEdit,
    ResourceValidator,
    order_from_text,
)
from terminology.web.api import FHIR_JSON, fhir_response
from terminology.web.body import read_body

validate_api = Blueprint("validate", __name__)

EXTENSION_VALIDATOR = "resource_validator"  # app.extensions key: the ResourceValidator
EXTENSION_RESOURCES = "edit_resources"  # app.extensions key: {"ConceptMap/id": build(store)}
MAX_STRUCTURE_ISSUES = 50


# -- structure (fhir.resources) -----------------------------------------------------------


class _ValidParts:
    """Hashes of the parts (a claim without its items, each item, each Bundle entry) the models
    accepted, with their volatile values (ids, sequence, dates, units, patient, identifiers)
    masked: a part of the same shape and values is not parsed by the models again, and the
    masked values are checked by the same rules on their own (`_masked`). Checking a 20-line
    claim against the models costs more than everything else, and claims repeat their lines."""

    def __init__(self, size: int = 65536) -> None:
        self.size = size
        self._seen: dict[bytes, None] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: bytes) -> bool:
        return key in self._seen

    def add(self, key: bytes) -> None:
        with self._lock:
            if len(self._seen) >= self.size:
                self._seen.clear()
            self._seen[key] = None


def _model_of(kind: str) -> Any:
    """The fhir.resources R4B model of a resource type (KeyError, ValueError: no such type).
    Imported when first asked for: the models and pydantic take 23 MB of a worker that
    checks no resource's structure."""
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(kind)


def _claim_item_model() -> Any:
    from fhir.resources.R4B.claim import ClaimItem

    return ClaimItem


@functools.lru_cache(maxsize=256)
def is_resource_type(kind: str) -> bool:
    """Whether `kind` names a FHIR R4 (R4B models) resource."""
    try:
        _model_of(kind)
    except (KeyError, ValueError):
        return False
    return True


def _unknown_types(data: Any, path: str) -> list[Issue]:
    """The resources inside `data` whose resourceType names no FHIR resource. The models fail
    on those with a bare KeyError or TypeError instead of a validation error, so the cause is
    found here, in the data, rather than read from the exception's words."""
    found: list[Issue] = []
    if isinstance(data, list):
        for i, item in enumerate(data):
            found += _unknown_types(item, f"{path}[{i}]")
    elif isinstance(data, dict):
        kind = data.get("resourceType")
        if "resourceType" in data and not (isinstance(kind, str) and is_resource_type(kind)):
            where = f"{path}.resourceType"
            shown = f"'{kind}'" if isinstance(kind, str) else orjson.dumps(kind).decode()
            found.append(Issue("error", "structure",
                               f"{where}: {shown} is not a FHIR R4 resource type", None, where))
        for name, value in data.items():
            if isinstance(value, (dict, list)):
                found += _unknown_types(value, fhirpath(path, (name,)))
    return found


def _model_issues(model: Any, data: dict[str, Any], prefix: str,
                  seen: _ValidParts | None) -> list[Issue]:
    """What `model` finds wrong with `data` (at FHIRPath `prefix`); parts it accepted before
    are not checked again."""
    key = b""
    if seen is not None:
        masked = _masked(data)
        if masked is not None:
            key = hashlib.blake2b(model.__name__.encode() + orjson.dumps(masked),
                                  digest_size=20).digest()
            if key in seen:
                return []
    import pydantic  # with the models (see _model_of)

    try:
        model.model_validate(data)
    except pydantic.ValidationError as exc:
        issues = []
        for error in exc.errors()[:MAX_STRUCTURE_ISSUES]:
            where = fhirpath(prefix, tuple(error.get("loc", ())))
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            issues.append(Issue("error", "structure", f"{where}: {message}", None, where))
        return issues
    except (KeyError, ValueError, TypeError):  # an unknown resourceType inside, if any
        unknown = _unknown_types(data, prefix)
        if not unknown:
            raise
        return unknown
    if seen is not None and key:
        seen.add(key)
    return []


# Elements that differ from one claim line (or claim) to the next while its shape stays: a part
# is judged by its shape and its other values once, these values here by the same rules the
# models apply (FHIR id, positiveInt, date/dateTime, decimal, reference string).
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_FHIR_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]"
    r"|3[0-1]))?)?")
_FHIR_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]"
    r"|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1"
    r"[0-3]):[0-5][0-9]|14:00)))?)?)?")
_VOLATILE: dict[str, Callable[[Any], bool]] = {
    "id": lambda v: isinstance(v, str) and _FHIR_ID.fullmatch(v) is not None,
    "sequence": lambda v: type(v) is int and v >= 1,
    "servicedDate": lambda v: isinstance(v, str) and _FHIR_DATE.fullmatch(v) is not None,
    "created": lambda v: isinstance(v, str) and _FHIR_DATETIME.fullmatch(v) is not None,
}


def _masked(data: dict[str, Any]) -> dict[str, Any] | None:
    """`data` with its volatile values replaced by a placeholder, or None when one of them is
    not valid by itself (then the models must see the part as it is)."""
    out = dict(data)
    for name, valid in _VOLATILE.items():
        if name in out:
            if not valid(out[name]):
                return None
            out[name] = "#"
    for name, inner in (("patient", "reference"), ("quantity", "value")):
        part = out.get(name)
        if isinstance(part, dict) and inner in part:
            value = part[inner]
            ok = (isinstance(value, str) and value.strip() == value and value) if inner == \
                "reference" else (type(value) in (int, float))
            if not ok:
                return None
            out[name] = {**part, inner: "#"}
    identifiers = out.get("identifier")
    if isinstance(identifiers, list) and all(
            isinstance(i, dict) and isinstance(i.get("value"), str) and i["value"]
            and i["value"].strip() == i["value"] for i in identifiers):
        out["identifier"] = [{**i, "value": "#"} for i in identifiers]
    return out


def structure_issues(resource: dict[str, Any], prefix: str | None = None,
                     seen: _ValidParts | None = None) -> list[Issue]:
    """What the FHIR R4B models find wrong with `resource` (empty when it is valid), each
    problem with its FHIRPath. A Claim's items and a Bundle's entries are checked one by one,
    which the models do anyway, so that `seen` can spare the parts met before."""
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return [Issue("error", "structure", "The JSON object has no resourceType, so it is not "
                      "a FHIR resource", None, f"{prefix}.resourceType" if prefix
                      else "resourceType")]
    prefix = prefix or kind
    if not is_resource_type(kind):
        return [Issue("error", "structure", f"'{kind}' is not a FHIR R4 resource type", None,
                      f"{prefix}.resourceType")]
    model = _model_of(kind)
    items = resource.get("item")
    if kind == "Claim" and isinstance(items, list) and all(isinstance(i, dict) for i in items):
        shell = {k: v for k, v in resource.items() if k != "item"}
        issues = _model_issues(model, shell, prefix, seen)
        for i, item in enumerate(items):
            issues += _model_issues(_claim_item_model(), item, f"{prefix}.item[{i}]", seen)
        return issues
    entries = resource.get("entry")
    if kind == "Bundle" and isinstance(entries, list) and all(
            isinstance(e, dict) and isinstance(e.get("resource", {}), dict) for e in entries):
        shell = {**resource, "entry": [{k: v for k, v in e.items() if k != "resource"}
                                       for e in entries]}
        issues = _model_issues(model, shell, prefix, seen)
        for i, entry in enumerate(entries):
            if "resource" in entry:
                issues += structure_issues(entry["resource"], f"{prefix}.entry[{i}].resource",
                                           seen)
        return issues
    return _model_issues(model, resource, prefix, seen)


def checked_structure(resource: dict[str, Any]) -> list[Issue]:
    """structure_issues, sparing the parts the models accepted before (kept by the app)."""
    seen: _ValidParts = current_app.extensions.setdefault("valid_parts", _ValidParts())
    return structure_issues(resource, seen=seen)


# -- the operation ------------------------------------------------------------------------


def outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue_json(i) for i in issues]}


def _resource_of(body: Any, kind: str) -> tuple[dict[str, Any], list[Issue]]:
    """The resource to validate from a body (itself, or a Parameters' `resource`), with the
    information issues the other parameters call for."""
    notes: list[Issue] = []
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object: a FHIR resource, or a Parameters "
                             "resource with a 'resource' parameter")
    if body.get("resourceType") == "Parameters" and kind != "Parameters":
        resource = None
        listed = body.get("parameter") or []
        if not isinstance(listed, list):
            raise InvalidRequest("Parameters.parameter must be an array",
                                 expression="Parameters.parameter")
        for param in listed:
            if not isinstance(param, dict):
                continue
            name = param.get("name")
            if name == "resource":
                resource = param.get("resource")
            elif name == "mode" and param.get("valueCode") not in (None, "create", "update"):
                raise InvalidRequest(f"mode={param.get('valueCode')} is not supported: only "
                                     "create and update (the content is checked)",
                                     expression="Parameters.parameter.mode", status=422,
                                     issue_code="not-supported")
            elif name == "profile":
                profile = param.get("valueUri") or param.get("valueCanonical")
                notes.append(Issue("information", "informational",
                                   f"The profile {profile} was not checked: this server checks "
                                   "codes and claim edits, not profiles", None,
                                   "Parameters.parameter.profile"))
        if not isinstance(resource, dict):
            raise InvalidRequest("The Parameters has no 'resource' parameter holding the "
                                 "resource to validate", expression="Parameters.parameter")
        body = resource
    found = body.get("resourceType")
    if found != kind:
        raise InvalidRequest(f"The resource is a {found or 'JSON object without resourceType'}"
                             f", but this is {kind}/$validate", expression="resourceType")
    return body, notes


def _read_body() -> Any:
    mimetype = request.mimetype
    if mimetype not in ("application/fhir+json", "application/json", ""):
        raise InvalidRequest(f"Content-Type {mimetype} is not supported: send "
                             "application/fhir+json", status=415, issue_code="not-supported")
    raw = read_body()
    if not raw.strip():
        raise InvalidRequest("The body is empty: send the resource to validate")
    return parse_json(raw, "The body")


def install(app: Flask, edits: Sequence[ClaimEdit],
            resources: Mapping[str, Callable[[Any], dict[str, Any] | None]]) -> None:
    """Give the app its ResourceValidator (over its registry, with `edits`), the edit
    resources to publish, and this blueprint under /fhir."""
    app.extensions[EXTENSION_VALIDATOR] = ResourceValidator(app.extensions["registry"], edits)
    app.extensions[EXTENSION_RESOURCES] = dict(resources)
    app.register_blueprint(validate_api, url_prefix="/fhir")


def validator() -> ResourceValidator:
    return current_app.extensions[EXTENSION_VALIDATOR]  # type: ignore[no-any-return]


@validate_api.route("/<any(ServiceRequest, Procedure, Claim, Bundle):kind>/$validate",
                    methods=["POST"])
def validate_operation(kind: str) -> Response:
    body = _read_body()
    resource, notes = _resource_of(body, kind)
    problems = checked_structure(resource)
    if problems:
        return fhir_response(outcome(problems), 400)
    return fhir_response(outcome(notes + validator().validate(resource)))


# -- for the web page ---------------------------------------------------------------------


@dataclass
class OrderCheck:
    """What `check_order` found: the resource checked (given or built from the lines), the
    findings (each with its FHIRPath), and whether the input could be read at all."""

    resource: dict[str, Any] | None
    issues: list[Issue] = field(default_factory=list)
    readable: bool = True

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity in ("error", "fatal")]

    def outcome(self) -> dict[str, Any]:
        return outcome(self.issues)


def check_order(text: str, *, patient: str | None = "Patient/example",
                service_date: str | None = None) -> OrderCheck:
    """Check what a person pasted: a FHIR resource in JSON (ServiceRequest, Procedure, Claim,
    Bundle, or a Parameters holding one), or one service a line (`64636 x2 mod 50`,
    `99213:25`, `J1100 10 units`, `64635 mod 59, LT 2026-03-02`), which becomes a Claim for
    `patient` (a reference; None: a patient named only in words, so that no finding names a
    reference) on `service_date` (default today). Call inside a request or app context.
    Input that cannot be read gives `readable=False` and the reason as an error issue."""
    stripped = text.strip()
    try:
        if stripped.startswith("{"):
            body = parse_json(stripped, "The text")
            kind = body.get("resourceType") if isinstance(body, dict) else None
            if kind == "Parameters":
                listed = body.get("parameter")
                inner = next((p.get("resource") for p in listed
                              if isinstance(p, dict) and p.get("name") == "resource"),
                             None) if isinstance(listed, list) else None
                kind = inner.get("resourceType") if isinstance(inner, dict) else None
            if kind not in RESOURCE_TYPES:
                raise InvalidRequest(f"Paste a {', '.join(RESOURCE_TYPES)}; this is a "
                                     f"{kind or 'JSON object without resourceType'}")
            resource, notes = _resource_of(body, str(kind))
        else:
            resource = order_from_text(validator().registry, stripped,
                                       patient=patient or "Patient/unnamed",
                                       service_date=service_date)
            if patient is None:
                resource["patient"] = {"display": "The patient"}
            notes = []
    except InvalidRequest as exc:
        return OrderCheck(None, [Issue("error", exc.issue_code, exc.message, None,
                                       exc.expression)], readable=False)
    problems = checked_structure(resource)
    if problems:
        return OrderCheck(resource, problems, readable=False)
    return OrderCheck(resource, notes + validator().validate(resource))


# -- the edits as FHIR resources ----------------------------------------------------------


def _resource_view(path: str, build: Callable[[Any], dict[str, Any] | None]
                   ) -> Callable[[], Response]:
    def view() -> Response:
        resource = build(current_app.extensions["store"])
        if resource is None:
            raise NotFound(f"{path} is not known on this server: its edit file has not been "
                           "imported")
        if request.args.get("_summary") in ("true", "count"):
            resource = {k: v for k, v in resource.items() if k != "group"}
            resource["meta"] = {"tag": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "SUBSETTED", "display": "Resource content not complete"}]}
        return Response(orjson.dumps(resource), status=200, content_type=FHIR_JSON)

    view.__name__ = "edit_resource_" + re.sub(r"\W", "_", path)
    return view


@validate_api.record_once
def _register_edit_resources(state: BlueprintSetupState) -> None:
    """A read route per published edit resource (`ConceptMap/cms-ptp-practitioner`): named
    routes win over the generic `/ConceptMap/<id>` read of the stored maps."""
    resources: dict[str, Callable[[Any], dict[str, Any] | None]] = state.app.extensions.get(
        EXTENSION_RESOURCES, {})
    for path, build in resources.items():
        state.add_url_rule(f"/{path}", view_func=_resource_view(path, build), methods=["GET"])
