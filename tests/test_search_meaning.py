"""Search finds the code a person means: word forms, typos, abbreviations and lay terms,
ICD-10-CM inclusion terms and Alphabetic Index terms, and the ranking among matches — through
the real app, over stores built by the real importers (our samples, and the full ICD-10-CM of
the simple-icd-10-cm package for the ranking)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from codesets import (  # noqa: F401 (codeset_db_fixture: a fixture)
    ICD,
    ICD_FOLDER,
    ICD_INDEX,
    ICD_XML,
    codeset_db_fixture,
    copy_of,
)
from conftest import FhirClient

import server
from codesystems.icd10cm import loader
from codesystems.icd10cm.index import read_index
from terminology.store import Store
from terminology.textsearch.query import parse
from terminology.textsearch.ranking import concept_key

ALL = "urn:txserver:ValueSet/all-codes"
EXPAND = "/fhir/ValueSet/$expand"


def found(client: FhirClient, text: str, count: int = 10, url: str = ALL) -> list[str]:
    response = client.get(EXPAND, query_string={"url": url, "filter": text, "count": count})
    assert response.status_code == 200, response.get_json()
    return [c["code"] for c in response.get_json()["expansion"].get("contains", [])]


@pytest.fixture(scope="module")
def full_client(tmp_path_factory: pytest.TempPathFactory) -> FhirClient:
    """The full ICD-10-CM (no Alphabetic Index: the package has none)."""
    path = tmp_path_factory.mktemp("icd-full") / "tx.db"
    loader.import_tabular(Store(path))
    return FhirClient(server.create_app({"DB": str(path), "CACHE_BYTES": 0}).test_client())


@pytest.fixture()
def client(codeset_db: Path) -> FhirClient:
    return FhirClient(server.create_app({"DB": str(codeset_db), "CACHE_BYTES": 0}).test_client())


# -- word forms ------------------------------------------------------------------------------


def test_word_forms_find_each_other(client, full_client):
    assert found(client, "choleras")[0] == "A00"
    assert set(found(client, "facet joints", 4)) == {"64633", "64634", "64635", "64636"}
    assert found(full_client, "sprained ankle", 1) == ["S93.4"]  # "Sprain of ankle"
    assert found(full_client, "diabetic", 1) == ["E11"]  # its includes note "diabetes NOS"


def test_an_exact_word_outranks_a_stemmed_one():
    query = parse("diabetic")
    exact = concept_key(query, "Diabetic neuropathy", [], False, False, "X2")
    stemmed = concept_key(query, "Diabetes neuropathy", [], False, False, "X1")
    assert exact < stemmed


# -- typos -----------------------------------------------------------------------------------


def test_a_word_no_code_system_uses_is_corrected(client, full_client):
    assert found(client, "cholra")[0] == "A00"
    assert found(full_client, "hypertention", 1) == ["I10"]
    assert found(full_client, "pnemonia", 1)[0].startswith("J18")
    assert found(full_client, "migranes", 1)[0].startswith("G43")  # not "migrans", nearer
    # a word that is only another form of a known word is not a typo
    assert found(full_client, "diabetics", 1) == ["E11"]


def test_the_page_says_what_it_searched_and_links_the_literal_search(client):
    html = client.raw.get("/search", query_string={"q": "cholra"}).get_data(as_text=True)
    line = re.search(r'<p class="correction">(.*?)</p>', html, re.DOTALL)
    assert line is not None and "Showing results for <em>cholera</em>" in line.group(1)
    literal = re.search(r'href="([^"]+)">cholra</a>', line.group(1)).group(1)
    assert literal == "/search?q=%22cholra%22"
    html = client.raw.get(literal.replace("&amp;", "&")).get_data(as_text=True)
    assert 'class="none"' in html and 'class="correction"' not in html
    plain = client.raw.get("/search", query_string={"q": "cholera"}).get_data(as_text=True)
    assert 'class="correction"' not in plain


def test_a_quoted_word_is_searched_as_typed(client):
    assert found(client, '"cholra"') == []
    assert found(client, '"cholera"')[0] == "A00"


# -- abbreviations and lay terms -------------------------------------------------------------


@pytest.mark.parametrize("text, first", [
    ("heart attack", "I21"), ("MI", "I21"), ("HTN", "I10"), ("high blood pressure", "I10"),
    ("type II diabetes", "E11"), ("DM2", "E11"), ("afib", "I48"), ("A fib", "I48"),
    ("COPD", "J44"), ("CHF", "I50"), ("GERD", "K21"), ("kidney stones", "N20"),
    ("sore throat", "J02"), ("pink eye", "H10"), ("bladder infection", "N30"),
])
def test_abbreviations_and_lay_terms(full_client, text, first):
    assert found(full_client, text, 1)[0].startswith(first)


def test_an_abbreviation_is_not_a_word_start(full_client):
    """`MI` searched as a term of the table, not as the start of migraine or mild."""
    assert not any(code.startswith("G43") for code in found(full_client, "MI", 10))


# -- inclusion terms and the Alphabetic Index ------------------------------------------------


def test_inclusion_terms_are_searchable_designations(client, full_client):
    assert found(client, "traumatic brain injury")[0] == "S06"  # an includes note of S06
    assert found(full_client, "hay fever", 1) == ["J30.1"]  # an inclusion term of J30.1
    body = client.get("/fhir/CodeSystem/$lookup", query_string={
        "system": ICD, "code": "S06"}).get_json()
    parts = [{p["name"]: p for p in d["part"]} for d in body["parameter"]
             if d["name"] == "designation"]
    assert [(d["use"]["valueCoding"]["code"], d["value"]["valueString"]) for d in parts] == [
        ("inclusion", "traumatic brain injury")]


def test_alphabetic_index_terms_lead_to_their_codes(client):
    assert found(client, "thighbone")[0] == "S72.9"  # Thighbone, see Break, broken, thigh bone
    assert found(client, "diabetes sugar")[0] == "E11.9"  # a non-essential modifier
    assert found(client, "femur neck fracture")[0] == "S72.0"  # S72.0- names S72.0


def test_the_index_reader_counts_what_it_leaves_out(tmp_path):
    index = tmp_path / "icd10cm_index_2026.xml"
    index.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<ICD10CM.index><version>2026</version>'
        "<title>ICD-10-CM INDEX TO DISEASES and INJURIES</title><letter><title>A</title>"
        "<mainTerm><title>Attack, attacks</title><term level=\"1\"><title>heart</title>"
        "<see>Infarct, myocardium</see></term><term level=\"1\"><title>skin</title>"
        "<see>condition</see></term></mainTerm>"
        "<mainTerm><title>Infarct, infarction</title><term level=\"1\">"
        "<title>myocardium, myocardial<nemod>(acute)</nemod></title><code>I21.9</code>"
        "</term><term level=\"1\"><title>brain</title><code>I63.9</code></term></mainTerm>"
        "</letter></ICD10CM.index>", encoding="utf-8")
    terms = read_index(index, {"I21.9"})
    assert terms.terms == {"I21.9": ["Attack, attacks, heart",
                                     "Infarct, infarction, myocardium, myocardial (acute)"]}
    assert "1 see references" in terms.skipped[1] and "skin (see condition)" in terms.skipped[1]
    assert terms.skipped[0].startswith("1 index terms of icd10cm_index_2026.xml lead to 1 codes "
                                       "not in the tabular list: I63.9")
    assert "(1 through see references)" in terms.read


def test_an_index_that_is_not_one_is_refused(tmp_path):
    folder = tmp_path / "release"
    copy_of(ICD_XML, folder)
    (folder / ICD_INDEX.name).write_text("<ICD10CM.index><letter>", encoding="utf-8")
    with pytest.raises(Exception, match="line 1: not well-formed XML"):
        loader.read_source(folder)


# -- ranking ---------------------------------------------------------------------------------


def test_the_usual_code_of_a_condition_comes_first(full_client):
    assert found(full_client, "hypertension", 1) == ["I10"]  # not I15 Secondary hypertension
    assert found(full_client, "pneumonia", 2) == ["J18", "J18.9"]  # unspecified organism
    assert found(full_client, "eczema", 1) == ["L30.9"]  # "Eczema NOS"


def test_a_code_that_denies_the_word_ranks_below_those_that_say_it(full_client):
    codes = found(full_client, "diabetic", 50)
    assert "H35.2" not in codes[:10]  # Other non-diabetic proliferative retinopathy
    assert codes[0].startswith(("E10", "E11", "E13"))


def test_headings_stay_below_codes(full_client):
    codes = found(full_client, "tuberculosis", 200)
    assert codes.index("A15-A19") > codes.index("A15")  # the block titled the very word
