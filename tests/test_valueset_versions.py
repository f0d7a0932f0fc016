"""default-valueset-version picks the version of a value set referenced without one."""

from __future__ import annotations

CS = {"resourceType": "CodeSystem", "url": "http://example.org/cs/letters", "version": "1",
      "status": "active", "content": "complete", "concept": [{"code": "a"}, {"code": "b"}]}
V1 = {"resourceType": "ValueSet", "url": "http://example.org/vs/letters", "version": "1",
      "status": "active", "compose": {"include": [{"system": CS["url"],
                                                   "concept": [{"code": "a"}]}]}}
V2 = {**V1, "version": "2",
      "compose": {"include": [{"system": CS["url"], "concept": [{"code": "b"}]}]}}
OUTER = {"resourceType": "ValueSet", "url": "http://example.org/vs/outer", "status": "active",
         "compose": {"include": [{"valueSet": [V1["url"]]}]}}


def _post(client, path, *extra):
    body = {"resourceType": "Parameters", "parameter": [
        *({"name": "tx-resource", "resource": r} for r in (CS, V1, V2, OUTER)), *extra]}
    response = client.post(path, json=body)
    assert response.status_code == 200, response.fhir
    return response.fhir


def test_latest_version_without_the_parameter(client):
    body = _post(client, "/fhir/ValueSet/$expand", {"name": "url", "valueUri": OUTER["url"]})
    assert [c["code"] for c in body["expansion"]["contains"]] == ["b"]


def test_default_valueset_version_in_expand_and_validate(client):
    pinned = {"name": "default-valueset-version", "valueCanonical": V1["url"] + "|1"}
    body = _post(client, "/fhir/ValueSet/$expand", {"name": "url", "valueUri": OUTER["url"]},
                 pinned)
    assert [c["code"] for c in body["expansion"]["contains"]] == ["a"]
    body = _post(client, "/fhir/ValueSet/$validate-code",
                 {"name": "url", "valueUri": OUTER["url"]},
                 {"name": "coding", "valueCoding": {"system": CS["url"], "code": "a"}}, pinned)
    assert {"name": "result", "valueBoolean": True} in body["parameter"]
