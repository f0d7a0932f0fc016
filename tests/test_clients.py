"""A FHIR client others wrote, against the real server: the SMART on FHIR Python client
(`fhirclient`, which EHR apps use) reads what we answer with its own R4 models, strictly (an
unknown element or a wrong type is an error), and pages through searches by their links."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from fhirclient import server as fhir_server
from fhirclient.models import (
    capabilitystatement,
    codesystem,
    coding,
    operationoutcome,
    parameters,
    valueset,
)

from conftest import CPT

ICD = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.fixture(scope="module")
def smart(live_server: str) -> fhir_server.FHIRServer:
    return fhir_server.FHIRServer(None, f"{live_server}/fhir")


def _values(answer: parameters.Parameters) -> dict[str, Any]:
    return {p.name: p.valueBoolean if p.valueBoolean is not None else
            p.valueString or p.valueCode or p.valueUri for p in answer.parameter}


def test_the_capability_statements_read_as_r4(smart: fhir_server.FHIRServer) -> None:
    statement = capabilitystatement.CapabilityStatement(smart.request_json("metadata"),
                                                        strict=True)
    assert statement.fhirVersion == "4.0.1" and statement.kind == "instance"
    operations = {op.name for rest in statement.rest for r in rest.resource
                  for op in r.operation or []}
    assert {"lookup", "validate-code", "expand", "translate", "subsumes"} <= operations
    terminology = smart.request_json("metadata?mode=terminology")
    assert terminology["resourceType"] == "TerminologyCapabilities"
    assert any(cs.get("uri") == CPT for cs in terminology["codeSystem"])


def test_lookup_and_validate_code_get_and_post(smart: fhir_server.FHIRServer) -> None:
    looked_up = parameters.Parameters(smart.request_json(
        f"CodeSystem/$lookup?system={CPT}&code=99213"), strict=True)
    assert _values(looked_up)["code"] == "99213" and _values(looked_up)["display"]
    asked = parameters.Parameters({"resourceType": "Parameters"})
    asked.parameter = [parameters.ParametersParameter({"name": "coding"})]
    asked.parameter[0].valueCoding = coding.Coding({"system": ICD, "code": "E11.9"})
    answer = smart.post_json("CodeSystem/$validate-code", asked.as_json())
    validated = parameters.Parameters(answer.json(), strict=True)
    assert _values(validated)["result"] is True and _values(validated)["display"]
    wrong = parameters.Parameters(smart.request_json(
        f"CodeSystem/$validate-code?url={ICD}&code=E11.9&display=Not%20its%20display"),
        strict=True)
    assert _values(wrong)["result"] is False


def test_a_filtered_expansion_reads_as_a_value_set(smart: fhir_server.FHIRServer) -> None:
    expanded = valueset.ValueSet(smart.request_json(
        f"ValueSet/$expand?url={ICD}?fhir_vs&filter=diabetes&count=5"), strict=True)
    assert expanded.expansion.total > 5 and len(expanded.expansion.contains) == 5
    assert all(c.system == ICD and c.code and c.display for c in expanded.expansion.contains)


def test_a_search_is_paged_through_by_its_links_and_each_entry_read(
        smart: fhir_server.FHIRServer) -> None:
    pages = list(codesystem.CodeSystem.where(struct={"_count": "3"}).perform_iter(smart))
    seen = [entry.resource.id for page in pages for entry in page.entry or []]
    assert len(pages) > 1 and all(page.total == pages[0].total for page in pages)
    assert len(seen) == len(set(seen)) == pages[0].total
    for resource_id in seen:
        read = codesystem.CodeSystem.read(resource_id, smart)
        assert read.id == resource_id and read.url and read.status


def test_an_error_is_an_operation_outcome_the_client_reads(
        smart: fhir_server.FHIRServer) -> None:
    with pytest.raises((requests.HTTPError, fhir_server.FHIRNotFoundException)) as raised:
        smart.request_json("CodeSystem/$lookup?system=http://example.org/unknown&code=x")
    response = raised.value.response
    assert response is not None and response.status_code == 404
    outcome = operationoutcome.OperationOutcome(response.json(), strict=True)
    assert outcome.issue[0].severity == "error" and outcome.issue[0].details.text
