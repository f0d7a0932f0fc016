"""Expensive requests take one of a few slots, held until their answer is sent; when every
slot is taken they are refused at once (503, Retry-After) while cheap requests go through."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from conftest import CPT, client_for
from server import create_app
from terminology.web.admission import first_value, is_heavy


@pytest.mark.parametrize("method, path, query, heavy", [
    ("GET", "/fhir/ValueSet/$expand", "url=x", True),
    ("GET", "/fhir/ValueSet/$expand", "url=x&count=101", True),
    ("GET", "/fhir/ValueSet/$expand", "url=x&filter=a&count=20", False),
    ("POST", "/fhir/ValueSet/cpt-all/$expand", "", True),
    ("POST", "/fhir/ValueSet/$batch-validate-code", "", True),
    ("POST", "/fhir/Bundle/$validate", "", True),
    ("GET", "/fhir/CodeSystem/cpt-2026", "_summary=false", True),
    ("GET", "/fhir/CodeSystem", "_elements=url,concept", True),
    ("GET", "/fhir/CodeSystem/cpt-2026", "", False),
    ("GET", "/fhir/CodeSystem/$lookup", "system=x&code=y", False),
    ("GET", "/fhir/ValueSet/$validate-code", "url=x", False),
    ("POST", "/fhir/Claim/$validate", "", False),
])
def test_which_requests_are_heavy(method, path, query, heavy):
    assert is_heavy(method, path, query) is heavy


@pytest.mark.parametrize("query", [
    "", "count=20", "url=x&count=5&count=7", "count=&count=9", "count&count=3", "c%6Funt=4",
    "co+unt=1&count=2", "count=%32%30", "count=1+2", "a=b&&count=3&", "=1&count=x%zz",
    "url=a%26count%3D1", "COUNT=3", "count=%E9",
])
def test_the_count_is_read_as_parse_qs_reads_it(query):
    assert first_value(query, "count") == parse_qs(query).get("count", [""])[0]


def test_a_full_gate_refuses_heavy_requests_and_serves_cheap_ones(db_path):
    app = create_app({"DB": str(db_path), "CACHE_BYTES": 0})  # no answer kept by another test
    gate = app.extensions["admission"]
    client = app.test_client()
    taken = 0
    while gate.semaphore.acquire(blocking=False):
        taken += 1
    try:
        refused = client.get("/fhir/ValueSet/$expand", query_string={"url": f"{CPT}?fhir_vs"})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.get_json()["issue"][0]["code"] == "throttled"
        cheap = client.get("/fhir/CodeSystem/$lookup", query_string={"system": CPT,
                                                                    "code": "99213"})
        assert cheap.status_code == 200
    finally:
        for _ in range(taken):
            gate.semaphore.release()
    assert client.get("/fhir/ValueSet/$expand",
                      query_string={"url": f"{CPT}?fhir_vs"}).status_code == 200


def test_a_slot_is_released_once_the_answer_is_sent(app):
    gate = app.extensions["admission"]
    free = gate.semaphore._value
    response = app.test_client().get("/fhir/CodeSystem/cpt-2026", query_string={
        "_summary": "false"}, buffered=False)
    assert gate.semaphore._value == free - 1  # the body is not sent yet
    assert b'"concept":[' in response.get_data()
    response.close()
    assert gate.semaphore._value == free


def test_a_client_asking_again_once_it_has_its_answer_is_not_refused(db_path):
    """A client that has read the whole answer of a heavy request and sends the next one is
    served, even before the server has closed the first (the HL7 test runner did, and got
    503 on a loaded machine): the slot is free once the body has been handed over whole."""
    app = create_app({"DB": str(db_path), "CACHE_BYTES": 0, "HEAVY_SLOTS": 1})
    client = app.test_client()
    query = {"url": f"{CPT}?fhir_vs"}
    first = client.get("/fhir/ValueSet/$expand", query_string=query, buffered=False)
    assert b'"expansion"' in b"".join(first.response)  # read whole; not closed yet
    second = client.get("/fhir/ValueSet/$expand", query_string=query)
    assert second.status_code == 200, second.get_json()
    first.close()


def test_a_body_is_done_as_its_last_chunk_is_taken_not_after():
    """The server writes the last chunk and only then asks for another: a client may have its
    whole answer and ask again in between, so the slot is released as the last is taken."""
    from terminology.web.wsgi import ClosingBody

    for chunks in ([b"a", b"b", b"c"], [b"whole"], []):
        done: list[int] = []
        body = iter(ClosingBody(iter(chunks), lambda: done.append(1)))
        for index, expected in enumerate(chunks):
            assert next(body) == expected
            assert done == ([1] if index == len(chunks) - 1 else [])
        assert next(body, None) is None and done == [1]  # once


def test_the_memory_a_heavy_request_freed_is_given_back_once_it_is_sent(app, monkeypatch):
    from terminology import heap

    trims: list[int] = []
    monkeypatch.setattr(heap, "release_freed_memory", lambda: trims.append(1) or True)
    client = app.test_client()
    response = client.get("/fhir/CodeSystem/cpt-2026", query_string={"_summary": "false"},
                          buffered=False)
    assert trims == []  # the body is not sent yet
    response.get_data()
    response.close()
    assert trims == [1]
    client.get("/fhir/CodeSystem/$lookup", query_string={"system": CPT, "code": "99213"})
    assert trims == [1]  # a cheap request leaves malloc alone


def test_a_streamed_code_system_read_is_the_whole_resource(db_path):
    client = client_for(db_path)  # checks the body against the FHIR models
    body = client.get("/fhir/CodeSystem/cpt-2026", query_string={"_summary": "false"}).fhir
    assert body["resourceType"] == "CodeSystem" and len(body["concept"]) == body["count"]
