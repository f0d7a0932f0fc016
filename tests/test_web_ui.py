"""The web page for people, through Flask's test client: search, code pages, errors, escaping;
and the CPT lay supplement through `$lookup`/`$expand` with `useSupplement`.

The store (web_store.py) holds every sample the first start imports and the body-site fixture
code system with its supplement (a code system served from memory, searched without an FTS
index).
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from conftest import CPT, LOOKUP, FhirClient, designations, param_dict, properties
from web_store import codes_in, group, page, section, text_of, web, web_app  # noqa: F401

from codesystems.cpt import loader as cpt_loader

LAY = "urn:txserver:CodeSystem/cpt-lay"
SECTIONS = ["summary", "purpose", "indications", "preparation", "procedure", "duration",
            "setting", "personnel", "risks", "benefits", "recovery", "alternatives",
            "patient-experience"]
SAMPLE_CODES = {"64633", "64634", "64635", "64636", "99202", "99203", "99204", "99205", "99211",
                "99212", "99213", "99214", "99215", "99252", "0001A"}


# -- the supplement ---------------------------------------------------------------------------


def test_the_lay_supplement_is_ours_and_declares_every_section() -> None:
    resource = json.loads(cpt_loader.LAY_SUPPLEMENT.read_text(encoding="utf-8"))
    assert resource["content"] == "supplement" and resource["supplements"] == CPT
    assert "not AMA" in resource["title"] and "txserver project" in resource["description"]
    declared = [(p["code"], p["type"]) for p in resource["property"]]
    assert declared == [(code, "string") for code in SECTIONS]
    by_code = {c["code"]: c for c in resource["concept"]}
    assert set(by_code) >= SAMPLE_CODES
    for code, concept in by_code.items():
        assert [p["code"] for p in concept["property"]] == SECTIONS, code
        assert all(p["valueString"].strip() for p in concept["property"]), code
        assert concept["designation"][0]["value"], code


def test_lookup_with_use_supplement_returns_the_sections(client: FhirClient, web_app) -> None:
    web = FhirClient(web_app.test_client())
    body = web.get(LOOKUP, query_string={"system": CPT, "code": "64636",
                                         "useSupplement": LAY}).fhir
    props = properties(body)
    for name in SECTIONS:
        assert len(props[name]) == 1 and props[name][0], name
    assert "lumbar" not in props["summary"][0].casefold()  # plain words, not the descriptor
    assert props["add-on"] == [True] and props["primary-code"] == ["64635"]
    lay = [d for d in designations(body) if d["use"] and d["use"]["code"] == "plain-language"]
    assert len(lay) == 1 and "lower back" in lay[0]["value"]
    assert param_dict(body)["used-supplement"] == [f"{LAY}|2026.1"]
    # without useSupplement nothing of it shows
    plain = web.get(LOOKUP, query_string={"system": CPT, "code": "64636"}).fhir
    assert "summary" not in properties(plain) and "used-supplement" not in param_dict(plain)
    # the CPT test store has no supplement: asking for it is a 4xx, not a crash
    missing = client.get(LOOKUP, query_string={"system": CPT, "code": "64636",
                                               "useSupplement": LAY})
    assert missing.status_code == 404


def test_expand_with_use_supplement_carries_the_plain_names(web_app) -> None:
    web = FhirClient(web_app.test_client())
    body = web.get("/fhir/ValueSet/$expand", query_string={
        "url": f"{CPT}?fhir_vs", "filter": "64635", "useSupplement": LAY,
        "includeDesignations": "true"}).fhir
    [item] = [i for i in body["expansion"]["contains"] if i["code"] == "64635"]
    values = [d["value"] for d in item.get("designation", [])]
    assert any("lower back" in v for v in values)


# -- search -----------------------------------------------------------------------------------


def test_home_page_has_a_labelled_search_box_and_the_code_systems(web) -> None:
    html = page(web, "/")
    assert '<html lang="en">' in html
    assert re.search(r'<label for="q">[^<]+</label>', html) and 'id="q" name="q"' in html
    assert 'action="/search"' in html and 'method="get"' in html
    text = text_of(html)
    for title in ("CPT", "ICD-10-CM", "ICD-10-PCS", "HCPCS", "Body site"):
        assert title in text


def test_search_by_word_finds_64636(web) -> None:
    html = page(web, "/search?q=facet")
    cpt = group(html, "cpt")
    assert {"64633", "64634", "64635", "64636"} <= set(codes_in(cpt))
    assert 'href="/code/cpt/64636"' in cpt
    assert "Add-on code" in cpt  # the add-on badge
    assert "Results for “facet”" in text_of(html)


def test_search_by_code_puts_the_exact_code_first(web) -> None:
    html = page(web, "/search?q=64636")
    cpt = group(html, "cpt")
    assert codes_in(cpt)[0] == "64636"
    assert "Exact code" in cpt


@pytest.mark.parametrize("typed", ["E11.9", "e119"])
def test_search_by_icd_code_as_people_type_it(web, typed: str) -> None:
    html = page(web, f"/search?q={typed}")
    assert codes_in(group(html, "icd10cm"))[0] == "E11.9"
    # the system with the exact code comes first
    assert html.index('id="in-icd10cm"') == min(
        html.index(m) for m in re.findall(r'id="in-[^"]+"', html))


def test_results_are_grouped_by_system_with_billable_badges(web) -> None:
    html = page(web, "/search?q=diabetes")
    icd = group(html, "icd10cm")
    assert "Billable" in icd and "Not billable" in icd
    assert "E11.9" in codes_in(icd) or "E11" in codes_in(icd)


def test_search_reaches_memory_code_systems_and_deleted_codes(web) -> None:
    html = page(web, "/search?q=hand")
    body_site = next(k for k in re.findall(r'id="in-([^"]+)"', html) if k.startswith("body"))
    assert {"left-hand", "right-hand"} <= set(codes_in(group(html, body_site)))
    html = page(web, "/search?q=0042T")  # in CPT 2025 only: deleted in 2026
    assert "Deleted" in group(html, "cpt")


def test_only_the_systems_with_a_match_are_searched(web, monkeypatch) -> None:
    """The stored systems' matches are counted together first; a system is searched for its
    results only when it has one (or is served from memory): one search per system took 0.3 s
    a page with the HL7 Terminology package's 900 code systems."""
    from terminology.web.pages import search as pages_search

    searched: list[str] = []
    real = pages_search.expand

    def recording(registry, request):  # type: ignore[no-untyped-def]
        searched.append(request.url.split("?")[0])
        return real(registry, request)

    monkeypatch.setattr(pages_search, "expand", recording)
    html = page(web, "/search?q=cholera")
    keys = re.findall(r'id="in-([^"]+)"', html)
    assert "icd10cm" in keys and "A00.9" in codes_in(group(html, "icd10cm"))
    stored = [url for url in searched if "body" not in url]  # the memory code system aside
    assert stored == ["http://hl7.org/fhir/sid/icd-10-cm"]
    searched.clear()
    one = page(web, "/search?q=cholera&in=cpt")  # the others' counts, not their searches
    assert re.search(r'in=icd10cm">[^<]*</a>\s*<span class="n">[1-9]', one)
    assert [url for url in searched if "body" not in url] == [CPT]


def test_one_system_search_and_bad_input(web) -> None:
    html = page(web, "/search?q=visit&in=cpt")
    assert re.findall(r'id="in-([^"]+)"', html) == ["cpt"]
    assert len(codes_in(html)) > 10  # more than the all-systems page shows per system
    page(web, "/search?q=visit&in=nothing", 404)
    page(web, "/search?q=" + "x" * 201, 400)
    assert "Type a word" in text_of(page(web, "/search"))
    assert "No code matches" in text_of(page(web, "/search?q=zzzzqqqq"))
    for hostile in ['"(*', "AND OR NOT", "*", "key:64636", "NEAR(a b)", "\x00", "\\", "'; --",
                    "64636:25", "E11.", "%", "_"]:
        response = web.get("/search", query_string={"q": hostile})
        assert response.status_code == 200, hostile


def test_everything_is_escaped(web) -> None:
    html = web.get("/search", query_string={"q": "<script>alert(1)</script>"}).get_data(
        as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = page(web, "/code/cpt/%3Cb%3Ex%3C%2Fb%3E", 404)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# -- code pages -------------------------------------------------------------------------------


def test_code_page_shows_the_lay_sections_in_order(web) -> None:
    html = page(web, "/code/cpt/64636")
    headings = re.findall(r'<h3 id="[a-z-]+-h">([^<]+)</h3>', html)
    assert headings == ["Summary", "Purpose", "Indications", "Preparation", "Procedure",
                        "Duration", "Setting", "Personnel", "Risks and complications",
                        "Benefits", "Recovery", "Alternatives", "Patient experience"]
    assert re.search(r'<section class="lay-section" id="procedure".*?<ol><li>', html, re.S)
    text = text_of(html)
    assert "In plain words:" in text and "not AMA CPT content" in text
    assert "lumbar or sacral spine, each further facet joint" in text  # the descriptor
    assert "American Medical Association" in text  # the copyright


def test_code_page_shows_descriptors_status_versions_and_properties(web) -> None:
    html = page(web, "/code/cpt/64636")
    text = text_of(html)
    for kind in ("Long descriptor", "Long descriptor (upper case)", "Medium descriptor",
                 "Short descriptor", "Consumer-friendly descriptor", "Clinician descriptor",
                 "Plain-language name"):
        assert re.search(rf"<th scope=\"row\">{re.escape(kind)}</th>", html), kind
    assert "Active in CPT 2026" in text
    assert 'href="/code/cpt/64636?version=2025"' in html
    # properties in words, never their codes
    properties = section(html, "properties")
    assert "<th scope=\"row\">Kind of code</th>" in properties
    assert "Category I code" in properties and "Orthopoxvirus-related code" in properties
    for code in ("mue-indicator", "mue-rationale", "add-on", "telemedicine", "cat-1", "orthopox",
                 "primary-code", "<code>"):
        assert code not in properties, code


def test_code_page_medical_policies(web) -> None:
    """The CMS facts of the code in one section, each with its source and when it is in force."""
    html = page(web, "/code/cpt/64636")
    policies = section(html, "policies")
    text = text_of(policies)
    assert text.startswith("Medical policies and guidelines")
    assert "An add-on code: report it only with one of its primary procedures" in text
    assert 'href="/code/cpt/64635"' in policies
    assert "Medically unlikely edit: 4 units per day (clinical)" in text
    assert "Rationale: Clinical: Data" in text
    assert "Source: CMS NCCI MUE table for practitioner services" in text
    assert "In force: 2025 Q1" in text
    assert "Telemedicine: not listed in Appendix P" in text
    # the primary code: its PTP pairs as column 1, with the modifiers that bypass them
    text = text_of(page(web, "/code/cpt/64635"))
    assert "Procedure-to-procedure edits" in text
    assert "not paid when reported with 64635 for the same patient on the same day" in text
    assert "64633" in text and "59, XE, XS, XP, XU" in text
    assert "Source: CMS NCCI PTP edits for practitioner services" in text
    assert "In force: 2026 Q2" in text  # NCCI version 32.1
    # a column-2 code: the codes it is bundled into (not paid beside), each linked
    bundled = page(web, "/code/cpt/64633")
    assert ("Bundled into: 64633 is not paid when reported with the code below for the same "
            "patient on the same day (64633 is column 2 of 1 pair)") in text_of(bundled)
    assert 'href="/code/cpt/64635"' in section(bundled, "policies")
    assert "Telemedicine: listed in Appendix P" in text_of(page(web, "/code/cpt/99213"))
    # a code system without policies has no such section
    assert "Medical policies" not in text_of(page(web, "/code/icd10cm/E11.9"))


def test_a_deleted_code_says_it_cannot_be_used(web) -> None:
    text = text_of(page(web, "/code/cpt/0042T"))
    assert ("0042T was deleted from CPT on 2026-01-01: it cannot be used for services on or "
            "after 2026-01-01. It is valid in CPT 2025.") in text


def test_code_page_related_codes(web) -> None:
    addon = page(web, "/code/cpt/64636")
    related = re.search(r'aria-labelledby="related".*?</section>', addon, re.S).group(0)
    assert "Primary procedure codes" in related and 'href="/code/cpt/64635"' in related
    assert "Nearby codes" in related and 'href="/code/cpt/64633"' in related
    primary = page(web, "/code/cpt/64635")
    related = re.search(r'aria-labelledby="related".*?</section>', primary, re.S).group(0)
    block = related.split("Add-on codes reported with this code", 1)[1].split("<h3>", 1)[0]
    assert codes_in(block) == ["64636"]  # 64634's edit with 64635 has ended
    icd = page(web, "/code/icd10cm/E11.9")
    assert "Broader code" in icd and 'href="/code/icd10cm/E11"' in icd
    assert "Billable" in icd
    parent = page(web, "/code/icd10cm/E11")
    block = parent.split("Narrower codes", 1)[1].split("</ul>", 1)[0]
    assert {"E11.6", "E11.9"} <= set(codes_in(block))


def test_code_page_links_to_the_lookup_json(web) -> None:
    html = page(web, "/code/cpt/64636")
    href = unescape(re.search(r'href="(/fhir/CodeSystem/\$lookup\?[^"]+)"', html).group(1))
    body = web.get(href).get_json()
    names = {p["name"] for p in body["parameter"]}
    assert "used-supplement" in names
    assert any(p.get("part", [{}])[0].get("valueCode") == "summary"
               for p in body["parameter"] if p["name"] == "property")


def test_code_pages_of_other_systems_and_versions(web) -> None:
    assert "Deleted" in text_of(page(web, "/code/cpt/0042T"))
    assert "Active in CPT 2025" in text_of(page(web, "/code/cpt/64636?version=2025"))
    assert "99213" in text_of(page(web, "/code/cpt/99213:25"))  # an expression
    hcpcs = next(c for c in ("A0428", "J1100") if web.get(f"/code/hcpcs/{c}").status_code == 200)
    assert hcpcs
    body_site = re.search(r'href="/code/(body[^/"]*)/', page(web, "/search?q=hand")).group(1)
    html = page(web, f"/code/{body_site}/left-hand")
    assert "The hand on your left" in html and "A note for patients" in html
    assert "Most people write with the other one." in html  # a memory code system's supplement


@pytest.mark.parametrize("url", ["/code/cpt/00000", "/code/cpt/99252:95", "/code/nope/64636",
                                 "/code/cpt/64636?version=1999", "/code/icd10cm/E11.99999"])
def test_unknown_codes_systems_and_versions_are_404_pages(web, url: str) -> None:
    html = page(web, url, 404)
    assert "<h1>Not found</h1>" in html


def test_the_fhir_api_is_untouched(client: FhirClient) -> None:
    assert client.get("/fhir/metadata").status_code == 200
    assert client.get("/fhir/nothing-here").status_code == 404  # still an OperationOutcome


def test_static_css_is_served(web) -> None:
    response = web.get("/ui-static/ui.css")
    assert response.status_code == 200 and "text/css" in response.content_type


def test_templates_and_css_ship_with_the_package() -> None:
    root = Path(__file__).resolve().parent.parent
    pyproject = (root / "pyproject.toml").read_text()
    assert '"terminology.web" = ["templates/*", "static/*"]' in pyproject
    assert '"codesystems.cpt" = ["sample/*", "sample/*/*"]' in pyproject
