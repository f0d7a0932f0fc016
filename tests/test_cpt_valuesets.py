"""The THO value sets over CPT, CPT's own filters, implicit value sets and expansion limits."""

from __future__ import annotations

from conftest import expansion_codes, param_dict

from server import create_app

CPT = "http://www.ama-assn.org/go/cpt"
THO = "http://terminology.hl7.org/ValueSet/"
EXPAND = "/fhir/ValueSet/$expand"
VALIDATE = "/fhir/ValueSet/$validate-code"
UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"


def _expand(client, **query):
    response = client.get(EXPAND, query_string=query)
    assert response.status_code == 200, response.fhir
    return response.fhir


def _in(client, valueset: str, code: str) -> bool:
    body = client.get(VALIDATE, query_string={"url": valueset, "system": CPT, "code": code}).fhir
    return param_dict(body)["result"] == [True]


def _unclosed(body) -> bool:
    return any(e["url"] == UNCLOSED and e["valueBoolean"]
               for e in body["expansion"].get("extension", []))


def test_cpt_value_sets_are_served(client):
    bundle = client.get("/fhir/ValueSet", query_string={"url": THO + "cpt-base"}).fhir
    assert bundle["total"] == 1
    assert client.get("/fhir/ValueSet/cpt-modifiers").status_code == 200


def test_base_codes_exclude_modifiers(client):
    codes = expansion_codes(_expand(client, url=THO + "cpt-base"))
    assert "64636" in codes and "99202" in codes
    assert "25" not in codes and "P1" not in codes


def test_modifiers_are_only_modifiers(client):
    codes = expansion_codes(_expand(client, url=THO + "cpt-modifiers"))
    assert {"25", "50", "59", "95", "P1", "1P", "F1"} <= set(codes)
    assert "99202" not in codes


def test_expressions_are_members_of_all_and_usable_but_not_base(client):
    assert _in(client, THO + "cpt-usable", "99213:25")
    assert _in(client, THO + "cpt-all", "99202:25:95")
    assert not _in(client, THO + "cpt-base", "99213:25")
    assert not _in(client, THO + "cpt-usable", "25")
    assert _in(client, THO + "cpt-modifiers", "25")


def test_an_invalid_expression_is_not_a_member_and_says_why(client):
    body = client.get(VALIDATE, query_string={"url": THO + "cpt-all", "system": CPT,
                                             "code": "99252:95"}).fhir
    params = param_dict(body)
    assert params["result"] == [False]
    assert "telemedicine" in params["message"][0]


def test_expansions_that_could_hold_expressions_are_unclosed(client):
    assert _unclosed(_expand(client, url=THO + "cpt-all"))
    assert _unclosed(_expand(client, url=THO + "cpt-usable"))
    assert not _unclosed(_expand(client, url=THO + "cpt-base"))
    assert not _unclosed(_expand(client, url=THO + "cpt-modifiers"))


def test_code_in_ranges_filter(client):
    valueset = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{
        "system": CPT, "filter": [{"property": "code", "op": "in",
                                   "value": "64633-64635,99211"}]}]}}
    response = client.post(EXPAND, json={"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": valueset}]})
    assert response.status_code == 200, response.fhir
    assert sorted(expansion_codes(response.fhir)) == ["64633", "64634", "64635", "99211"]


def test_add_on_and_telemedicine_filters(client):
    def codes_for(prop: str) -> list[str]:
        valueset = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{
            "system": CPT, "filter": [{"property": prop, "op": "=", "value": "true"}]}]}}
        body = client.post(EXPAND, json={"resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": valueset}]}).fhir
        return sorted(expansion_codes(body))

    # 0001U is a Type 2 add-on (contractor-defined primaries) in the CMS sample
    assert codes_for("add-on") == ["0001U", "64634", "64636"]
    assert "99252" not in codes_for("telemedicine") and "99202" in codes_for("telemedicine")


def test_text_filter(client):
    codes = expansion_codes(_expand(client, url=THO + "cpt-all", filter="facet joint"))
    assert sorted(codes) == ["64633", "64634", "64635", "64636"]


def test_implicit_value_sets(client):
    everything = expansion_codes(_expand(client, url=CPT + "?fhir_vs"))
    assert "64636" in everything and "25" in everything
    assert _in(client, CPT + "?fhir_vs", "99213:25")
    missing = client.get(EXPAND, query_string={"url": "http://example.org/none?fhir_vs"})
    assert missing.status_code == 404


def test_cpt_expansions_are_capped_and_unbounded_ones_too_costly(db_path):
    app = create_app({"DB": str(db_path), "EXPAND_LIMIT": 10})
    client = app.test_client()
    refused = client.get(EXPAND, query_string={"url": THO + "cpt-all"})
    assert refused.status_code == 422
    issue = refused.get_json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert "too many codes to produce (>10)" in issue["details"]["text"]
    paged = client.get(EXPAND, query_string={"url": THO + "cpt-all", "count": 5})
    assert paged.status_code == 200
    assert len(paged.get_json()["expansion"]["contains"]) == 5
    lowered = client.get(EXPAND, query_string={"url": THO + "cpt-modifiers"},
                         headers={"X-TOO-COSTLY-THRESHOLD": "3"})
    assert lowered.status_code == 422


def test_all_codes_value_set_searches_every_code_system(client):
    body = client.get("/fhir/ValueSet/all-codes/$expand",
                      query_string={"filter": "64636"}).fhir
    assert expansion_codes(body)[0] == "64636"
    by_url = _expand(client, url="urn:txserver:ValueSet/all-codes", filter="facet joint",
                     count=2)
    assert len(by_url["expansion"]["contains"]) == 2
    assert by_url["expansion"]["total"] == 4
    assert client.get("/fhir/ValueSet/all-codes").status_code == 200


# -- one listing per value set: built-in ones only where their code system is ----------------


def test_without_cpt_the_cpt_value_sets_are_not_listed(tmp_path):
    from codesystems.icd10pcs import loader as pcs_loader
    from conftest import FhirClient
    from terminology.store import Store

    store = Store(tmp_path / "tx.db")
    store.create()
    pcs_loader.import_order_file(store, pcs_loader.SAMPLE_FILE)
    client = FhirClient(create_app({"DB": str(store.path)}).test_client())
    bundle = client.get("/fhir/ValueSet", query_string={"url": THO + "cpt-all"}).fhir
    assert bundle["total"] == 0
    assert client.get("/fhir/ValueSet/cpt-all").status_code == 404
    assert client.get(EXPAND, query_string={"url": THO + "cpt-all"}).status_code == 404


def test_a_loaded_value_set_replaces_the_built_in_one(tmp_path):
    import json

    from codesystems.fhir_json import loader as fhir_loader
    from conftest import FhirClient, build_store

    store = build_store(tmp_path / "tx.db")
    loaded = {"resourceType": "ValueSet", "id": "cpt-all", "url": THO + "cpt-all",
              "version": "1.0.0", "status": "active", "publisher": "loaded",
              "compose": {"include": [{"system": CPT, "concept": [{"code": "99202"}]}]}}
    path = tmp_path / "cpt-all.json"
    path.write_text(json.dumps(loaded))
    fhir_loader.import_paths(store, [path])
    client = FhirClient(create_app({"DB": str(store.path)}).test_client())
    bundle = client.get("/fhir/ValueSet", query_string={"url": THO + "cpt-all"}).fhir
    assert bundle["total"] == 1 and bundle["entry"][0]["resource"]["publisher"] == "loaded"
    assert expansion_codes(_expand(client, url=THO + "cpt-all")) == ["99202"]
    ids = [e["resource"]["id"] for e in client.get(
        "/fhir/ValueSet", query_string={"_count": 1000}).fhir["entry"]]
    assert len(ids) == len(set(ids))


def test_code_ranges_hold_only_codes_of_their_shape(client):
    """As text 1036F and 0901T sort inside 00100-69990, but a Category II or III code is not
    surgery: a range holds the codes shaped like its bounds (five digits here)."""
    def codes_in(value: str) -> list[str]:
        valueset = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{
            "system": CPT, "filter": [{"property": "code", "op": "in", "value": value}]}]}}
        body = client.post(EXPAND, json={"resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": valueset}]}).fhir
        return sorted(expansion_codes(body))

    surgery = codes_in("00100-69990")
    assert "64636" in surgery and not {"1036F", "0901T", "0001A", "0001U"} & set(surgery)
    assert codes_in("0001F-9999F") == ["1036F"]


def test_a_search_of_all_codes_follows_each_request_s_version_rules(client):
    """What a search of all codes resolves (hundreds of code systems) is kept for the
    requests that leave the versions to the value set; one with its own version rules, or
    a date, resolves its own, before and after the plain ones."""
    def used(**query: str) -> list[str]:
        body = _expand(client, url="urn:txserver:ValueSet/all-codes", filter="facet joint",
                       count=2, **query)
        return [p["valueUri"] for p in body["expansion"]["parameter"]
                if p["name"] == "used-codesystem" and p["valueUri"].startswith(CPT)]

    older = {"system-version": f"{CPT}|2025"}
    assert used(**older) == [f"{CPT}|2025"]
    assert used() == [f"{CPT}|2026"]
    assert used(**older) == [f"{CPT}|2025"]
    assert used() == [f"{CPT}|2026"]
    assert used(date="2025-06-01") == [f"{CPT}|2025"]
