"""ISO 3166 countries and ISO 4217 currencies through the real app: lookups, validation,
expansions (both are finite lists) and value sets filtering them, as tx.fhir.org serves them."""

from __future__ import annotations

import pytest
from conftest import LOOKUP, VALIDATE, param_dict, properties
from grammar_helpers import expand, validate_in, value_set

ISO3166 = "urn:iso:std:iso:3166"
ISO4217 = "urn:iso:std:iso:4217"


def validate(client, system: str, code: str, **extra: str) -> dict:
    response = client.get(VALIDATE, query_string={"url": system, "code": code, **extra})
    assert response.status_code == 200
    return param_dict(response.fhir)


@pytest.mark.parametrize("code, display", [
    ("US", "United States of America"), ("USA", "United States of America"),
    ("840", "United States of America"), ("DE", "Germany"), ("276", "Germany"),
    ("AA", "User-assigned"), ("XK", "Kosovo"), ("ZZ", "Unknown or Invalid Territory"),
])
def test_country_codes(client, code, display):
    params = validate(client, ISO3166, code)
    assert params["result"] == [True]
    assert params["display"] == [display]
    assert params["version"] == ["2018"]  # tx.fhir.org's version of this code system


@pytest.mark.parametrize("code", ["us", "UK", "USAA", "999", "XKX"])
def test_unknown_country_codes(client, code):
    params = validate(client, ISO3166, code)
    assert params["result"] == [False]
    assert params["message"] == [(f"Unknown code '{code}' in the CodeSystem '{ISO3166}' "
                                 "version '2018'")]


def test_countries_expand_in_full_and_by_a_code_regex(client):
    whole = client.get("/fhir/ValueSet/$expand",
                       query_string={"url": f"{ISO3166}?fhir_vs", "count": "3"}).fhir
    assert whole["expansion"]["total"] == 789  # 249 countries x 3 codes, 42 user-assigned
    two_letter = value_set(ISO3166, filters=[{"property": "code", "op": "regex",
                                              "value": "[A-Z]{2}"}])
    body = expand(client, two_letter).fhir
    codes = [c["code"] for c in body["expansion"]["contains"]]
    assert len(codes) == 291 and "US" in codes and "USA" not in codes
    assert validate_in(client, two_letter, ISO3166, "FR")["result"] == [True]
    assert validate_in(client, two_letter, ISO3166, "FRA")["result"] == [False]


def test_currency_lookup_and_validation(client):
    response = client.get(LOOKUP, query_string={"system": ISO4217, "code": "EUR"})
    params = param_dict(response.fhir)
    assert params["name"] == ["Currencies"] and params["display"] == ["Euro"]
    assert properties(response.fhir)["decimals"] == [2]
    assert validate(client, ISO4217, "JPY", display="Yen")["result"] == [True]
    bad = validate(client, ISO4217, "EURO")
    assert bad["result"] == [False]
    assert bad["message"] == ["Unknown code 'EURO' in the CodeSystem 'urn:iso:std:iso:4217'"]


def test_currencies_filtered_by_decimals(client):
    no_minor_unit = value_set(ISO4217, filters=[{"property": "decimals", "op": "=",
                                                 "value": "0"}])
    codes = [c["code"] for c in expand(client, no_minor_unit).fhir["expansion"]["contains"]]
    assert "JPY" in codes and "USD" not in codes
    assert validate_in(client, no_minor_unit, ISO4217, "KRW")["result"] == [True]
