"""The FHIR R4 REST API: terminology operations, resource reads and searches, /metadata.

Views stay thin: parse (fhir.params) -> operate (operations) -> render (fhir.render) -> one
orjson serialisation. Errors are raised as TerminologyError and answered by server.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request, stream_with_context
from werkzeug.exceptions import MethodNotAllowed

from terminology.errors import InvalidRequest, NotFound, TerminologyError
from terminology.fhir import params, render, resources, search
from terminology.fhir.resources import RawConcept
from terminology.model import Concept
from terminology.numbers import is_digits
from terminology.operations.expand import expand, find_valueset
from terminology.operations.lookup import lookup
from terminology.operations.subsumes import subsumes
from terminology.operations.translate import translate
from terminology.operations.validate_code import validate_code
from terminology.provider import AsLoaded, CodeSystemProvider, Registry
from terminology.registry import RequestRegistry
from terminology.web.body import read_body

api = Blueprint("fhir", __name__)

FHIR_JSON = "application/fhir+json; charset=utf-8"
_JSON_TYPES = ("application/fhir+json", "application/json", "json")
JSON_BODY_TYPES = ("application/fhir+json", "application/json")  # a Parameters resource


def fhir_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, content_type=FHIR_JSON)


def registry(flat: dict[str, list[Any]] | None = None) -> Registry:
    """The app's registry, layered with the request's `tx-resource` resources if any."""
    return layered(current_app.extensions["registry"], flat)


def layered(base: Registry, flat: dict[str, list[Any]] | None) -> Registry:
    """`base`, layered with the request's `tx-resource` resources if any."""
    if flat and flat.get("tx-resource"):
        return RequestRegistry(base, params.tx_resources(flat))
    return base


def base_url() -> str:
    """The public FHIR base (`https://tx.example.org/fhir`) for fullUrls and links: configured
    (TX_BASE_URL); else from X-Forwarded-Proto/-Host when the request comes from a configured
    proxy (TX_TRUSTED_PROXIES); else the address the server listens on. Never the client's
    Host header, which anyone can set."""
    configured = current_app.config.get("BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    environ = request.environ
    if request.remote_addr in current_app.config.get("TRUSTED_PROXIES", ()):
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        scheme = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        prefix = request.headers.get("X-Forwarded-Prefix", "").rstrip("/")
        if host and scheme in ("http", "https"):
            return f"{scheme}://{host}{prefix}/fhir"
    scheme = environ.get("wsgi.url_scheme", "http")
    host, port = environ.get("SERVER_NAME", "localhost"), str(environ.get("SERVER_PORT", ""))
    default_port = {"http": "80", "https": "443"}.get(scheme)
    return f"{scheme}://{host}{'' if port in ('', default_port) else ':' + port}/fhir"


def _check_format() -> None:
    check_format(request.headers.get("Accept"), request.args.get("_format"))


def check_format(accept: str | None, fmt: str | None) -> None:
    """406 unless the Accept header and the _format parameter allow FHIR JSON."""
    if accept and not any(t in accept for t in (*_JSON_TYPES, "*/*", "application/*")):
        raise InvalidRequest(f"Accept: {accept} cannot be served: this server speaks FHIR JSON",
                             status=406, issue_code="not-supported")
    if fmt and not any(t in fmt for t in _JSON_TYPES):
        raise InvalidRequest(f"_format={fmt} is not supported: this server speaks FHIR JSON",
                             status=406, issue_code="not-supported", expression="_format")


def operation_parameters() -> dict[str, list[Any]]:
    """GET query, POSTed form, or POSTed Parameters resource (query parameters merged in)."""
    _check_format()
    flat = params.parameters_from_query(request.args)
    if request.method == "POST":
        mimetype = request.mimetype
        if mimetype == "application/x-www-form-urlencoded":
            body = params.parameters_from_query(request.form)
        elif mimetype in JSON_BODY_TYPES or (
            not mimetype and request.content_length
        ):
            body = params.parameters_from_json(read_body())
        elif not request.content_length:
            body = {}
        else:
            raise InvalidRequest(
                f"Content-Type {mimetype} is not supported: send application/fhir+json "
                "(a Parameters resource) or a form",
                status=415, issue_code="not-supported",
            )
        for name, values in body.items():
            flat.setdefault(name, []).extend(values)
        flat.pop("_format", None)
    return with_accept_language(flat, request.headers.get("Accept-Language"))


def with_accept_language(flat: dict[str, list[Any]], accept_language: str | None
                         ) -> dict[str, list[Any]]:
    """An Accept-Language header is the displayLanguage when the request names none."""
    if accept_language and "displayLanguage" not in flat:
        flat["displayLanguage"] = [accept_language]
    return flat


@api.route("/CodeSystem/$lookup", methods=["GET", "POST"])
@api.route("/CodeSystem/<resource_id>/$lookup", methods=["GET", "POST"])
def codesystem_lookup(resource_id: str | None = None) -> Response:
    return fhir_response(lookup_answer(current_app.extensions["registry"],
                                       operation_parameters(), resource_id))


def lookup_answer(base: Registry, flat: dict[str, list[Any]], resource_id: str | None
                  ) -> dict[str, Any]:
    req = params.lookup_request(flat, resource_id)
    return render.lookup_parameters(lookup(layered(base, flat), req))


@api.route("/CodeSystem/$validate-code", methods=["GET", "POST"])
@api.route("/CodeSystem/<resource_id>/$validate-code", methods=["GET", "POST"])
def codesystem_validate_code(resource_id: str | None = None) -> Response:
    return fhir_response(validate_answer(current_app.extensions["registry"],
                                         operation_parameters(), resource_id))


def validate_answer(base: Registry, flat: dict[str, list[Any]], resource_id: str | None
                    ) -> dict[str, Any]:
    req = params.validate_request(flat, resource_id)
    return render.validation_parameters(validate_code(layered(base, flat), req))


@api.route("/CodeSystem/$subsumes", methods=["GET", "POST"])
@api.route("/CodeSystem/<resource_id>/$subsumes", methods=["GET", "POST"])
def codesystem_subsumes(resource_id: str | None = None) -> Response:
    flat = operation_parameters()
    outcome = subsumes(registry(flat), params.subsumes_request(flat, resource_id))
    return fhir_response({"resourceType": "Parameters",
                          "parameter": [{"name": "outcome", "valueCode": outcome}]})


@api.route("/ValueSet/$batch-validate-code", methods=["GET", "POST"])
def valueset_batch_validate() -> Response:
    """One $validate-code per `validation` parameter; the others apply to all of them."""
    if request.method != "POST":
        raise MethodNotAllowed(valid_methods=["POST"])
    flat = operation_parameters()
    shared = {k: v for k, v in flat.items() if k != "validation"}
    answers = []
    for item in flat.get("validation", []):
        if not isinstance(item, dict) or item.get("resourceType") != "Parameters":
            raise InvalidRequest("Each validation parameter must be a Parameters resource",
                                 expression="validation")
        one = {**shared, **params.parameters_from_resource(item)}
        try:
            answers.append(_validate_valueset(one, None))
        except TerminologyError as error:
            answers.append(render.error_outcome(error))
    return fhir_response({"resourceType": "Parameters", "parameter": [
        {"name": "validation", "resource": a} for a in answers]})


def _expand_limit() -> int:
    return expand_limit(int(current_app.config.get("EXPAND_LIMIT", 10000)),
                        request.headers.get("X-TOO-COSTLY-THRESHOLD"))


def expand_limit(configured: int, header: str | None) -> int:
    """The configured limit, lowered (never raised) by an X-TOO-COSTLY-THRESHOLD header."""
    header = header or ""
    return min(configured, int(header)) if is_digits(header) and int(header) > 0 else configured


def _validate_valueset(flat: dict[str, list[Any]], resource_id: str | None) -> dict[str, Any]:
    return valueset_validate_answer(current_app.extensions["registry"], flat, resource_id)


def valueset_validate_answer(base: Registry, flat: dict[str, list[Any]],
                             resource_id: str | None) -> dict[str, Any]:
    req = params.validate_request(flat, resource_id, valueset=True)
    reg = layered(base, flat)
    valueset = find_valueset(reg, valueset=req.valueset, url=req.valueset_url,
                             version=req.valueset_version, instance_id=req.valueset_id)
    return render.validation_parameters(validate_code(reg, req, valueset))


@api.route("/ValueSet/$validate-code", methods=["GET", "POST"])
@api.route("/ValueSet/<resource_id>/$validate-code", methods=["GET", "POST"])
def valueset_validate_code(resource_id: str | None = None) -> Response:
    return fhir_response(_validate_valueset(operation_parameters(), resource_id))


@api.route("/ValueSet/$expand", methods=["GET", "POST"])
@api.route("/ValueSet/<resource_id>/$expand", methods=["GET", "POST"])
def valueset_expand(resource_id: str | None = None) -> Response:
    """A repeated GET (the same search typed by many people) is served from the answer cache
    (web/http_cache.py), with the identifier and timestamp of the expansion it repeats."""
    return fhir_response(expand_answer(current_app.extensions["registry"],
                                       operation_parameters(), resource_id, _expand_limit()))


def expand_answer(base: Registry, flat: dict[str, list[Any]], resource_id: str | None,
                  limit: int) -> dict[str, Any]:
    req = params.expand_request(flat, resource_id, limit)
    result = expand(layered(base, flat), req)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return render.expansion_valueset(result, f"urn:uuid:{uuid.uuid4()}", now)


@api.route("/metadata", methods=["GET"])
def metadata() -> Response:
    _check_format()
    mode = request.args.get("mode", "full")
    base = base_url()
    if mode == "terminology":
        reg = registry()
        providers = reg.providers() + reg.builtin_providers()
        defaults = {}
        for url in dict.fromkeys(p.canonical.url for p in providers):
            defaults[url] = reg.resolve(url).canonical.version
        return fhir_response(resources.terminology_capabilities(base, providers, defaults))
    if mode not in ("full", "normative"):
        raise InvalidRequest(f"mode={mode} is not one of full, normative, terminology",
                             expression="mode")
    return fhir_response(resources.capability_statement(
        base, writable=not current_app.config.get("READ_ONLY")))


@api.route("/$versions", methods=["GET", "POST"])
def versions() -> Response:
    _check_format()
    return fhir_response({"resourceType": "Parameters", "parameter": [
        {"name": "version", "valueString": "4.0"}, {"name": "default", "valueString": "4.0"}]})


def _search(kind: str, candidates: list[dict[str, Any]]) -> Response:
    """A searchset Bundle of the candidates that match the search parameters, one page."""
    _check_format()
    matches = [r for r in candidates if _matches(r, request.args)]
    return _bundle_response(search.searchset(base_url(), kind, matches, request.args,
                                             lambda r: resources.shape(r, request.args)))


def _bundle_response(bundle: dict[str, Any]) -> Response:
    """A searchset Bundle: written entry by entry when it is to be streamed, else whole."""
    if resources.is_streamed(bundle):
        return _streamed(resources.bundle_chunks(bundle))
    return fhir_response(bundle)


def _read(kind: str, resource_id: str, candidates: list[dict[str, Any]]) -> Response:
    _check_format()
    for resource in candidates:
        if resource.get("id") == resource_id:
            return fhir_response(resources.shape(resource, request.args))
    raise NotFound(f"{kind}/{resource_id} is not known on this server")


@api.route("/ValueSet", methods=["GET"])
def valueset_search() -> Response:
    """Matched on the value sets' summaries; only the page's resources are read."""
    _check_format()
    reg = registry()
    matches = [info for info in reg.value_set_infos() if _matches(info.summary, request.args)]
    return _bundle_response(search.searchset(
        base_url(), "ValueSet", matches, request.args,
        lambda info: resources.shape(reg.value_set_resource(info), request.args)))


@api.route("/ValueSet/<resource_id>", methods=["GET"])
def valueset_read(resource_id: str) -> Response:
    _check_format()
    found = registry().value_set_by_id(resource_id)
    if found is None:
        raise NotFound(f"ValueSet/{resource_id} is not known on this server")
    return fhir_response(resources.shape(found, request.args))


def _matches(resource: dict[str, Any], args: Any) -> bool:
    for name, key in (("url", "url"), ("system", "url"), ("version", "version"),
                      ("status", "status"), ("_id", "id")):
        wanted = args.get(name)
        if wanted is not None and resource.get(key) != wanted:
            return False
    for name in ("name", "title"):
        wanted = args.get(name)
        if wanted is not None and not str(resource.get(name) or "").lower().startswith(
            wanted.lower()
        ):
            return False
    return True


def _with_count(provider: CodeSystemProvider) -> dict[str, Any]:
    """The resource with its concept count (none for a code system defined by a grammar)."""
    resource = dict(provider.resource())
    count = provider.count()
    if count >= 0:
        resource["count"] = count
    return resource


@api.route("/CodeSystem", methods=["GET"])
def codesystem_search() -> Response:
    _check_format()
    reg = registry()
    matches: list[CodeSystemProvider | dict[str, Any]] = [
        p for p in reg.providers() if _matches(p.summary(), request.args)]
    matches += [s for s in reg.supplement_resources() if _matches(s, request.args)]

    def shape(match: CodeSystemProvider | dict[str, Any]) -> dict[str, Any]:
        if isinstance(match, dict):  # a supplement, held as its resource
            return resources.shape(match, request.args)
        return resources.shape(_with_count(match), request.args, concepts=_concepts_of(match),
                               stream=True)

    return _bundle_response(search.searchset(base_url(), "CodeSystem", matches, request.args,
                                             shape))


@api.route("/CodeSystem/<resource_id>", methods=["GET"])
def codesystem_read(resource_id: str) -> Response:
    _check_format()
    reg = registry()
    provider = reg.by_id(resource_id)
    if provider is None:
        for supplement in reg.supplement_resources():
            if supplement.get("id") == resource_id:
                return fhir_response(resources.shape(supplement, request.args))
        raise NotFound(f"CodeSystem/{resource_id} is not known on this server")
    shaped = resources.shape(_with_count(provider), request.args,
                             concepts=_concepts_of(provider), stream=True)
    return _streamed(resources.json_chunks(shaped))


def _streamed(chunks: Iterator[bytes]) -> Response:
    """A 200 written as it is built, inside this request's context (its store generation and
    time budget)."""
    return Response(stream_with_context(chunks), status=200, content_type=FHIR_JSON)


def _concepts_of(provider: CodeSystemProvider) -> Callable[[], Iterable[Concept | RawConcept]]:
    """Concepts for a CodeSystem read: as loaded (nested) for a FHIR CodeSystem."""
    if not isinstance(provider, AsLoaded):
        return provider.iter_concepts
    as_loaded: AsLoaded = provider

    def concepts() -> Iterable[Concept | RawConcept]:
        loaded = as_loaded.concepts_as_loaded()
        if loaded is None:
            return provider.iter_concepts()
        return [RawConcept(c) for c in loaded]

    return concepts


@api.route("/ConceptMap/$translate", methods=["GET", "POST"])
@api.route("/ConceptMap/<resource_id>/$translate", methods=["GET", "POST"])
def conceptmap_translate(resource_id: str | None = None) -> Response:
    flat = operation_parameters()
    req = params.translate_request(flat, resource_id)
    return fhir_response(render.translation_parameters(translate(registry(flat), req)))


@api.route("/ConceptMap", methods=["GET"])
def conceptmap_search() -> Response:
    return _search("ConceptMap", registry().concept_map_resources())


@api.route("/ConceptMap/<resource_id>", methods=["GET"])
def conceptmap_read(resource_id: str) -> Response:
    return _read("ConceptMap", resource_id, registry().concept_map_resources())
