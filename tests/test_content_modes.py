"""CodeSystem.content: a code missing from a fragment or an example is not known to be wrong;
one checked against a not-present definition cannot be checked at all."""

from __future__ import annotations

import pytest
from conftest import issues_of, message_ids, param_dict


def _validate(client, content: str, code: str):
    cs = {"resourceType": "CodeSystem", "url": f"http://example.org/cs/{content}",
          "status": "active", "content": content, "concept": [{"code": "known"}]}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": cs["url"]}, {"name": "code", "valueCode": code},
        {"name": "tx-resource", "resource": cs}]}
    response = client.post("/fhir/CodeSystem/$validate-code", json=body)
    assert response.status_code == 200, response.fhir
    return response.fhir


@pytest.mark.parametrize("content", ["fragment", "example"])
def test_unknown_code_in_a_partial_code_system_is_a_warning(client, content):
    body = _validate(client, content, "other")
    assert param_dict(body)["result"] == [True]
    (issue,) = issues_of(body)
    assert issue["severity"] == "warning"
    assert message_ids(issue) == ["UNKNOWN_CODE_IN_FRAGMENT"]


def test_not_present_content_cannot_validate(client):
    body = _validate(client, "not-present", "other")
    assert param_dict(body)["result"] == [False]
    assert "not-present" in param_dict(body)["message"][0]


def test_complete_content_unknown_code_is_an_error(client):
    body = _validate(client, "complete", "other")
    assert param_dict(body)["result"] == [False]
    assert message_ids(issues_of(body)[0]) == ["Unknown_Code_in_Version"]


def test_a_not_present_code_system_cannot_be_expanded(client):
    """Its definition lists no codes: an expansion from it is an error, never an empty list
    that looks complete (tx.fhir.org's words)."""
    cs = {"resourceType": "CodeSystem", "url": "http://example.org/cs/absent", "status": "active",
          "content": "not-present"}
    vs = {"resourceType": "ValueSet", "url": "http://example.org/vs/absent", "status": "active",
          "compose": {"include": [{"system": cs["url"]}]}}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": vs}, {"name": "tx-resource", "resource": cs}]}
    response = client.post("/fhir/ValueSet/$expand", json=body)
    assert response.status_code == 422, response.fhir
    (issue,) = response.fhir["issue"]
    assert issue["code"] == "business-rule"
    assert issue["details"]["text"] == (
        "The code system definition for http://example.org/cs/absent has no content, so this "
        "expansion cannot be performed")
