"""Requests the server must refuse: each with the right 4xx status and an OperationOutcome,
never a 500 and never an HTML error page."""

from __future__ import annotations

import json

import pytest

import server
from conftest import CPT, LOOKUP, VALIDATE, FhirClient, issues_of, outcome_text, parameters

FHIR_JSON = "application/fhir+json"


def post_raw(client, path: str, data, content_type: str = FHIR_JSON):  # type: ignore
    return client.post(path, data=data, content_type=content_type)


def expect(response, status: int, *words: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.fhir)
    body = response.fhir
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] in ("error", "fatal")
    text = outcome_text(body)
    for word in words:
        assert word in text, text
    return body


@pytest.mark.parametrize("path", [LOOKUP, VALIDATE])
def test_malformed_json(client, path):
    expect(post_raw(client, path, '{"resourceType": "Parameters", '), 400, "JSON")


@pytest.mark.parametrize("path", [LOOKUP, VALIDATE])
def test_body_that_is_not_parameters(client, path):
    body = {"resourceType": "Patient", "id": "x"}
    expect(post_raw(client, path, json.dumps(body)), 400, "Parameters", "Patient")


@pytest.mark.parametrize("path", [LOOKUP, VALIDATE])
def test_json_content_type_is_accepted(client, path):
    body = parameters(("code", "valueCode", "99202"), ("system", "valueUri", CPT))
    response = post_raw(client, path, json.dumps(body), "application/json")
    assert response.status_code == 200


def test_parameter_of_the_wrong_type(client):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "code", "valueBoolean": True}, {"name": "system", "valueUri": CPT}]}
    result = expect(post_raw(client, LOOKUP, json.dumps(body)), 400, "code")
    assert issues_of(result)[0]["expression"] == ["code"]


def test_validate_parameter_of_the_wrong_type(client):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": CPT}, {"name": "code", "valueInteger": 99202}]}
    result = expect(post_raw(client, VALIDATE, json.dumps(body)), 400, "code")
    assert issues_of(result)[0]["expression"] == ["code"]


def test_lookup_missing_code(client):
    body = expect(client.get(LOOKUP, query_string={"system": CPT}), 400, "code")
    assert issues_of(body)[0]["expression"] == ["code"]


def test_lookup_missing_system(client):
    body = expect(client.get(LOOKUP, query_string={"code": "99202"}), 400, "system")
    assert issues_of(body)[0]["expression"] == ["system"]


def test_lookup_code_and_coding_both(client):
    body = parameters(("code", "valueCode", "99202"), ("system", "valueUri", CPT),
                      ("coding", "valueCoding", {"system": CPT, "code": "99202"}))
    expect(post_raw(client, LOOKUP, json.dumps(body)), 400, "coding")


def test_lookup_coding_without_code(client):
    body = parameters(("coding", "valueCoding", {"system": CPT}))
    expect(post_raw(client, LOOKUP, json.dumps(body)), 400)


def test_lookup_system_and_coding_system_differ(client):
    body = parameters(("system", "valueUri", "http://example.org/other"),
                      ("coding", "valueCoding", {"system": CPT, "code": "99202"}))
    expect(post_raw(client, LOOKUP, json.dumps(body)), 400, "system")


def test_validate_missing_code(client):
    expect(client.get(VALIDATE, query_string={"url": CPT}), 400)


def test_validate_missing_url(client):
    body = expect(client.get(VALIDATE, query_string={"code": "99202"}), 400, "url")
    assert issues_of(body)[0]["expression"] == ["url"]


def test_validate_code_and_coding_both(client):
    body = parameters(("url", "valueUri", CPT), ("code", "valueCode", "99202"),
                      ("coding", "valueCoding", {"system": CPT, "code": "99202"}))
    expect(post_raw(client, VALIDATE, json.dumps(body)), 400, "coding")


def test_validate_url_and_system_differ(client):
    query = {"url": CPT, "system": "http://example.org/other", "code": "99202"}
    expect(client.get(VALIDATE, query_string=query), 400)


@pytest.mark.parametrize("path, name", [(LOOKUP, "code"), (LOOKUP, "system"),
                                        (LOOKUP, "version"), (VALIDATE, "code"),
                                        (VALIDATE, "display")])
def test_repeated_single_valued_parameter(client, path, name):
    query = {"system": CPT, "url": CPT, "code": "99202", "version": "2026", "display": "x"}
    if path == LOOKUP:
        query.pop("url")
        query.pop("display")
    else:
        query.pop("system")
    pairs = list(query.items()) + [(name, query[name])]
    body = expect(client.get(path, query_string=pairs), 400, name)
    assert issues_of(body)[0]["expression"] == [name]


def test_repeated_parameter_in_a_post(client):
    body = parameters(("code", "valueCode", "99202"), ("code", "valueCode", "99203"),
                      ("system", "valueUri", CPT))
    expect(post_raw(client, LOOKUP, json.dumps(body)), 400, "code")


def test_repeated_property_is_allowed(client):
    response = client.get(LOOKUP, query_string=[("system", CPT), ("code", "64636"),
                                                 ("property", "kind"), ("property", "add-on")])
    assert response.status_code == 200


@pytest.mark.parametrize("path", [LOOKUP, VALIDATE])
def test_unsupported_content_type(client, path):
    response = post_raw(client, path, "code=99202", "text/plain")
    body = expect(response, 415, "text/plain")
    assert body["issue"][0]["code"] == "not-supported"


def test_xml_body_is_unsupported(client):
    expect(post_raw(client, LOOKUP, "<Parameters/>", "application/fhir+xml"), 415)


def test_body_over_the_limit(db_path):
    app = server.create_app({"DB": str(db_path), "MAX_CONTENT_LENGTH": 1000})
    client = FhirClient(app.test_client())
    filler = "x" * 5000
    body = json.dumps(parameters(("code", "valueCode", "99202"), ("system", "valueUri", CPT),
                                 ("displayLanguage", "valueCode", filler)))
    assert len(body) > 5000
    result = expect(post_raw(client, LOOKUP, body), 413, "1000")
    assert result["issue"][0]["code"] == "too-costly"
    # a small body still works on the same app
    small = json.dumps(parameters(("code", "valueCode", "99202"), ("system", "valueUri", CPT)))
    assert post_raw(client, LOOKUP, small).status_code == 200


@pytest.mark.parametrize("path", ["/fhir/Nope", "/fhir/CodeSystem/cpt-2026/$nope", "/nope"])
def test_unknown_route(client, path):
    body = expect(client.get(path), 404)
    assert body["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize("method, path", [("DELETE", LOOKUP), ("PUT", LOOKUP),
                                          ("PATCH", "/fhir/CodeSystem/cpt-2026"),
                                          ("POST", "/fhir/metadata")])
def test_method_not_allowed(client, method, path):
    body = expect(client.open(path, method=method), 405, method)
    assert body["issue"][0]["code"] == "not-supported"


def test_method_not_allowed_says_what_is(client):
    response = client.delete(LOOKUP)
    assert response.status_code == 405
    assert set(response.headers.get("Allow", "").replace(" ", "").split(",")) >= {"GET", "POST"}


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/turtle"])
@pytest.mark.parametrize("path", [LOOKUP, "/fhir/metadata", "/fhir/CodeSystem"])
def test_unsupported_format(client, fmt, path):
    query = {"system": CPT, "code": "99202", "_format": fmt}
    body = expect(client.get(path, query_string=query), 406, fmt)
    assert body["issue"][0]["code"] == "not-supported"


# -- never a 500 ------------------------------------------------------------------------------

ODD_BODIES = [
    "",
    "[]",
    "null",
    '"Parameters"',
    "42",
    "{",
    "\xff\xfe",
    '{"resourceType": "Parameters", "parameter": "x"}',
    '{"resourceType": "Parameters", "parameter": {"name": "code"}}',
    '{"resourceType": "Parameters", "parameter": [1, 2]}',
    '{"resourceType": "Parameters", "parameter": [null]}',
    '{"resourceType": "Parameters", "parameter": [{"valueCode": "99202"}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": 7, "valueCode": "99202"}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "99202", '
    '"valueString": "99203"}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code"}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": null}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": ["a"]}, '
    '{"name": "system", "valueUri": {"x": 1}}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": "99202"}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": {"system": '
    '[1, {"a": null}], "code": {"x": []}}}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "codeableConcept", '
    '"valueCodeableConcept": {"coding": "x"}}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "codeableConcept", '
    '"valueCodeableConcept": {"coding": [null, 3]}}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "resource": '
    '{"resourceType": "Patient"}}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "99202"}, '
    '{"name": "url", "valueUri": "http://www.ama-assn.org/go/cpt"}, '
    '{"name": "system", "valueUri": "http://www.ama-assn.org/go/cpt"}, '
    '{"name": "date", "valueBoolean": false}, {"name": "abstract", "valueString": "maybe"}]}',
    '{"resourceType": "Parameters", "parameter": [' + '{"name": "a", "part": [' * 200
    + ']}' * 200 + ']}',
    "[" * 5000 + "]" * 5000,
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "\\ud800"}]}',
    "1e99999",
]


ODD_LOOKUP_BODIES = [
    '{"resourceType": "Parameters", "parameter": [{"name": "coding", "part": [{"name": "x"}]}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "99202"}, '
    '{"name": "system", "valueUri": "http://www.ama-assn.org/go/cpt"}, '
    '{"name": "property", "valueInteger": 3}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "99202"}, '
    '{"name": "system", "valueUri": "http://www.ama-assn.org/go/cpt"}, '
    '{"name": "property", "valueCode": null}]}',
]
ODD_VALIDATE_BODIES = [
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "99202"}, '
    '{"name": "url", "valueUri": "http://www.ama-assn.org/go/cpt"}, '
    '{"name": "lenient-display-validation", "valueString": "perhaps"}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "codeableConcept", '
    '"valueCodeableConcept": {}}]}',
    '{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "99202"}, '
    '{"name": "url", "valueUri": ["http://www.ama-assn.org/go/cpt"]}]}',
]
CASES = ([(LOOKUP, b) for b in ODD_BODIES + ODD_LOOKUP_BODIES]
         + [(VALIDATE, b) for b in ODD_BODIES + ODD_VALIDATE_BODIES])


@pytest.mark.parametrize("path, data", CASES, ids=range(len(CASES)))
def test_odd_bodies_get_a_4xx_outcome(client, path, data):
    response = post_raw(client, path, data.encode("utf-8", "surrogatepass"))
    assert 400 <= response.status_code < 500, (response.status_code, response.fhir)
    assert response.fhir["resourceType"] == "OperationOutcome"


ODD_QUERIES = [
    {},
    {"code": ""},
    {"system": ""},
    {"code": "99202", "system": "", "url": ""},
    {"coding": "http://www.ama-assn.org/go/cpt|99202"},
    {"codeableConcept": "x"},
    {"code": "99202", "system": CPT, "url": "http://example.org/x"},
    {"code": "99202", "system": CPT, "url": CPT, "_summary": "bogus",
     "lenient-display-validation": "x"},
    {"code": "99202", "abstract": "maybe", "url": CPT, "system": CPT},
]


@pytest.mark.parametrize("path", [LOOKUP, VALIDATE])
@pytest.mark.parametrize("query", ODD_QUERIES, ids=range(len(ODD_QUERIES)))
def test_odd_queries_never_fail_the_server(client, path, query):
    response = client.get(path, query_string=query)
    assert response.status_code < 500, response.fhir
    if response.status_code >= 400:
        assert response.fhir["resourceType"] == "OperationOutcome"


ODD_CODES = [" 99202", "99202\n", "99202 ", "", ":", "::", "99202::25", ":25", "99202:", "\x00", "x" * 10000,
             "99202" + ":25" * 1000, "99202:25:" + "9" * 5000, "' OR 1=1 --", "%", "_",
             "٩٩٢٠٢", "\u200b99202", "99202|2026", "99202:25:25"]


@pytest.mark.parametrize("code", ODD_CODES, ids=range(len(ODD_CODES)))
def test_odd_codes(client, code):
    lookup = client.get(LOOKUP, query_string={"system": CPT, "code": code})
    assert lookup.status_code in (400, 404), lookup.fhir
    validate = client.get(VALIDATE, query_string={"url": CPT, "code": code})
    assert validate.status_code in (200, 400), validate.fhir
    if validate.status_code == 200:
        assert validate.fhir["parameter"][0] == {"name": "result", "valueBoolean": False}


def test_sql_wildcards_are_not_patterns(client):
    # `%` or `_` must not match 99202 through a LIKE; the code is looked up exactly
    for code in ("9920_", "992%"):
        assert client.get(LOOKUP, query_string={"system": CPT, "code": code}).status_code == 404
