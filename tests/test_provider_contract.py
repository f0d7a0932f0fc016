"""The provider contract at work: capabilities are what a provider declares, and a provider
seen with supplements keeps all of them (CPT with its lay supplement still reads modifier
expressions, answers its own filters and says when an expansion cannot list every member).

Through the real app over the store of every sample (web_store.py), with the CPT lay
supplement and the body-site code system and its supplement loaded.
"""

from __future__ import annotations

import json

from conftest import CPT, FHIR_DATA, LOOKUP, FhirClient, expansion_codes, properties
from web_store import web_app  # noqa: F401 (a fixture)

from codesystems.cpt import definition as cpt_definition
from codesystems.cpt import loader as cpt_loader
from terminology.provider import (
    AsLoaded,
    CodeSystemProvider,
    DatedFacts,
    ExpansionLimit,
    ExplainsUnknownCodes,
    Expressions,
    Hierarchy,
    LenientWhitespace,
    PagedListing,
    SpecialFilters,
    Supplementable,
    TextSearch,
)

LAY = "urn:txserver:CodeSystem/cpt-lay"
EXPAND = "/fhir/ValueSet/$expand"
UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"
CAPABILITIES = (AsLoaded, DatedFacts, ExpansionLimit, ExplainsUnknownCodes, Expressions,
                Hierarchy, LenientWhitespace, PagedListing, SpecialFilters, Supplementable,
                TextSearch)


def _capabilities(provider: object) -> set[str]:
    return {c.__name__ for c in CAPABILITIES if isinstance(provider, c)}


def _supplement_of(provider: CodeSystemProvider) -> list[dict]:
    """The supplement the web store holds for this code system, if any."""
    url = provider.canonical.url
    for path in (cpt_loader.LAY_SUPPLEMENT, FHIR_DATA / "codesystem-body-site-supplement.json"):
        resource = json.loads(path.read_text(encoding="utf-8"))
        if resource["supplements"].partition("|")[0] == url:
            return [resource]
    return []


def test_cpt_declares_what_its_definition_says(web_app) -> None:
    cpt = web_app.extensions["registry"].resolve(CPT)
    assert {"Expressions", "SpecialFilters", "ExpansionLimit", "LenientWhitespace",
            "DatedFacts", "PagedListing"} <= _capabilities(cpt)
    assert cpt.closing_filters == cpt_definition.CLOSING_FILTERS
    assert cpt.expand_limit == cpt_definition.EXPAND_LIMIT == 1000
    assert cpt.lenient_whitespace is cpt_definition.LENIENT_WHITESPACE


def test_a_supplemented_provider_keeps_every_capability(web_app) -> None:
    registry = web_app.extensions["registry"]
    checked = 0
    for provider in registry.providers():
        supplements = _supplement_of(provider)
        if not supplements:
            continue
        assert isinstance(provider, Supplementable)
        seen = provider.with_supplements(supplements)
        assert type(seen) is type(provider)
        assert _capabilities(seen) == _capabilities(provider), provider.canonical
        assert set(provider.property_defs) < set(seen.property_defs)  # the supplement's too
        checked += 1
    assert checked >= 3  # CPT 2025 and 2026, and the body-site code system


def test_cpt_with_its_lay_supplement_still_reads_expressions(web_app) -> None:
    web = FhirClient(web_app.test_client())
    body = web.get(LOOKUP, query_string={"system": CPT, "code": "64636:50",
                                         "useSupplement": LAY}).fhir
    found = properties(body)
    assert found["modified"] == [True] and found["modifier"] == ["50"]
    assert "summary" not in found  # an expression is not a concept the supplement describes
    base = properties(web.get(LOOKUP, query_string={"system": CPT, "code": "64636",
                                                     "useSupplement": LAY}).fhir)
    assert base["summary"] and base["add-on"] == [True]  # the supplement and CPT's own facts


def _expand_inline(web: FhirClient, include: dict, **query: str) -> dict:
    valueset = {"resourceType": "ValueSet", "url": "urn:test:vs", "status": "active",
                "compose": {"include": [include]}}
    parameters = [{"name": "valueSet", "resource": valueset}]
    parameters += [{"name": name, "valueString": value} for name, value in query.items()]
    response = web.post(EXPAND, json={"resourceType": "Parameters", "parameter": parameters},
                        content_type="application/fhir+json")
    assert response.status_code == 200, response.fhir
    return response.fhir


def _unclosed(body: dict) -> bool:
    return any(e["url"] == UNCLOSED and e["valueBoolean"]
               for e in body["expansion"].get("extension", []))


def test_cpt_with_its_lay_supplement_keeps_its_filters_and_says_when_unclosed(web_app) -> None:
    web = FhirClient(web_app.test_client())
    modifiers = {"system": CPT, "filter": [{"property": "modifier", "op": "=", "value": "true"}]}
    body = _expand_inline(web, modifiers, useSupplement=LAY)
    codes = expansion_codes(body)
    assert codes and all(len(code) == 2 for code in codes)  # CPT's own filter answered it
    assert not _unclosed(body)  # `modifier = true` is one of CPT's closing filters
    ranges = {"system": CPT, "filter": [{"property": "code", "op": "in",
                                         "value": "64633-64636"}]}
    body = _expand_inline(web, ranges, useSupplement=LAY)
    assert set(expansion_codes(body)) == {"64633", "64634", "64635", "64636"}
    assert _unclosed(body)  # expressions such as 64636:50 are members no listing holds


def test_every_stored_code_system_reads_a_page_and_counts_what_it_lists(web_app) -> None:
    """PagedListing: a page at an offset is that part of the listing, and count() is the
    length of the listing (a whole code system's pages and totals rely on both)."""
    registry = web_app.extensions["registry"]
    with registry.snapshot():
        for provider in registry.providers():
            assert isinstance(provider, PagedListing), provider.canonical
            listed = [c.code for c in provider.iter_concepts()]
            assert provider.count() == len(listed), provider.canonical
            for offset in (0, 1, len(listed) // 2, len(listed)):
                page = [c.code for c in provider.concept_page(offset, 3)]
                assert page == listed[offset:offset + 3], (provider.canonical, offset)
