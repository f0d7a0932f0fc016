"""BCP-47 language tags (`urn:ietf:bcp:47`) through the real app: the grammar of RFC 5646 over
the IANA subtag registry, tx.fhir.org's displays and messages, and value sets over the tags."""

from __future__ import annotations

import pytest
from conftest import LOOKUP, VALIDATE, designations, issues_of, message_ids, param_dict
from grammar_helpers import expand, validate_in, value_set

BCP47 = "urn:ietf:bcp:47"


def validate(client, code: str, **extra: str) -> dict:
    response = client.get(VALIDATE, query_string={"url": BCP47, "code": code, **extra})
    assert response.status_code == 200
    return response.fhir


@pytest.mark.parametrize("code, display", [
    ("en", "English"),
    ("en-US", "English (United States)"),
    ("es-419", "Spanish (Latin America and the Caribbean)"),
    ("zh-Hant-TW", "Chinese (Script=Han (Traditional variant), Region=Taiwan, Province of China)"),
    ("de-CH-1996", "German (Region=Switzerland, Variant=German orthography of 1996)"),
    ("sr-Latn", "Serbian (Script=Latin)"),
    ("en-Latn-US-u-co-phonebk-x-mine", "English (Script=Latin, Region=United States)"),
    ("zh-yue-HK", "Chinese (Hong Kong)"),
    ("qab", "Private use"),  # a subtag of the registry's range qaa..qtz
    ("i-klingon", "Klingon"),  # grandfathered: registered as a whole tag
])
def test_valid_tags_and_their_displays(client, code, display):
    params = param_dict(validate(client, code))
    assert params["result"] == [True]
    assert params["display"] == [display]
    assert "version" not in params  # as tx.fhir.org: BCP-47 has no version


@pytest.mark.parametrize("code", ["en-us", "EN", "xx", "en-QQQ", "en-Qqqq", "en--US", "en-US-",
                                  "de-CH-1996-1996", "en-a", "english", "en-US-x"])
def test_invalid_tags_are_unknown_codes_as_tx_fhir_org_says(client, code):
    body = validate(client, code)
    params = param_dict(body)
    assert params["result"] == [False]
    assert params["message"] == [f"Unknown code '{code}' in the CodeSystem '{BCP47}'"]
    [issue] = issues_of(body)
    assert issue["code"] == "code-invalid" and issue["expression"] == ["code"]


def test_region_wordings_tx_fhir_org_accepts_as_displays(client):
    for display in ("English (United States)", "English (Region=United States)",
                    "English-United States", "english (united states)"):
        assert param_dict(validate(client, "en-US", display=display))["result"] == [True]
    body = validate(client, "en-US", display="American")
    params = param_dict(body)
    assert params["result"] == [False]
    assert "Wrong Display Name 'American' for urn:ietf:bcp:47#en-US" in params["message"][0]
    assert message_ids(issues_of(body)[0]) == ["Display_Name_for__should_be_one_of__instead_of"]


def test_lookup_gives_the_display_and_its_other_wordings(client):
    response = client.get(LOOKUP, query_string={"system": BCP47, "code": "en-US"})
    assert response.status_code == 200
    params = param_dict(response.fhir)
    assert params["name"] == ["IETF Lang (BCP 47)"]
    assert params["display"] == ["English (United States)"]
    values = [d["value"] for d in designations(response.fhir)]
    assert values[0] == "English (United States)"  # the display, preferred for English
    assert "English (Region=United States)" in values


def test_lookup_of_an_invalid_tag_is_not_found(client):
    response = client.get(LOOKUP, query_string={"system": BCP47, "code": "en-us"})
    assert response.status_code == 404
    assert issues_of(response.fhir)[0]["code"] == "not-found"


def test_a_value_set_listing_tags_expands_and_validates(client):
    languages = value_set(BCP47, ["en", "en-US", "fr-CA", "xx-XX"])
    body = expand(client, languages).fhir
    contains = body["expansion"]["contains"]
    assert [(c["code"], c["display"]) for c in contains] == [
        ("en", "English"), ("en-US", "English (United States)"),
        ("fr-CA", "French (Canada)")]  # xx-XX is no language tag, so it is not a member
    assert validate_in(client, languages, BCP47, "fr-CA")["result"] == [True]
    outside = validate_in(client, languages, BCP47, "de")
    assert outside["result"] == [False]
    assert "was not found in the value set" in outside["message"][0]


def test_a_text_filter_on_a_listed_value_set_matches_displays(client):
    body = expand(client, value_set(BCP47, ["en", "en-US", "fr"]), filter="English").fhir
    assert [c["code"] for c in body["expansion"]["contains"]] == ["en", "en-US"]


def test_the_whole_grammar_cannot_be_expanded_but_validates(client):
    every = value_set(BCP47)
    response = expand(client, every)
    assert response.status_code == 400
    [issue] = issues_of(response.fhir)
    assert issue["code"] == "too-costly"
    assert issue["details"]["text"] == (
        'The code System "urn:ietf:bcp:47" has a grammar, and cannot be enumerated directly')
    assert validate_in(client, every, BCP47, "pt-BR")["result"] == [True]
    assert validate_in(client, every, BCP47, "pt-br")["result"] == [False]


def test_component_exists_filters(client):
    with_region = value_set(BCP47, filters=[{"property": "region", "op": "exists",
                                             "value": "true"}])
    assert validate_in(client, with_region, BCP47, "en-GB")["result"] == [True]
    assert validate_in(client, with_region, BCP47, "en")["result"] == [False]
    no_script = value_set(BCP47, filters=[{"property": "script", "op": "exists",
                                           "value": "false"}])
    assert validate_in(client, no_script, BCP47, "en-GB")["result"] == [True]
    assert validate_in(client, no_script, BCP47, "sr-Cyrl")["result"] == [False]


def test_a_registry_file_as_iana_publishes_it_is_read(tmp_path, db_path, monkeypatch):
    import shutil

    from conftest import client_for

    registry = tmp_path / "language-subtag-registry"
    registry.write_text(
        "File-Date: 2030-01-01\n%%\nType: language\nSubtag: en\nDescription: English\n"
        "Added: 2005-10-16\nSuppress-Script: Latn\n%%\nType: region\nSubtag: US\n"
        "Description: United States of\n  America\nAdded: 2005-10-16\n", encoding="utf-8")
    store = tmp_path / "store.db"
    shutil.copy(db_path, store)
    monkeypatch.setenv("TX_BCP47_REGISTRY", str(registry))
    client = client_for(store)
    assert param_dict(validate(client, "en-US"))["display"] == [
        "English (United States of America)"]  # a folded Description line continues it
    assert param_dict(validate(client, "fr"))["result"] == [False]
