"""MIME types (`urn:ietf:bcp:13`) through the real app: the media-type grammar of RFC 6838 and
RFC 2045, parameters allowed, the code as its display, and value sets listing types."""

from __future__ import annotations

import pytest
from conftest import LOOKUP, VALIDATE, param_dict
from grammar_helpers import expand, validate_in, value_set

MIME = "urn:ietf:bcp:13"


def validate(client, code: str) -> dict:
    response = client.get(VALIDATE, query_string={"url": MIME, "code": code})
    assert response.status_code == 200
    return param_dict(response.fhir)


@pytest.mark.parametrize("code", [
    "text/plain", "application/fhir+json", "text/plain; charset=utf-8",
    'text/plain;charset="utf 8"', "application/fhir+json;fhirVersion=4.0", "image/svg+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "TEXT/HTML",
])
def test_media_types(client, code):
    params = validate(client, code)
    assert params["result"] == [True]
    assert params["display"] == [code]
    assert "version" not in params


@pytest.mark.parametrize("code", ["text", "text/", "/plain", "*/*", "text/*", "text/pl ain",
                                  "text/plain; charset", "text/plain; =utf-8"])
def test_not_media_types(client, code):
    params = validate(client, code)
    assert params["result"] == [False]
    assert params["message"] == [f"Unknown code '{code}' in the CodeSystem '{MIME}'"]


def test_lookup_and_a_listed_value_set(client):
    response = client.get(LOOKUP, query_string={"system": MIME, "code": "application/pdf"})
    assert param_dict(response.fhir)["name"] == ["Mime Types"]
    attachments = value_set(MIME, ["application/pdf", "image/jpeg"])
    body = expand(client, attachments).fhir
    assert [c["code"] for c in body["expansion"]["contains"]] == ["application/pdf",
                                                                  "image/jpeg"]
    assert validate_in(client, attachments, MIME, "image/jpeg")["result"] == [True]
    assert validate_in(client, attachments, MIME, "image/png")["result"] == [False]
    assert expand(client, value_set(MIME)).status_code == 400  # a grammar, not a list
