"""UCUM (`http://unitsofmeasure.org`) through the real app: UCUM's grammar over its own table of
units, the analysis designation, canonical units in value-set filters, tx.fhir.org's messages,
and a user's own ucum-essence.xml."""

from __future__ import annotations

import shutil

import pytest
from conftest import LOOKUP, VALIDATE, client_for, designations, issues_of, param_dict
from grammar_helpers import expand, validate_in, value_set

from codesystems.ucum import essence
from terminology.errors import ImportFailed

UCUM = "http://unitsofmeasure.org"


def validate(client, code: str, **extra: str) -> dict:
    response = client.get(VALIDATE, query_string={"url": UCUM, "code": code, **extra})
    assert response.status_code == 200
    return response.fhir


@pytest.mark.parametrize("code", [
    "mg/dL", "kg", "mL", "10*3/uL", "10*-3", "/d", "%", "mm[Hg]", "cm[H2O]", "[in_i]",
    "mg/dL{milligram per deciliter}", "{cells}/uL", "kg.m/s2", "m2", "s-1", "/(12.h)",
    "[IU]/L", "Cel", "[degF]", "ug/{Specimen}", "%[slope]", "[m/s2/Hz^(1/2)]", "mol/L", "1",
])
def test_valid_units(client, code):
    params = param_dict(validate(client, code))
    assert params["result"] == [True], params
    assert params["version"] == ["2.2"]
    assert params["display"] == [code]  # UCUM has no display text: tx.fhir.org shows the code


@pytest.mark.parametrize("code", ["kgXX", "mg/ dL", "(m", "m)", "mg//dL", "[in_i", "m.",
                                  "Kg", "mg{unterminated", "m^2", "cal_XX"])
def test_invalid_units_are_unknown_codes(client, code):
    body = validate(client, code)
    params = param_dict(body)
    assert params["result"] == [False]
    assert params["message"] == [(f"Unknown code '{code}' in the CodeSystem '{UCUM}' "
                                 "version '2.2'")]


def test_an_invalid_unit_says_where_the_parser_stopped(client):
    """As tx.fhir.org: the unknown code is the error, the parser's reason an information."""
    every = value_set(UCUM, url="http://example.org/fhir/ValueSet/ucum-all")
    coding = {"system": UCUM, "code": "kgXX"}
    response = client.post_parameters("/fhir/ValueSet/$validate-code", {
        "resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": every}, {"name": "coding", "valueCoding": coding}]})
    body = response.fhir
    found = {(i["severity"], i["details"]["text"]) for i in issues_of(body)}
    assert found == {
        ("error", ("Unknown code 'kgXX' in the CodeSystem 'http://unitsofmeasure.org' version "
                  "'2.2'")),
        ("error", ("The provided code 'http://unitsofmeasure.org#kgXX' was not found in the "
                  "value set 'http://example.org/fhir/ValueSet/ucum-all'")),
        ("information", ("Error processing unit 'kgXX': The unit 'kgXX' is unknown at "
                        "character 1"))}
    assert param_dict(body)["message"] == [
        ("The provided code 'http://unitsofmeasure.org#kgXX' was not found in the value set "
        "'http://example.org/fhir/ValueSet/ucum-all'; Unknown code 'kgXX' in the CodeSystem "
        "'http://unitsofmeasure.org' version '2.2'")]


def test_lookup_gives_the_code_as_display_and_the_analysis_as_a_designation(client):
    response = client.get(LOOKUP, query_string={"system": UCUM, "code": "mg/dL"})
    assert response.status_code == 200
    params = param_dict(response.fhir)
    assert params["name"] == ["UCUM"] and params["version"] == ["2.2"]
    assert params["display"] == ["mg/dL"]
    assert [(d["language"], d["value"]) for d in designations(response.fhir)] == [
        ("en", "mg/dL"), ("en", "(milligram) / (deciliter)")]


@pytest.mark.parametrize("code, analysis", [
    ("mg/dL{milligram per deciliter}", "(milligram) / (deciliter) * 1"),
    ("10*3/uL", "(the number ten for arbitrary powers ^ 3) / (microliter)"),
    ("kg.m/s2", "(kilogram) * (meter) / (second ^ 2)"),
    ("mm[Hg]", "(millimeter of mercury column)"),
])
def test_analysis(client, code, analysis):
    response = client.get(LOOKUP, query_string={"system": UCUM, "code": code})
    assert designations(response.fhir)[1]["value"] == analysis


def test_the_analysis_is_an_accepted_display(client):
    ok = param_dict(validate(client, "mg/dL", display="(milligram) / (deciliter)"))
    assert ok["result"] == [True]
    wrong = param_dict(validate(client, "mg/dL", display="grams"))
    assert wrong["result"] == [False]


def test_canonical_filter_validates_units_of_one_dimension(client):
    mass = value_set(UCUM, filters=[{"property": "canonical", "op": "=", "value": "g"}],
                     url="http://example.org/fhir/ValueSet/ucum-mass")
    for code in ("kg", "mg", "[lb_av]", "ug/{Specimen}"):
        assert validate_in(client, mass, UCUM, code)["result"] == [True], code
    params = validate_in(client, mass, UCUM, "mL")
    assert params["result"] == [False]
    assert params["message"] == [("The provided code 'http://unitsofmeasure.org#mL' was not "
                                 "found in the value set "
                                 "'http://example.org/fhir/ValueSet/ucum-mass'")]
    volume = value_set(UCUM, filters=[{"property": "canonical", "op": "=", "value": "m3"}])
    assert validate_in(client, volume, UCUM, "mL")["result"] == [True]
    concentration = value_set(UCUM, filters=[{"property": "canonical", "op": "=",
                                              "value": "g.m-3"}])
    assert validate_in(client, concentration, UCUM, "mg/dL")["result"] == [True]


def test_a_listed_value_set_of_units_expands(client):
    body = expand(client, value_set(UCUM, ["mg/dL", "mmol/L", "not-a-unit"])).fhir
    assert [(c["code"], c["display"]) for c in body["expansion"]["contains"]] == [
        ("mg/dL", "mg/dL"), ("mmol/L", "mmol/L")]
    assert body["expansion"]["parameter"][-1] == {"name": "used-codesystem",
                                                  "valueUri": f"{UCUM}|2.2"}


def test_whole_ucum_and_a_canonical_filter_cannot_be_listed(client):
    for valueset in (value_set(UCUM), value_set(UCUM, filters=[
            {"property": "canonical", "op": "=", "value": "g"}])):
        response = expand(client, valueset)
        assert response.status_code == 400
        assert issues_of(response.fhir)[0]["code"] == "too-costly"


def test_a_users_table_of_units_is_served(tmp_path, db_path, monkeypatch):
    table = tmp_path / "ucum-essence.xml"
    text = essence.SHIPPED.read_text(encoding="ascii")
    table.write_text(text.replace('version="2.2"', 'version="9.9"', 1), encoding="ascii")
    store = tmp_path / "store.db"
    shutil.copy(db_path, store)
    monkeypatch.setenv("TX_UCUM_ESSENCE", str(table))
    params = param_dict(validate(client_for(store), "mg/dL"))
    assert params["version"] == ["9.9"]


def test_a_broken_table_of_units_is_refused(tmp_path):
    broken = tmp_path / "ucum-essence.xml"
    broken.write_text("<html>not ucum</html>", encoding="ascii")
    with pytest.raises(ImportFailed, match="is not UCUM's table of units"):
        essence.load(str(broken))
    with pytest.raises(ImportFailed, match="Cannot read UCUM's table"):
        essence.load(str(tmp_path / "missing.xml"))


def test_serve_refuses_a_table_that_is_not_ucums(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import server

    broken = tmp_path / "ucum-essence.xml"
    broken.write_text("<html/>", encoding="ascii")
    # serve sets TX_UCUM_ESSENCE for its workers: setting it here first makes the test undo it
    monkeypatch.setenv("TX_UCUM_ESSENCE", str(essence.SHIPPED))
    result = CliRunner().invoke(server.main, ["serve", "--ucum-essence", str(broken),
                                              "--db", str(tmp_path / "tx.db")])
    assert result.exit_code == 1
    assert "is not UCUM's table of units" in result.output
    assert not (tmp_path / "tx.db").exists()  # stopped before anything was served or stored
