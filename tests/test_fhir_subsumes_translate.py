"""CodeSystem/$subsumes on the body-site hierarchy, and ConceptMap/$translate: our body-site ->
legacy-site map (R4 and R5 parameter names), and the CMS add-on map on the CPT sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import server
from codesystems.fhir_json import loader as fhir_loader
from conftest import (
    BODY_SITE,
    BODY_SITE_MAP,
    CPT,
    LEGACY_SITE,
    FhirClient,
    fhir_fixture,
    issues_of,
    outcome_text,
    param_dict,
    parameters,
)
from terminology.store import Store

SUBSUMES = "/fhir/CodeSystem/$subsumes"
TRANSLATE = "/fhir/ConceptMap/$translate"
ORIGIN = BODY_SITE_MAP + "|1.0.0"


# -- $subsumes -------------------------------------------------------------------------------


def outcome(client: Any, a: str, b: str) -> str:
    r = client.get(SUBSUMES, query_string={"system": BODY_SITE, "codeA": a, "codeB": b})
    assert r.status_code == 200, r.fhir
    return param_dict(r.fhir)["outcome"][0]


@pytest.mark.parametrize("a, b, expected", [
    ("limb", "upper-limb", "subsumes"),
    ("limb", "left-hand", "subsumes"),  # two levels down
    ("upper-limb", "limb", "subsumed-by"),
    ("right-foot", "limb", "subsumed-by"),
    ("skull", "skull", "equivalent"),
    ("skull", "left-hand", "not-subsumed"),
    ("upper-limb", "lower-limb", "not-subsumed"),
    ("left-hand", "right-hand", "not-subsumed"),
    ("head", "scalp-old", "subsumes"),  # inactive codes keep their place
])
def test_subsumes(fhir_client, a, b, expected):
    assert outcome(fhir_client, a, b) == expected


def test_subsumes_with_codings_by_post(fhir_client):
    r = fhir_client.post_parameters(SUBSUMES, parameters(
        ("codingA", "valueCoding", {"system": BODY_SITE, "code": "left-foot"}),
        ("codingB", "valueCoding", {"system": BODY_SITE, "code": "lower-limb"})))
    assert r.status_code == 200, r.fhir
    assert param_dict(r.fhir)["outcome"] == ["subsumed-by"]


@pytest.mark.parametrize("a, b, unknown", [("skull", "elbow", "elbow"),
                                           ("elbow", "skull", "elbow")])
def test_subsumes_unknown_code_is_404(fhir_client, a, b, unknown):
    r = fhir_client.get(SUBSUMES, query_string={"system": BODY_SITE, "codeA": a, "codeB": b})
    assert r.status_code == 404
    assert f"'{unknown}'" in outcome_text(r.fhir)


def test_subsumes_unknown_system_is_404(fhir_client):
    r = fhir_client.get(SUBSUMES, query_string={
        "system": "http://example.org/fhir/CodeSystem/no-such-system", "codeA": "a", "codeB": "b"})
    assert r.status_code == 404


def test_subsumes_codes_of_two_systems_is_400(fhir_client):
    r = fhir_client.post_parameters(SUBSUMES, parameters(
        ("codingA", "valueCoding", {"system": BODY_SITE, "code": "left-hand"}),
        ("codingB", "valueCoding", {"system": LEGACY_SITE, "code": "HND-L"})))
    assert r.status_code == 400
    text = outcome_text(r.fhir)
    assert BODY_SITE in text and LEGACY_SITE in text


def test_subsumes_tx_resource_code_system(client):
    r = client.post_parameters(SUBSUMES, parameters(
        ("system", "valueUri", BODY_SITE), ("codeA", "valueCode", "limb"),
        ("codeB", "valueCode", "right-hand"),
        ("tx-resource", "resource", fhir_fixture("codesystem-body-site.json"))))
    assert r.status_code == 200, r.fhir
    assert param_dict(r.fhir)["outcome"] == ["subsumes"]


# -- $translate ------------------------------------------------------------------------------


def translate(client: Any, **query: Any) -> dict[str, Any]:
    r = client.get(TRANSLATE, query_string=query)
    assert r.status_code == 200, r.fhir
    return r.fhir


def matches(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each match as {part name: value}, codings reduced to (system, code)."""
    out = []
    for m in param_dict(body).get("match", []):
        row = {}
        for name, [value] in m.items():
            row[name] = (value.get("system"), value.get("code")) if isinstance(value,
                                                                                dict) else value
        out.append(row)
    return out


def test_translate_r4_names(fhir_client):
    body = translate(fhir_client, system=BODY_SITE, code="left-hand", targetsystem=LEGACY_SITE)
    assert param_dict(body)["result"] == [True]
    assert matches(body) == [{"equivalence": "equivalent", "concept": (LEGACY_SITE, "HND-L"),
                              "originMap": ORIGIN}]


def test_translate_r4_names_by_post_with_a_coding(fhir_client):
    r = fhir_client.post_parameters(TRANSLATE, parameters(
        ("coding", "valueCoding", {"system": BODY_SITE, "code": "left-foot"}),
        ("targetsystem", "valueUri", LEGACY_SITE)))
    assert r.status_code == 200, r.fhir
    assert matches(r.fhir) == [{"equivalence": "wider", "concept": (LEGACY_SITE, "FT"),
                                "originMap": ORIGIN}]


def test_translate_r5_names(fhir_client):
    body = translate(fhir_client, sourceSystem=BODY_SITE, sourceCode="right-hand",
                     targetSystem=LEGACY_SITE)
    assert param_dict(body)["result"] == [True]
    assert [m["concept"] for m in matches(body)] == [(LEGACY_SITE, "HND-R")]


def test_translate_r5_target_code_is_the_reverse_question(fhir_client):
    body = translate(fhir_client, targetCode="FT", targetSystem=LEGACY_SITE,
                     sourceSystem=BODY_SITE)
    assert param_dict(body)["result"] == [True]
    found = matches(body)
    assert sorted(m["source"] for m in found) == [(BODY_SITE, "left-foot"),
                                                  (BODY_SITE, "right-foot")]
    assert all(m["concept"] == (LEGACY_SITE, "FT") and m["equivalence"] == "wider"
               for m in found)


def test_translate_r4_reverse(fhir_client):
    body = translate(fhir_client, system=LEGACY_SITE, code="HND-L", reverse="true")
    assert param_dict(body)["result"] == [True]
    assert [m["source"] for m in matches(body)] == [(BODY_SITE, "left-hand")]


def test_translate_by_map_url_and_instance(fhir_client):
    by_url = translate(fhir_client, url=BODY_SITE_MAP, system=BODY_SITE, code="right-hand")
    assert [m["concept"] for m in matches(by_url)] == [(LEGACY_SITE, "HND-R")]
    r = fhir_client.get("/fhir/ConceptMap/body-site-to-legacy/$translate",
                        query_string={"system": BODY_SITE, "code": "right-hand"})
    assert r.status_code == 200, r.fhir
    assert [m["concept"] for m in matches(r.fhir)] == [(LEGACY_SITE, "HND-R")]


@pytest.mark.parametrize("query", [
    {"system": BODY_SITE, "code": "head"},  # not in the map at all
    {"system": BODY_SITE, "code": "left-hand", "targetsystem": "http://example.org/other"},
    {"system": LEGACY_SITE, "code": "HND-L"},  # the map goes the other way
])
def test_translate_no_match(fhir_client, query):
    body = translate(fhir_client, **query)
    assert param_dict(body)["result"] == [False]
    [message] = param_dict(body)["message"]
    assert f"'{query['code']}'" in message
    assert [m for m in matches(body) if "concept" in m] == []


def test_translate_unmatched_element_is_no_match(fhir_client):
    body = translate(fhir_client, system=BODY_SITE, code="skull")
    assert param_dict(body)["result"] == [False]
    assert param_dict(body)["message"]
    assert all(m["equivalence"] == "unmatched" and "concept" not in m for m in matches(body))


def test_translate_unknown_map_is_404(fhir_client):
    r = fhir_client.get(TRANSLATE, query_string={
        "url": "http://example.org/fhir/ConceptMap/no-such-map", "system": BODY_SITE,
        "code": "left-hand"})
    assert r.status_code == 404


def test_translate_without_a_code_is_400(fhir_client):
    r = fhir_client.get(TRANSLATE, query_string={"system": BODY_SITE})
    assert r.status_code == 400


MINI_MAP = {
    "resourceType": "ConceptMap", "id": "mini-site-map",
    "url": "http://example.org/fhir/ConceptMap/mini-site-map", "version": "1", "status": "active",
    "group": [{
        "source": BODY_SITE, "target": LEGACY_SITE,
        "element": [{"code": "left-hand",
                     "target": [{"code": "HND-L", "display": "Hand, left",
                                 "equivalence": "equivalent"}]}],
        "unmapped": {"mode": "fixed", "code": "FT", "display": "Foot, either side"},
    }],
}


def mini_clients(tmp_path: Path) -> tuple[FhirClient, FhirClient]:
    """A client over a store with MINI_MAP imported, and one over an empty store."""
    stored = tmp_path / "stored.db"
    (tmp_path / "mini.json").write_text(json.dumps(MINI_MAP), encoding="utf-8")
    fhir_loader.import_paths(Store(stored), [tmp_path / "mini.json"])
    empty = tmp_path / "empty.db"
    return (FhirClient(server.create_app({"DB": str(stored)}).test_client()),
            FhirClient(server.create_app({"DB": str(empty)}).test_client()))


def translate_both(tmp_path: Path, code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    stored, empty = mini_clients(tmp_path)
    query = {"url": MINI_MAP["url"], "system": BODY_SITE, "code": code}
    a = stored.get(TRANSLATE, query_string=query)
    b = empty.post_parameters(TRANSLATE, parameters(
        ("url", "valueUri", MINI_MAP["url"]), ("system", "valueUri", BODY_SITE),
        ("code", "valueCode", code), ("tx-resource", "resource", MINI_MAP)))
    assert a.status_code == b.status_code == 200, (a.fhir, b.fhir)
    return a.fhir, b.fhir


def test_tx_resource_map_uses_unmapped_and_display(tmp_path):
    _, as_tx_resource = translate_both(tmp_path, "right-foot")
    assert param_dict(as_tx_resource)["result"] == [True]
    [match] = param_dict(as_tx_resource)["match"]
    assert match["concept"] == [{"system": LEGACY_SITE, "code": "FT",
                                 "display": "Foot, either side"}]


def test_imported_map_uses_unmapped_like_a_tx_resource(tmp_path):
    stored, as_tx_resource = translate_both(tmp_path, "right-foot")
    assert stored == as_tx_resource


def test_imported_map_gives_the_target_display_like_a_tx_resource(tmp_path):
    stored, as_tx_resource = translate_both(tmp_path, "left-hand")
    assert param_dict(as_tx_resource)["match"][0]["concept"][0]["display"] == "Hand, left"
    assert stored == as_tx_resource


# -- the CMS add-on map on the CPT sample (the conftest store) -------------------------------


CMS_MAP = "urn:txserver:ConceptMap/cms-add-on-code-edits"


def test_cpt_add_on_code_translates_to_its_primary(client):
    body = translate(client, system=CPT, code="64636")
    assert param_dict(body)["result"] == [True]
    found = matches(body)
    assert [m["concept"] for m in found] == [(CPT, "64635")]
    assert found[0]["originMap"].partition("|")[0] == CMS_MAP


def test_cpt_add_on_code_r5_names_and_map_url(client):
    body = translate(client, url=CMS_MAP, sourceSystem=CPT, sourceCode="64636",
                     targetSystem=CPT)
    assert [m["concept"] for m in matches(body)] == [(CPT, "64635")]


def test_cpt_primary_code_reverse_finds_the_add_on(client):
    body = translate(client, targetCode="64635", targetSystem=CPT, sourceSystem=CPT)
    assert param_dict(body)["result"] == [True]
    assert (CPT, "64636") in [m["source"] for m in matches(body)]


def test_cpt_primary_code_has_no_forward_translation(client):
    body = translate(client, system=CPT, code="64635")
    assert param_dict(body)["result"] == [False]
    assert "64635" in param_dict(body)["message"][0]


def test_translate_unknown_map_instance_is_404(fhir_client):
    r = fhir_client.get("/fhir/ConceptMap/no-such-map/$translate",
                        query_string={"system": BODY_SITE, "code": "left-hand"})
    assert r.status_code == 404
    [issue] = issues_of(r.fhir)
    assert issue["code"] == "not-found"
    assert "no-such-map" in issue["details"]["text"]
