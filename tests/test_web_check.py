"""The "check an order" page: the same findings as Claim/$validate, for a person."""

from __future__ import annotations

import re


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_the_form_is_offered(app):
    client = app.test_client()
    page = client.get("/check")
    assert page.status_code == 200
    assert 'name="order"' in page.get_data(as_text=True)
    assert "/check" in client.get("/").get_data(as_text=True)


def test_add_on_without_its_primary_is_reported(app):
    page = app.test_client().post("/check", data={"order": "64636 x2\n99213:25",
                                                  "date": "2026-03-02"})
    assert page.status_code == 200
    text = _text(page)
    assert "1 problem found" in text
    assert "64636 is an add-on code" in text and "64635" in text
    assert "Claim.item[0].productOrService.coding[0]" in text


def test_clean_order_has_no_problem(app):
    page = app.test_client().post("/check", data={"order": "64635\n64636 x2",
                                                  "date": "2026-03-02"})
    assert "No problem found" in _text(page)


def test_invalid_expression_and_unreadable_json(app):
    client = app.test_client()
    assert "not designated for telemedicine" in _text(
        client.post("/check", data={"order": "99252:95"}))
    unreadable = client.post("/check", data={"order": '{"resourceType": "Claim"}'})
    assert unreadable.status_code == 200
    assert "could not be read" in _text(unreadable)


def test_markup_is_escaped(app):
    page = app.test_client().post("/check", data={"order": "<script>alert(1)</script>"})
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.get_data(as_text=True)


def test_a_browser_gets_an_html_404_and_an_api_client_json(app):
    client = app.test_client()
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.content_type.startswith("text/html")
    api = client.get("/no/such/page")
    assert api.status_code == 404 and api.get_json()["resourceType"] == "OperationOutcome"
    fhir = client.get("/fhir/nothing", headers={"Accept": "text/html,*/*"})
    assert fhir.get_json()["resourceType"] == "OperationOutcome"
