"""The "check an order" page: the same findings as Claim/$validate, for a person: each about a
line, in words (no FHIRPath, patient reference or URL outside the technical details), a line
that cannot be read saying why, a code that no loaded code system holds an error."""

from __future__ import annotations

import re

import pytest
from web_store import text_of, web_app  # noqa: F401

FHIR_WORDS = re.compile(r"Claim\.|Patient/|https?://|urn:|\.coding\[")


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def _for_people(response) -> str:
    """The page's text without its technical details."""
    html = response.get_data(as_text=True)
    result = html[html.index('<section class="result"'):]
    return text_of(re.sub(r"<details.*?</details>", " ", result, flags=re.S))


def _technical(response) -> str:
    return text_of(re.search(r"<details.*?</details>", response.get_data(as_text=True),
                             re.S).group(0))


def _check(app, order: str, day: str = "2026-03-02"):  # type: ignore[no-untyped-def]
    response = app.test_client().post("/check", data={"order": order, "date": day})
    assert response.status_code == 200
    return response


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
    assert "Claim.item[0].productOrService.coding[0]" in _technical(page)
    assert not FHIR_WORDS.search(_for_people(page)), _for_people(page)


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


def test_an_unreadable_line_says_why(web_app):
    page = _check(web_app, "hello world")
    text = _for_people(page)
    assert text.startswith("The order could not be read")
    assert "Line 1 ('hello world'): 'world' is not units" in text
    assert "Every code is valid" not in text and "No problem" not in text
    page = _check(web_app, "64635\n64636 x2 banana")
    assert "Line 2 ('64636 x2 banana'): 'banana' is not units" in _for_people(page)


def test_a_code_of_no_code_system_is_an_error_in_words(web_app):
    page = _check(web_app, "6463")
    text = _for_people(page)
    assert text.startswith("1 problem found")
    assert "6463 is not a CPT, HCPCS, ICD-10 or Body site (test fixture) code." in text
    assert "Did you mean" in text and "64635 (CPT)" in text
    assert "no system" not in text.casefold()
    assert not FHIR_WORDS.search(text), text
    # a code typed without its dot: the code it is
    page = _check(web_app, "E119")
    assert "E119 is not a" in _for_people(page)
    assert 'href="/code/icd10cm/E11.9"' in page.get_data(as_text=True)


@pytest.mark.parametrize("order, words", [
    ("99252:95", "The code '99252:95' is not valid in CPT 2026: The modifier 95 cannot be used"),
    ("0042T", "The code '0042T' was deleted from CPT 2026 on 2026-01-01"),
    ("64635\n64633", "64633 is not reported with 64635 on 2026-03-02"),
    ("64635\n64636 x9", "9 units of 64636 on 2026-03-02 (line 2) are more than allowed"),
])
def test_findings_name_code_systems_and_lines_in_words(web_app, order, words):
    page = _check(web_app, order)
    text = _for_people(page)
    assert words in text
    assert not FHIR_WORDS.search(text), text
    assert "Claim.item[" in _technical(page)  # kept for the technical reader
    assert '"resourceType": "Claim"' in _technical(page)


def test_a_clean_order_says_so_once(web_app):
    text = _for_people(_check(web_app, "64635\n64636 x2"))
    assert text.startswith("No problem found")
    assert "Every code is valid for the date of service, and no CMS edit applies." in text
