"""Caps on work never shorten an answer: over the full ICD-10-CM (the package's FY2026 tabular
list), a text-filtered or paged expansion reports the true total, at and past every cap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import server
from codesystems.icd10cm import loader
from conftest import FhirClient
from terminology.operations import expand as expand_operation
from terminology.store import Store

ICD_VS = "http://hl7.org/fhir/sid/icd-10-cm?fhir_vs"
EXPAND = "/fhir/ValueSet/$expand"


@pytest.fixture(scope="module")
def icd_client(tmp_path_factory: pytest.TempPathFactory) -> FhirClient:
    path = tmp_path_factory.mktemp("icd-full") / "tx.db"
    loader.import_tabular(Store(path))
    return FhirClient(server.create_app({"DB": str(path), "RESPONSE_CACHE": 0}).test_client())


def _expansion(client: FhirClient, query: str) -> dict:
    response = client.get(f"{EXPAND}?url={query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["expansion"]


def _all_codes(expansion: dict) -> set[str]:
    """Every code of an expansion, nested ones too (an is-a filter keeps the hierarchy)."""
    found, stack = set(), list(expansion.get("contains", []))
    while stack:
        item = stack.pop()
        found.add(item["code"])
        stack.extend(item.get("contains", []))
    return found


def _codes_with_words(client: FhirClient, valueset: str, words: list[str]) -> set[str]:
    """The members whose display holds every word, from the unfiltered expansion."""
    members = _expansion(client, f"{valueset}&excludeNested=true")["contains"]
    return {m["code"] for m in members
            if all(w in re.findall(r"[a-z0-9]+", m["display"].lower()) for w in words)}


@pytest.mark.parametrize("text", ["fracture", "displaced shaft", "open"])
def test_filtered_is_a_expansion_counts_every_match(icd_client, text):
    """`fracture` matches ~20,000 ICD-10-CM codes, more than the search looks at one by one;
    within S72 the total is still every member that matches (2,660), never a capped 216."""
    valueset = f"{ICD_VS}=isa/S72"
    expected = _codes_with_words(icd_client, valueset, text.split())
    page = _expansion(icd_client, f"{valueset}&filter={text}&count=5")
    assert page["total"] == len(expected) and len(page["contains"]) == 5
    whole = _expansion(icd_client, f"{valueset}&filter={text}")
    assert _all_codes(whole) == expected


@pytest.mark.parametrize("cap_offset", [-1, 0, 1])
def test_the_answer_is_the_same_either_side_of_the_search_cap(icd_client, monkeypatch,
                                                              cap_offset):
    valueset = f"{ICD_VS}=isa/S72"
    expected = _codes_with_words(icd_client, valueset, ["nondisplaced"])
    all_matches = _expansion(icd_client, f"{ICD_VS}&filter=nondisplaced&count=1")["total"]
    monkeypatch.setattr(expand_operation, "SEARCH_CANDIDATES", all_matches + cap_offset)
    found = _expansion(icd_client, f"{valueset}&filter=nondisplaced")
    assert found["total"] == len(expected)
    assert _all_codes(found) == expected


def test_a_page_of_the_whole_code_system(icd_client):
    """Larger than the expansion limit, yet a page of it is answered with the true total."""
    first = _expansion(icd_client, f"{ICD_VS}&count=10")
    assert first["total"] == 98_505 and len(first["contains"]) == 10
    last = _expansion(icd_client, f"{ICD_VS}&count=10&offset=98500")
    assert last["total"] == 98_505 and len(last["contains"]) == 5
    assert not {c["code"] for c in first["contains"]} & {c["code"] for c in last["contains"]}


def test_unpaged_whole_code_system_is_too_costly(icd_client):
    response = icd_client.get(f"{EXPAND}?url={ICD_VS}")
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["code"] == "too-costly"


def test_a_page_larger_than_the_limit_is_too_costly(icd_client):
    response = icd_client.get(f"{EXPAND}?url={ICD_VS}&count=20000")
    assert response.status_code == 422


def test_every_page_of_an_is_a_expansion_has_the_same_total(icd_client):
    """Paging counts past the page: every page says the same total."""
    valueset = f"{ICD_VS}=isa/S72"
    totals = {_expansion(icd_client, f"{valueset}&count=100&offset={offset}")["total"]
              for offset in (0, 1000, 2600)}
    assert totals == {2660}
