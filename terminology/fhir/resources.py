"""Stored resources as FHIR JSON: CodeSystem and ConceptMap reads, searchset Bundles,
and the server's CapabilityStatement and TerminologyCapabilities.

`_summary` and `_elements` follow the FHIR search rules; a CodeSystem is sent without its
concepts unless they are asked for (`_summary=false` or `_elements=concept`), and is then
tagged SUBSETTED as FHIR requires of a partial resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from terminology import clock
from terminology import budget
from terminology.fhir import search
from terminology.fhir.render import VALUE_KEYS, coding_json
from terminology.model import Concept, Property

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}
MANDATORY = {"resourceType", "id", "meta", "url", "status", "content"}
# the elements FHIR R4 marks as summary (Σ), per resource type (`_summary=true`)
_CANONICAL_SUMMARY = {
    "resourceType", "id", "meta", "implicitRules", "modifierExtension", "url", "identifier",
    "version", "name", "title", "status", "experimental", "date", "publisher", "contact",
    "useContext", "jurisdiction",
}
SUMMARY_ELEMENTS = {
    "CodeSystem": _CANONICAL_SUMMARY | {
        "caseSensitive", "valueSet", "hierarchyMeaning", "compositional", "versionNeeded",
        "content", "supplements", "count"},
    "ValueSet": _CANONICAL_SUMMARY | {"immutable"},
    "ConceptMap": _CANONICAL_SUMMARY | {
        "sourceUri", "sourceCanonical", "targetUri", "targetCanonical"},
}


class RawConcept(dict[str, Any]):
    """A concept already in FHIR JSON (from a CodeSystem held whole): rendered as it is."""


def concept_json(concept: Concept | RawConcept) -> dict[str, Any]:
    if isinstance(concept, RawConcept):
        return dict(concept)
    out: dict[str, Any] = {"code": concept.code}
    if concept.display:
        out["display"] = concept.display
    if concept.definition:
        out["definition"] = concept.definition
    if concept.designations:
        designations = []
        for d in concept.designations:
            item: dict[str, Any] = {}
            if d.language:
                item["language"] = d.language
            if d.use:
                item["use"] = coding_json(d.use)
            item["value"] = d.value
            designations.append(item)
        out["designation"] = designations
    properties = list(concept.properties)
    if concept.inactive:
        properties.insert(0, Property("inactive", True, "boolean"))
    if concept.withdrawn:
        properties += [Property("status", "deleted", "code"),
                       Property("deleted-date", concept.withdrawn, "dateTime")]
    if concept.effective:
        properties.append(Property("effective-date", concept.effective, "dateTime"))
    if properties:
        out["property"] = [
            {"code": p.code, VALUE_KEYS.get(p.type, "valueString"): p.value} for p in properties
        ]
    return out


def _within_budget() -> bool:
    budget.check("Listing the code system's concepts")
    return True


class ConceptStream:
    """The concepts of a CodeSystem read, written out in batches (`json_chunks`) instead of
    built whole: ICD-10-CM's 98,505 concepts are 21 MB of JSON."""

    def __init__(self, concepts: Any) -> None:
        self.concepts = concepts


STREAM_BATCH = 1000


def json_chunks(resource: dict[str, Any]) -> Iterator[bytes]:
    """`resource` as JSON bytes, its ConceptStream (if any) written batch by batch last."""
    stream = resource.get("concept")
    if not isinstance(stream, ConceptStream):
        yield orjson.dumps(resource)
        return
    head = orjson.dumps({k: v for k, v in resource.items() if k != "concept"})
    yield head[:-1] + b',"concept":['
    batch: list[dict[str, Any]] = []
    separator = b""
    for concept in stream.concepts():
        batch.append(concept_json(concept))
        if len(batch) == STREAM_BATCH:
            budget.check("Listing the code system's concepts")
            yield separator + orjson.dumps(batch)[1:-1]
            batch, separator = [], b","
    if batch:
        yield separator + orjson.dumps(batch)[1:-1]
    yield b"]}"


def is_streamed(bundle: dict[str, Any]) -> bool:
    """Whether a Bundle is to be written entry by entry (bundle_chunks): its entries are shaped
    as they are written, or one of its resources has its concepts as a ConceptStream."""
    entries = bundle.get("entry", ())
    return isinstance(entries, search.Entries) or any(
        isinstance(entry["resource"].get("concept"), ConceptStream) for entry in entries)


def bundle_chunks(bundle: dict[str, Any]) -> Iterator[bytes]:
    """`bundle` as JSON bytes, entry by entry, each resource written with json_chunks: a page
    of full code systems is never held whole."""
    entries = bundle.get("entry")
    if not entries:
        yield orjson.dumps(bundle)
        return
    head = orjson.dumps({k: v for k, v in bundle.items() if k != "entry"})
    yield head[:-1] + b',"entry":['
    for index, entry in enumerate(entries):
        names = list(entry)
        at = names.index("resource")
        before = orjson.dumps({k: entry[k] for k in names[:at]})[1:-1]
        after = orjson.dumps({k: entry[k] for k in names[at + 1:]})[1:-1]
        yield (b",{" if index else b"{") + before + (b"," if before else b"") + b'"resource":'
        yield from json_chunks(entry["resource"])
        yield (b"," + after if after else b"") + b"}"
    yield b"]}"


def shape(resource: dict[str, Any], args: Any, *, concepts: Any = None,
          stream: bool = False) -> dict[str, Any]:
    """Apply `_summary` / `_elements` to a stored resource; `concepts` yields its concepts
    (with `stream`, as a ConceptStream for json_chunks)."""
    summary = search.checked_summary(args)
    elements = args.get("_elements")
    out = dict(resource)
    want_concepts = summary in ("false", "data") and concepts is not None
    subsetted = False
    if elements:
        names = {n.strip() for n in elements.split(",") if n.strip()}
        out = {k: v for k, v in out.items() if k in names or k in MANDATORY}
        want_concepts = "concept" in names and concepts is not None
        subsetted = True
    elif summary == "true":
        kept = SUMMARY_ELEMENTS.get(str(resource.get("resourceType")), _CANONICAL_SUMMARY)
        out = {k: v for k, v in out.items() if k in kept}
        subsetted = True
    elif summary == "text":
        out = {k: v for k, v in out.items() if k in MANDATORY or k == "text"}
        want_concepts, subsetted = False, True
    elif summary == "data":
        subsetted = "text" in out
        out.pop("text", None)
    if concepts is not None:
        if want_concepts:
            out["concept"] = (ConceptStream(concepts) if stream else
                              [concept_json(c) for c in concepts() if _within_budget()])
        elif resource.get("resourceType") == "CodeSystem":
            subsetted = True
    if subsetted:
        meta = dict(out.get("meta", {}))
        meta["tag"] = [*meta.get("tag", []), SUBSETTED]
        out["meta"] = meta
    return out


SOFTWARE_NAME = "txserver"
SOFTWARE_VERSION = "0.1.0"
RELEASE_DATE = "2026-11-25"
OPERATION_BASE = "http://hl7.org/fhir/OperationDefinition"


def capability_statement(base: str, writable: bool) -> dict[str, Any]:
    """What this server does; `writable`: its resources may be created, updated and deleted
    through the API (with a key: not on a read-only snapshot replica)."""
    def op(name: str, definition: str) -> dict[str, str]:
        return {"name": name, "definition": f"{OPERATION_BASE}/{definition}"}

    interactions = [{"code": code} for code in (
        "read", "search-type", *(("create", "update", "delete") if writable else ()))]

    search = [
        {"name": "_id", "type": "token"},
        {"name": "url", "type": "uri"},
        {"name": "version", "type": "token"},
        {"name": "name", "type": "string"},
        {"name": "title", "type": "string"},
        {"name": "status", "type": "token"},
    ]
    features = [
        {"url": "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature",
         "extension": [{"url": "definition", "valueCanonical": definition},
                       {"url": "value", "valueCode": value}]}
        for definition, value in (
            ("http://hl7.org/fhir/uv/tx-tests/FeatureDefinition/test-version", "1.9.0"),
            ("http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter",
             "true"),
        )
    ]
    return {
        "resourceType": "CapabilityStatement",
        "id": "txserver",
        "extension": features,
        "url": f"{base}/CapabilityStatement/txserver",
        "version": SOFTWARE_VERSION,
        "name": "TxServer",
        "title": "txserver FHIR terminology server",
        "status": "active",
        "date": RELEASE_DATE,
        "publisher": "txserver",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
        "software": {"name": SOFTWARE_NAME, "version": SOFTWARE_VERSION,
                     "releaseDate": RELEASE_DATE},
        "implementation": {"description": "txserver", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "resource": [
                {
                    "type": "CodeSystem",
                    "interaction": interactions,
                    "searchParam": search + [{"name": "system", "type": "uri"}],
                    "operation": [op("lookup", "CodeSystem-lookup"),
                                  op("validate-code", "CodeSystem-validate-code"),
                                  op("subsumes", "CodeSystem-subsumes")],
                },
                {
                    "type": "ValueSet",
                    "interaction": interactions,
                    "searchParam": search,
                    "operation": [op("expand", "ValueSet-expand"),
                                  op("validate-code", "ValueSet-validate-code")],
                },
                {
                    "type": "ConceptMap",
                    "interaction": interactions,
                    "searchParam": search,
                    "operation": [op("translate", "ConceptMap-translate")],
                },
                *({"type": kind, "operation": [op("validate", "Resource-validate")]}
                  for kind in ("Bundle", "Claim", "Procedure", "ServiceRequest")),
            ],
            "operation": [{"name": "versions",
                           "definition": "http://hl7.org/fhir/OperationDefinition/-versions"}],
        }],
    }


def terminology_capabilities(
    base: str, providers: list[Any], defaults: dict[str, str | None]
) -> dict[str, Any]:
    systems: dict[str, list[str]] = {}
    for p in providers:
        systems.setdefault(p.canonical.url, []).append(p.canonical.version or "")
    code_systems = []
    for url, versions in systems.items():
        entry: dict[str, Any] = {"uri": url}
        listed = [v for v in versions if v]
        if listed:
            default = defaults.get(url)
            entry["version"] = [
                {"code": v, **({"isDefault": True} if v == default else {})} for v in listed
            ]
        code_systems.append(entry)
    return {
        "resourceType": "TerminologyCapabilities",
        "id": "txserver",
        "url": f"{base}/TerminologyCapabilities/txserver",
        "version": SOFTWARE_VERSION,
        "name": "TxServer",
        "title": "txserver terminology capabilities",
        "status": "active",
        "date": clock.today(),
        "kind": "instance",
        "software": {"name": SOFTWARE_NAME, "version": SOFTWARE_VERSION},
        "implementation": {"description": "txserver", "url": base},
        "codeSearch": "all",
        "codeSystem": code_systems,
        "expansion": {
            "hierarchical": True,
            "paging": True,
            "incomplete": False,
            "parameter": [{"name": n} for n in EXPANSION_PARAMETERS],
            "textFilter": "Matches codes, displays and designations containing every word",
        },
        "validateCode": {"translations": False},
        "translation": {"needsMap": True},
    }


EXPANSION_PARAMETERS = (
    "activeOnly", "check-system-version", "count", "date", "designation", "displayLanguage",
    "excludeNested", "filter", "force-system-version", "includeDefinition",
    "includeDesignations", "offset", "property", "system-version", "tx-resource",
    "useSupplement", "valueSetVersion",
)
