"""Input built to break the server gets a 4xx OperationOutcome naming what is wrong, never a
500: wrong JSON types in inline resources, nesting deeper than FHIR needs, integers past FHIR's
32 bits, a Parameters whose `parameter` is not a list, a self-including value set with a text
filter, huge echoed values, a forged Host header."""

from __future__ import annotations

import json

import pytest

from conftest import CPT, outcome_text

EXPAND = "/fhir/ValueSet/$expand"
VALIDATE_CS = "/fhir/CodeSystem/$validate-code"
ICD_VS = "http://hl7.org/fhir/sid/icd-10-cm?fhir_vs"


def _post(client, path: str, body) -> tuple[int, dict]:
    response = client.post(path, data=json.dumps(body), content_type="application/fhir+json")
    return response.status_code, response.get_json()


def _parameters(*params: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(params)}


def _code_system(**changes) -> dict:
    resource = {"resourceType": "CodeSystem", "url": "http://example.org/cs", "status": "active",
                "content": "complete", "concept": [{"code": "a", "display": "A"}]}
    resource.update(changes)
    return resource


@pytest.mark.parametrize("changes, element", [
    ({"concept": False}, "CodeSystem.concept"),
    ({"url": ["x"]}, "CodeSystem.url"),
    ({"property": 5}, "CodeSystem.property"),
    ({"supplements": 5}, "CodeSystem.supplements"),
    ({"concept": [{"code": 5}]}, "CodeSystem.concept[0].code"),
    ({"concept": None}, "CodeSystem.concept: null"),
    ({"concept": [{"code": "a", "designation": None}]}, "CodeSystem.concept[0].designation"),
    # a contained resource of no FHIR type: the models raise KeyError, once a 500
    ({"contained": [{"resourceType": "NoSuchThing", "id": "x"}]}, "CodeSystem.contained"),
])
def test_wrong_types_in_a_tx_resource_are_400_naming_the_element(client, changes, element):
    status, body = _post(client, VALIDATE_CS, _parameters(
        {"name": "url", "valueUri": "http://example.org/cs"}, {"name": "code", "valueCode": "a"},
        {"name": "tx-resource", "resource": _code_system(**changes)}))
    assert status == 400 and body["resourceType"] == "OperationOutcome"
    assert element in outcome_text(body)


@pytest.mark.parametrize("compose, element", [
    ({"include": ["x"]}, "ValueSet.compose.include[0]"),
    ({"include": "x"}, "ValueSet.compose.include"),
    ({"include": [{"system": CPT, "filter": ["x"]}]}, "ValueSet.compose.include[0].filter[0]"),
    ({"include": [{"valueSet": "x"}]}, "ValueSet.compose.include[0].valueSet"),
])
def test_wrong_types_in_an_inline_value_set_are_400(client, compose, element):
    valueset = {"resourceType": "ValueSet", "url": "http://example.org/vs", "status": "active",
                "compose": compose}
    status, body = _post(client, EXPAND, _parameters({"name": "valueSet", "resource": valueset}))
    assert status == 400 and element in outcome_text(body)


def test_a_parameter_resource_that_is_not_a_resource_is_400(client):
    status, body = _post(client, EXPAND, _parameters({"name": "valueSet", "resource": 5}))
    assert status == 400 and "must be a FHIR resource" in outcome_text(body)


def _nested(depth: int) -> dict:
    value: dict = {"url": "http://example.org/x", "valueString": "deep"}
    for _ in range(depth):
        value = {"url": "http://example.org/x", "extension": [value]}
    return value


@pytest.mark.parametrize("path, body", [
    ("/fhir/Procedure/$validate", {"resourceType": "Procedure", "status": "completed",
                                   "subject": {"reference": "Patient/1"},
                                   "note": [{"text": "x", "extension": [_nested(300)]}]}),
    (EXPAND, _parameters({"name": "url", "valueUri": ICD_VS},
                         {"name": "filter", "valueString": "a", "extension": [_nested(300)]})),
    ("/fhir/ValueSet/$batch-validate-code", _parameters({"name": "x", "extension": [_nested(400)]})),
])
def test_json_nested_hundreds_deep_is_400(client, path, body):
    status, outcome = _post(client, path, body)
    assert status == 400 and "nested more than" in outcome_text(outcome)


def test_a_deeply_nested_order_on_the_check_page_is_said_not_crashed(app):
    text = json.dumps({"resourceType": "Procedure", "note": [{"extension": [_nested(300)]}]})
    response = app.test_client().post("/check", data={"order": text})
    assert response.status_code in (200, 400)
    assert b"nested more than" in response.data


@pytest.mark.parametrize("query", ["count=4611686018427387904",
                                   "count=10&offset=100000000000000000000"])
def test_integers_past_32_bits_are_400(client, query):
    response = client.get(f"{EXPAND}?url={ICD_VS}&{query}")
    assert response.status_code == 400
    assert "2147483647" in outcome_text(response.get_json())


@pytest.mark.parametrize("path, name", [
    ("/fhir/ValueSet?_offset=%C2%B31", "_offset"),  # the fuzz's: ³1
    ("/fhir/CodeSystem?_count=%C2%B3", "_count"),
    (f"{EXPAND}?url={CPT}?fhir_vs&count=%C2%B3", "count"),
    (f"{EXPAND}?url={CPT}?fhir_vs&count=%D9%A3", "count"),  # ٣, which int() reads as 3
])
def test_digits_other_than_0_to_9_are_not_a_number(client, path, name):
    """str.isdigit() takes '³' (int() then raised: a 500) and '٣': a count is 0-9 only."""
    response = client.get(path)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert name in outcome_text(response.get_json())


def test_other_digits_are_no_number_in_headers_pages_versions_or_codes(client):
    threshold = client.get(f"{EXPAND}?url={CPT}?fhir_vs&count=5",
                           headers={"X-TOO-COSTLY-THRESHOLD": "\u00b3"})
    assert threshold.status_code == 200  # not a number: no threshold, as when absent
    page = client.raw.get("/search?q=knee&page=%C2%B3")  # a web page, not FHIR
    assert page.status_code == 400 and b"must be a whole number" in page.data
    versions = [{"name": "tx-resource", "resource": _code_system(version=version)}
                for version in ("1.\u00b3", "1.2")]  # ordered as versions: 1.³ is no number
    status, body = _post(client, "/fhir/CodeSystem/$lookup", _parameters(
        {"name": "system", "valueUri": "http://example.org/cs"},
        {"name": "code", "valueCode": "a"}, *versions))
    assert status == 200 and body["resourceType"] == "Parameters", body
    for code in ("\u0669\u0669\u0662\u0661\u0663", "\u00b39213"):  # ٩٩٢١٣, ³9213: not 99213
        looked_up = client.get("/fhir/CodeSystem/$lookup", query_string={
            "system": CPT, "code": code})
        assert looked_up.status_code == 404, looked_up.get_json()
        validated = client.get(VALIDATE_CS, query_string={"url": CPT, "code": code}).get_json()
        assert validated["parameter"][0] == {"name": "result", "valueBoolean": False}


def test_a_validate_body_whose_parameter_is_not_a_list_is_400(client):
    status, body = _post(client, "/fhir/Procedure/$validate",
                         {"resourceType": "Parameters", "parameter": 1})
    assert status == 400 and "must be an array" in outcome_text(body)


@pytest.mark.parametrize("extra", [[], [{"name": "filter", "valueString": "a"}]])
def test_a_value_set_including_itself_is_400_with_or_without_a_filter(client, extra):
    valueset = {"resourceType": "ValueSet", "url": "http://example.org/self", "status": "active",
                "compose": {"include": [{"valueSet": ["http://example.org/self"]}]}}
    status, body = _post(client, EXPAND, _parameters(
        {"name": "url", "valueUri": "http://example.org/self"},
        {"name": "tx-resource", "resource": valueset}, *extra))
    assert status == 400
    assert body["issue"][0]["extension"][0]["valueString"] == "VALUESET_CIRCULAR_REFERENCE"


def test_a_huge_code_is_not_echoed_in_full(client):
    response = client.get(f"/fhir/CodeSystem/$lookup?system={CPT}&code={'9' * 600_000}")
    assert response.status_code == 404 and len(response.data) < 5_000
    assert "more characters not shown" in outcome_text(response.get_json())


def test_the_host_header_does_not_become_the_base_url(client):
    forged = {"Host": "evil.example"}
    assert "evil.example" not in client.get("/fhir/metadata", headers=forged).get_data(
        as_text=True)
    assert "evil.example" not in client.get("/fhir/ValueSet?_count=1", headers=forged).get_data(
        as_text=True)


def test_the_base_url_comes_from_configuration_or_a_trusted_proxy(db_path):
    from conftest import FhirClient
    from server import create_app

    configured = FhirClient(create_app({"DB": str(db_path),
                                        "BASE_URL": "https://tx.example.org/fhir"}).test_client())
    assert configured.get("/fhir/metadata").fhir["implementation"]["url"] == (
        "https://tx.example.org/fhir")
    proxied = FhirClient(create_app({"DB": str(db_path),
                                     "TRUSTED_PROXIES": ("10.0.0.1",)}).test_client())
    headers = {"X-Forwarded-Host": "tx.example.org", "X-Forwarded-Proto": "https"}
    via_proxy = proxied.get("/fhir/metadata", headers=headers,
                            environ_base={"REMOTE_ADDR": "10.0.0.1"}).fhir
    assert via_proxy["implementation"]["url"] == "https://tx.example.org/fhir"
    direct = proxied.get("/fhir/metadata", headers=headers,
                         environ_base={"REMOTE_ADDR": "10.0.0.2"}).fhir
    assert "tx.example.org" not in direct["implementation"]["url"]
