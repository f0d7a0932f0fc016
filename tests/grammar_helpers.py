"""Helpers shared by the tests of the built-in code systems (BCP-47, UCUM, ISO, MIME)."""

from __future__ import annotations

from typing import Any

from conftest import param_dict

EXPAND = "/fhir/ValueSet/$expand"
VS_VALIDATE = "/fhir/ValueSet/$validate-code"


def value_set(system: str, codes: list[str] | None = None,
              filters: list[dict[str, str]] | None = None,
              url: str = "http://example.org/fhir/ValueSet/test") -> dict[str, Any]:
    include: dict[str, Any] = {"system": system}
    if codes is not None:
        include["concept"] = [{"code": c} for c in codes]
    if filters:
        include["filter"] = filters
    return {"resourceType": "ValueSet", "url": url, "status": "active",
            "compose": {"include": [include]}}


def expand(client: Any, valueset: dict[str, Any], **extra: Any) -> Any:
    params = [{"name": "valueSet", "resource": valueset}]
    params += [{"name": k, "valueString": str(v)} for k, v in extra.items()]
    return client.post_parameters(EXPAND, {"resourceType": "Parameters", "parameter": params})


def validate_in(client: Any, valueset: dict[str, Any], system: str, code: str,
                display: str | None = None) -> dict[str, list[Any]]:
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": valueset}, {"name": "coding", "valueCoding": coding}]}
    response = client.post_parameters(VS_VALIDATE, body)
    assert response.status_code == 200, response.fhir
    return param_dict(response.fhir)
