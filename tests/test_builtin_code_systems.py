"""The built-in code systems as the server lists and serves them: TerminologyCapabilities, reads,
the all-codes value set, and a stored stub of the same system (as terminology packages carry,
`content = not-present`) giving way to the built-in content."""

from __future__ import annotations

import json
import shutil

from conftest import VALIDATE, client_for, param_dict

from codesystems.fhir_json import loader as fhir_loader
from terminology.store import Store

BUILTINS = {"urn:ietf:bcp:47": None, "http://unitsofmeasure.org": "2.2", "urn:ietf:bcp:13": None,
            "urn:iso:std:iso:3166": "2018", "urn:iso:std:iso:4217": None}


def test_terminology_capabilities_list_them(client):
    body = client.get("/fhir/metadata", query_string={"mode": "terminology"}).fhir
    listed = {cs["uri"]: cs.get("version") for cs in body["codeSystem"]}
    for url, version in BUILTINS.items():
        assert url in listed
        assert listed[url] == ([{"code": version, "isDefault": True}] if version else None)


def test_read_by_id_without_a_concept_count(client):
    ucum = client.get("/fhir/CodeSystem/ucum").fhir
    assert ucum["url"] == "http://unitsofmeasure.org" and ucum["version"] == "2.2"
    assert ucum["content"] == "complete" and "count" not in ucum
    assert "Regenstrief" in ucum["copyright"]
    countries = client.get("/fhir/CodeSystem/iso3166").fhir
    assert countries["count"] == 789


def test_all_codes_holds_only_the_stored_systems(client):
    body = client.get("/fhir/ValueSet/all-codes").fhir
    systems = {i["system"] for i in body["compose"]["include"]}
    assert systems and not systems & set(BUILTINS)


def test_a_stored_not_present_stub_gives_way(tmp_path, db_path):
    stub = tmp_path / "CodeSystem-v3-ietf3066.json"
    stub.write_text(json.dumps({
        "resourceType": "CodeSystem", "id": "v3-ietf3066", "url": "urn:ietf:bcp:47",
        "version": "2.0.1", "name": "Ietf3066", "status": "active", "caseSensitive": True,
        "content": "not-present"}), encoding="utf-8")
    path = tmp_path / "store.db"
    shutil.copy(db_path, path)
    fhir_loader.import_paths(Store(path), [stub])
    client = client_for(path)
    params = param_dict(client.get(VALIDATE, query_string={
        "url": "urn:ietf:bcp:47", "code": "en-AU"}).fhir)
    assert params["result"] == [True] and params["display"] == ["English (Australia)"]
    assert client.get("/fhir/CodeSystem/v3-ietf3066").fhir["content"] == "not-present"


def test_all_codes_leaves_out_stored_systems_without_concepts(tmp_path, db_path):
    """A package's stub of a code system it does not hold (`content = not-present`, as
    hl7.terminology carries for SNOMED CT or time-period-ranges) has no codes to search: all
    codes is searched without it, not refused because of it."""
    stub = tmp_path / "CodeSystem-absent.json"
    stub.write_text(json.dumps({
        "resourceType": "CodeSystem", "id": "absent", "url": "http://example.org/cs/absent",
        "version": "1", "name": "Absent", "status": "active", "content": "not-present"}),
        encoding="utf-8")
    path = tmp_path / "store.db"
    shutil.copy(db_path, path)
    fhir_loader.import_paths(Store(path), [stub])
    client = client_for(path)
    listed = {i["system"] for i in client.get("/fhir/ValueSet/all-codes").fhir["compose"]["include"]}
    assert "http://example.org/cs/absent" not in listed and "http://www.ama-assn.org/go/cpt" in listed
    response = client.get("/fhir/ValueSet/all-codes/$expand",
                          query_string={"filter": "facet", "count": 5})
    assert response.status_code == 200, response.fhir
    used = [p["valueUri"] for p in response.fhir["expansion"]["parameter"]
            if p["name"] == "used-codesystem"]
    assert not any(u.startswith("http://example.org/cs/absent") for u in used)
    assert "64636" in [c["code"] for c in response.fhir["expansion"]["contains"]]
