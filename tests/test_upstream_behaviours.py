"""Behaviours the newer HL7 tx-ecosystem tests pin down, checked on our own small code system:
ValueSet.compose.property (R5; in R4 its cross-version extension), repeating property values,
a filter that selects nothing, and the $subsumes errors (no system, unknown code).
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import expansion_codes, issues_of, message_ids, param_dict, parameters, tx_types

EXPAND = "/fhir/ValueSet/$expand"
SUBSUMES = "/fhir/CodeSystem/$subsumes"
TOOLS = "http://example.org/fhir/CodeSystem/tools"
EXT_COMPOSE_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.property")
EXT_EXPANSION_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property")
EXT_CONTAINS_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property")

TOOLS_CS = {
    "resourceType": "CodeSystem", "url": TOOLS, "version": "2.0", "status": "active",
    "content": "complete", "hierarchyMeaning": "is-a",
    "property": [
        {"code": "material", "uri": "http://example.org/props#material", "type": "code"},
        {"code": "mass", "type": "decimal"},
        {"code": "powered", "type": "boolean"},
    ],
    "concept": [
        {"code": "hand-tool", "display": "Hand tool", "concept": [
            {"code": "hammer", "display": "Hammer", "property": [
                {"code": "material", "valueCode": "steel"},
                {"code": "material", "valueCode": "wood"},
                {"code": "mass", "valueDecimal": 1.5}],
             "concept": [{"code": "mallet", "display": "Mallet"}]},
            {"code": "saw", "display": "Saw", "property": [
                {"code": "material", "valueCode": "steel"}]}]},
        {"code": "drill", "display": "Drill", "property": [
            {"code": "powered", "valueBoolean": True}]},
    ],
}


def _valueset(compose: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/tools-test",
            "version": "1", "status": "active", "compose": compose}


def _expand(client: Any, valueset: dict[str, Any], *extra: tuple[str, str, Any]) -> dict:
    r = client.post_parameters(EXPAND, parameters(
        ("valueSet", "resource", valueset), ("tx-resource", "resource", TOOLS_CS),
        ("excludeNested", "valueBoolean", True), *extra))
    assert r.status_code == 200, r.fhir
    return r.fhir


def _declared(body: dict[str, Any]) -> dict[str, str | None]:
    out = {}
    for ext in body["expansion"].get("extension", []):
        if ext["url"] == EXT_EXPANSION_PROPERTY:
            parts = {p["url"]: p for p in ext["extension"]}
            out[parts["code"]["valueCode"]] = (parts.get("uri") or {}).get("valueUri")
    return out


def _shown(body: dict[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """{code: [(property, value), ...]} from the contains.property extensions."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for item in body["expansion"].get("contains", []):
        for ext in item.get("extension", []):
            if ext["url"] == EXT_CONTAINS_PROPERTY:
                parts = {p["url"]: p for p in ext["extension"]}
                value = next(v for k, v in parts["value"].items() if k.startswith("value"))
                out.setdefault(item["code"], []).append((parts["code"]["valueCode"], value))
    return out


# -- ValueSet.compose.property -----------------------------------------------------------------


def test_compose_property_extension_names_the_properties_shown(client):
    vs = _valueset({"include": [{"system": TOOLS}], "extension": [
        {"url": EXT_COMPOSE_PROPERTY, "valueCode": "mass"},
        {"url": EXT_COMPOSE_PROPERTY, "valueCode": "powered"}]})
    body = _expand(client, vs)
    assert _declared(body) == {"mass": None, "powered": None}
    assert _shown(body) == {"hammer": [("mass", 1.5)], "drill": [("powered", True)]}


def test_compose_property_r5_element_and_wildcard(client):
    body = _expand(client, _valueset({"include": [{"system": TOOLS}], "property": ["*"]}))
    assert _declared(body) == {"material": "http://example.org/props#material",
                               "mass": None, "powered": None}
    assert _shown(body)["saw"] == [("material", "steel")]
    assert _shown(body)["drill"] == [("powered", True)]


def test_compose_property_adds_to_the_property_parameter(client):
    vs = _valueset({"include": [{"system": TOOLS}], "property": ["powered"]})
    body = _expand(client, vs, ("property", "valueString", "mass"))
    assert set(_declared(body)) == {"mass", "powered"}


def test_without_compose_property_no_properties_are_shown(client):
    body = _expand(client, _valueset({"include": [{"system": TOOLS}]}))
    assert _declared(body) == {} and _shown(body) == {}


# -- repeating property values, empty filters ----------------------------------------------------


def test_filter_matches_any_value_of_a_repeating_property(client):
    vs = _valueset({"include": [{"system": TOOLS, "filter": [
        {"property": "material", "op": "=", "value": "wood"}]}]})
    body = _expand(client, vs, ("property", "valueString", "material"))
    assert expansion_codes(body) == ["hammer"]
    assert _shown(body)["hammer"] == [("material", "steel"), ("material", "wood")]


def test_filter_selecting_nothing_gives_an_empty_expansion(client):
    vs = _valueset({"include": [{"system": TOOLS, "filter": [
        {"property": "code", "op": "regex", "value": "spanner.*"}]}]})
    body = _expand(client, vs)
    assert body["expansion"]["total"] == 0
    assert expansion_codes(body) == []


# -- $subsumes errors ---------------------------------------------------------------------------


def _subsumes(client: Any, *items: tuple[str, str, Any]) -> Any:
    return client.post_parameters(SUBSUMES, parameters(("tx-resource", "resource", TOOLS_CS),
                                                       *items))


@pytest.mark.parametrize("items, parameter", [
    ((("system", "valueUri", TOOLS), ("codeA", "valueCode", "spanner"),
      ("codeB", "valueCode", "hammer")), "codeA"),
    ((("codingA", "valueCoding", {"system": TOOLS, "code": "hammer"}),
      ("codingB", "valueCoding", {"system": TOOLS, "code": "spanner"})), "codingB"),
])
def test_subsumes_unknown_code_is_code_invalid(client, items, parameter):
    r = _subsumes(client, *items)
    assert r.status_code == 404
    [issue] = issues_of(r.fhir)
    assert issue["code"] == "code-invalid"
    assert tx_types(issue) == ["invalid-code"]
    assert message_ids(issue) == ["Unknown_Code_in_Version"]
    assert issue["expression"] == [parameter]
    assert issue["details"]["text"] == (
        f"Unknown code 'spanner' in the CodeSystem '{TOOLS}' version '2.0'")


@pytest.mark.parametrize("items", [
    (("codeA", "valueCode", "hand-tool"), ("codeB", "valueCode", "hammer")),
    (("codingA", "valueCoding", {"code": "hand-tool"}),
     ("codingB", "valueCoding", {"code": "hammer"})),
])
def test_subsumes_without_a_system_is_an_invalid_request(client, items):
    r = _subsumes(client, *items)
    assert r.status_code == 400
    [issue] = issues_of(r.fhir)
    assert issue["code"] == "invalid"
    assert tx_types(issue) == ["invalid-data"]
    assert message_ids(issue) == ["SUBSUMPTION_NO_SYSTEM"]


def test_subsumes_with_codings_follows_the_nesting(client):
    r = _subsumes(client, ("codingA", "valueCoding", {"system": TOOLS, "code": "hand-tool"}),
                  ("codingB", "valueCoding", {"system": TOOLS, "code": "mallet"}))
    assert r.status_code == 200, r.fhir
    assert param_dict(r.fhir)["outcome"] == ["subsumes"]


# -- $validate-code with parts missing ----------------------------------------------------------

VS_VALIDATE = "/fhir/ValueSet/$validate-code"
CS_VALIDATE = "/fhir/CodeSystem/$validate-code"
ALL_TOOLS = _valueset({"include": [{"system": TOOLS}]})


def _validate(client: Any, path: str, *items: tuple[str, str, Any]) -> dict[str, Any]:
    extra = (("valueSet", "resource", ALL_TOOLS),) if path == VS_VALIDATE else ()
    r = client.post_parameters(path, parameters(("tx-resource", "resource", TOOLS_CS),
                                                *extra, *items))
    assert r.status_code == 200, r.fhir
    return r.fhir


@pytest.mark.parametrize("path", [VS_VALIDATE, CS_VALIDATE])
def test_a_coding_without_a_code_is_a_warning_and_not_valid(client, path):
    body = _validate(client, path, ("coding", "valueCoding", {"system": TOOLS}))
    assert param_dict(body)["result"] == [False]
    [issue] = issues_of(body)
    assert (issue["severity"], issue["code"], issue["expression"]) == (
        "warning", "invalid", ["Coding"])
    assert tx_types(issue) == ["invalid-data"]
    assert "no code" in issue["details"]["text"]


def test_a_coding_with_only_a_display_is_one_warning(client):
    body = _validate(client, VS_VALIDATE, ("coding", "valueCoding", {"display": "Hammer"}))
    assert param_dict(body)["result"] == [False]
    [issue] = issues_of(body)
    assert issue["severity"] == "warning"
    assert message_ids(issue) == ["Coding_has_no_system_or_code__cannot_validate"]


def test_a_code_system_coding_without_a_system_is_a_warning(client):
    body = _validate(client, CS_VALIDATE, ("codeableConcept", "valueCodeableConcept",
                                           {"coding": [{"code": "hammer"}]}))
    assert param_dict(body)["result"] == [False]
    [issue] = issues_of(body)
    assert issue["severity"] == "warning"
    assert issue["expression"] == ["CodeableConcept.coding[0]"]
    assert message_ids(issue) == ["Coding_has_no_system__cannot_validate"]


def test_a_text_only_codeable_concept_is_not_in_the_value_set(client):
    body = _validate(client, VS_VALIDATE, ("codeableConcept", "valueCodeableConcept",
                                           {"text": "a hammer"}))
    assert param_dict(body)["result"] == [False]
    [issue] = issues_of(body)
    assert issue["severity"] == "error"
    assert message_ids(issue) == ["TX_GENERAL_CC_ERROR_MESSAGE"]


def test_infer_system_does_not_apply_to_a_coding(client):
    body = _validate(client, VS_VALIDATE, ("coding", "valueCoding", {"code": "hammer"}),
                     ("inferSystem", "valueBoolean", True))
    assert param_dict(body)["result"] == [False]
    assert "Coding_has_no_system__cannot_validate" in [
        m for i in issues_of(body) for m in message_ids(i)]


def test_an_unknown_system_beside_a_valid_coding_is_not_checked(client):
    body = _validate(client, VS_VALIDATE, ("codeableConcept", "valueCodeableConcept", {
        "coding": [{"system": "http://example.org/fhir/CodeSystem/no-such", "code": "x"},
                   {"system": TOOLS, "code": "hammer"}]}))
    params = param_dict(body)
    assert params["result"] == [True]
    assert "x-unknown-system" not in params
    [unchecked] = [i for i in issues_of(body) if i["code"] == "not-found"]
    assert unchecked["severity"] == "warning"
    assert message_ids(unchecked) == ["UNKNOWN_CODESYSTEM_CODING_NOT_CHECKED"]
