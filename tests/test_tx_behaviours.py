"""Behaviours the HL7 tx-ecosystem suites pin down beyond the visible ones, on our own small code
systems sent inline: one code system at two versions in one value set, CodeableConcepts that mix
good and bad codings, the status of the resources an answer draws on, value-set versions, and a
hierarchy kept under a text filter.
"""

from __future__ import annotations

from typing import Any

from conftest import message_ids, param_dict, parameters

EXPAND = "/fhir/ValueSet/$expand"
VALIDATE = "/fhir/ValueSet/$validate-code"
FRUIT = "http://example.org/fhir/CodeSystem/fruit"
VS = "http://example.org/fhir/ValueSet/"
EXPANSION_PARAMETER = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


def _fruit(version: str, concepts: list[tuple[str, str]]) -> dict[str, Any]:
    return {"resourceType": "CodeSystem", "url": FRUIT, "version": version, "status": "active",
            "content": "complete", "caseSensitive": True,
            "concept": [{"code": c, "display": d} for c, d in concepts]}


# Version 2 renames pear, drops plum and adds quince.
FRUIT_1 = _fruit("1.0.0", [("apple", "Apple"), ("pear", "Pear"), ("plum", "Plum")])
FRUIT_2 = _fruit("2.0.0", [("apple", "Apple"), ("pear", "Ripe pear"), ("quince", "Quince")])


def _valueset(name: str, compose: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": VS + name, "version": "1", "status": "active",
            "compose": compose, **extra}


def _versions_match(value: str) -> list[dict[str, Any]]:
    return [{"url": EXPANSION_PARAMETER, "extension": [
        {"url": "name", "valueCode": "versionsMatch"}, {"url": "value", "valueString": value}]}]


BOTH = {"include": [{"system": FRUIT, "version": "1.0.0"}, {"system": FRUIT, "version": "2.0.0"}]}
V2_NOT_V1 = {"include": [{"system": FRUIT, "version": "2.0.0"}],
             "exclude": [{"system": FRUIT, "version": "1.0.0"}]}


def _call(client: Any, path: str, valueset: dict[str, Any], *extra: tuple[str, str, Any],
          resources: tuple[dict[str, Any], ...] = (FRUIT_1, FRUIT_2)) -> dict[str, Any]:
    body = parameters(("valueSet", "resource", valueset),
                      *[("tx-resource", "resource", r) for r in resources], *extra)
    response = client.post_parameters(path, body)
    assert response.status_code == 200, response.fhir
    return response.fhir


def _members(body: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(c["code"], c.get("version"), c.get("display"))
            for c in body["expansion"].get("contains", [])]


def _expansion_parameters(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(p["name"], next(v for k, v in p.items() if k.startswith("value")))
            for p in body["expansion"].get("parameter", [])]


# -- one code system at several versions ---------------------------------------------------------


def test_two_versions_of_one_code_system_are_listed_apart(client):
    body = _call(client, EXPAND, _valueset("both", BOTH))
    assert body["expansion"]["total"] == 6
    assert sorted(_members(body)) == [
        ("apple", "1.0.0", "Apple"), ("apple", "2.0.0", "Apple"),
        ("pear", "1.0.0", "Pear"), ("pear", "2.0.0", "Ripe pear"),
        ("plum", "1.0.0", "Plum"), ("quince", "2.0.0", "Quince")]
    assert ("used-codesystem", f"{FRUIT}|1.0.0") in _expansion_parameters(body)
    assert ("used-codesystem", f"{FRUIT}|2.0.0") in _expansion_parameters(body)
    assert ("versionsMatch", True) not in _expansion_parameters(body)


def test_versions_said_to_match_give_one_member_per_code(client):
    body = _call(client, EXPAND, _valueset("merged", {**BOTH, "extension": _versions_match(
        "true")}))
    assert sorted(code for code, _, _ in _members(body)) == ["apple", "pear", "plum", "quince"]
    assert {c: v for c, v, _ in _members(body)}["apple"] == "2.0.0"  # newest first
    assert ("versionsMatch", True) in _expansion_parameters(body)


def test_excluding_another_version_compares_codes_across_versions(client):
    """Include 2.0.0, exclude 1.0.0: what version 2 added (tx.fhir.org says versionsMatch)."""
    body = _call(client, EXPAND, _valueset("added", V2_NOT_V1))
    assert _members(body) == [("quince", "2.0.0", "Quince")]
    assert ("versionsMatch", True) in _expansion_parameters(body)


def test_an_exclusion_removes_only_the_version_it_names(client):
    kept = _call(client, EXPAND, _valueset("v2-kept", {
        **V2_NOT_V1, "extension": _versions_match("false")}))
    assert sorted(c for c, _, _ in _members(kept)) == ["apple", "pear", "quince"]
    one_code = _call(client, EXPAND, _valueset("no-old-pear", {
        **BOTH, "exclude": [{"system": FRUIT, "version": "1.0.0", "concept": [{"code": "pear"}]}]}))
    assert ("pear", "2.0.0", "Ripe pear") in _members(one_code)
    assert ("pear", "1.0.0", "Pear") not in _members(one_code)


def _validate(client: Any, valueset: dict[str, Any], coding: dict[str, Any]) -> dict[str, list]:
    return param_dict(_call(client, VALIDATE, valueset, ("coding", "valueCoding", coding)))


def test_validate_code_chooses_the_version_that_has_the_code(client):
    both = _valueset("both", BOTH)
    apple = _validate(client, both, {"system": FRUIT, "code": "apple"})
    assert apple["result"] == [True] and apple["version"] == ["2.0.0"]
    plum = _validate(client, both, {"system": FRUIT, "code": "plum"})
    assert plum["result"] == [True] and plum["version"] == ["1.0.0"]
    old_name = _validate(client, both, {"system": FRUIT, "code": "pear", "display": "Pear"})
    assert old_name["result"] == [True] and old_name["version"] == ["1.0.0"]
    wrong = _validate(client, both, {"system": FRUIT, "code": "pear", "display": "Pearl"})
    assert wrong["result"] == [False] and wrong["version"] == ["2.0.0"]
    assert wrong["message"] == [(f"Wrong Display Name 'Pearl' for {FRUIT}#pear. Valid display "
                                 "is 'Ripe pear' (for the language(s) '--')")]


def test_validate_code_in_a_named_version_checks_that_version(client):
    both = _valueset("both", BOTH)
    body = _validate(client, both, {"system": FRUIT, "version": "2.0.0", "code": "plum"})
    assert body["result"] == [False]
    assert body["message"] == [(
        f"The provided code '{FRUIT}|2.0.0#plum' was not found in the value set "
        f"'{VS}both|1'; Unknown code 'plum' in the CodeSystem '{FRUIT}' version '2.0.0'")]
    kept = _validate(client, _valueset("v2-kept", {**V2_NOT_V1, "extension": _versions_match(
        "false")}), {"system": FRUIT, "code": "apple"})
    assert kept["result"] == [True] and kept["version"] == ["2.0.0"]


# -- CodeableConcepts with mixed codings ---------------------------------------------------------


def _validate_concept(client: Any, valueset: dict[str, Any],
                      codings: list[dict[str, Any]]) -> dict[str, list]:
    return param_dict(_call(client, VALIDATE, valueset,
                            ("codeableConcept", "valueCodeableConcept", {"coding": codings})))


def test_an_unknown_code_beside_a_valid_one_decides_the_result(client):
    body = _validate_concept(client, _valueset("v1", {"include": [{"system": FRUIT}]}), [
        {"system": FRUIT, "code": "banana"}, {"system": FRUIT, "code": "apple"}])
    assert body["result"] == [False]
    assert body["code"] == ["apple"] and body["display"] == ["Apple"]  # the valid coding
    assert body["message"] == [(f"Unknown code 'banana' in the CodeSystem '{FRUIT}' version "
                                "'2.0.0'")]


def test_an_unknown_system_beside_a_valid_coding_does_not(client):
    body = _validate_concept(client, _valueset("v1", {"include": [{"system": FRUIT}]}), [
        {"system": "http://example.org/unknown", "code": "x"}, {"system": FRUIT, "code": "apple"}])
    assert body["result"] == [True]
    not_checked = [i for i in body["issues"][0]["issue"]
                   if message_ids(i) == ["UNKNOWN_CODESYSTEM_CODING_NOT_CHECKED"]]
    assert [i["severity"] for i in not_checked] == ["warning"]


def test_a_concept_not_in_the_value_set_carries_no_display(client):
    body = _validate_concept(client, _valueset("apples", {"include": [
        {"system": FRUIT, "concept": [{"code": "apple"}]}]}), [{"system": FRUIT, "code": "pear"}])
    assert body["result"] == [False]
    assert "display" not in body and "code" not in body


# -- the status of what an answer draws on -------------------------------------------------------

STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
VALUESET_DEPRECATED = "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"
HERBS = "http://example.org/fhir/CodeSystem/herbs"


def _herbs(**status: Any) -> dict[str, Any]:
    """A small hierarchical code system: basil, and mint with two kinds below it."""
    return {"resourceType": "CodeSystem", "url": HERBS, "version": "3", "status": "active",
            "content": "complete", "hierarchyMeaning": "is-a", **status, "concept": [
                {"code": "basil", "display": "Basil"},
                {"code": "mint", "display": "Mint", "concept": [
                    {"code": "spearmint", "display": "Spearmint"},
                    {"code": "peppermint", "display": "Peppermint"}]}]}


def _herb_call(client: Any, path: str, valueset: dict[str, Any], *extra: tuple[str, str, Any],
               herbs: dict[str, Any] | None = None,
               more: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return _call(client, path, valueset, *extra, resources=(herbs or _herbs(), *more))


ALL_HERBS = {"include": [{"system": HERBS}]}
DEPRECATED = {"extension": [{"url": STANDARDS_STATUS, "valueCode": "deprecated"}]}
WITHDRAWN = {"extension": [{"url": STANDARDS_STATUS, "valueCode": "withdrawn"}]}


def test_an_expansion_warns_of_draft_experimental_and_deprecated_code_systems(client):
    for status, warning in (({"status": "draft"}, "warning-draft"),
                            ({"experimental": True}, "warning-experimental"),
                            ({"status": "retired"}, "warning-retired"),
                            (DEPRECATED, "warning-deprecated")):
        body = _herb_call(client, EXPAND, _valueset("herbs", ALL_HERBS), herbs=_herbs(**status))
        assert (warning, f"{HERBS}|3") in _expansion_parameters(body), status
    plain = _herb_call(client, EXPAND, _valueset("herbs", ALL_HERBS))
    assert not [n for n, _ in _expansion_parameters(plain) if n.startswith("warning-")]


def test_a_draft_value_set_is_not_warned_of_its_own_draft_status(client):
    body = _herb_call(client, EXPAND, _valueset("herbs", ALL_HERBS, status="draft"),
                      herbs=_herbs(status="draft"))
    assert not [n for n, _ in _expansion_parameters(body) if n.startswith("warning-")]


def test_a_withdrawn_value_set_is_warned_of_directly_and_through_include_value_set(client):
    withdrawn = _valueset("withdrawn", ALL_HERBS, **WITHDRAWN)
    direct = _herb_call(client, EXPAND, withdrawn, herbs=_herbs(**DEPRECATED))
    assert ("warning-withdrawn", f"{VS}withdrawn|1") in _expansion_parameters(direct)
    assert ("warning-deprecated", f"{HERBS}|3") in _expansion_parameters(direct)
    outer = _herb_call(client, EXPAND, _valueset("outer", {"include": [
        {"valueSet": [VS + "withdrawn"]}]}), herbs=_herbs(**DEPRECATED), more=(withdrawn,))
    parameters_ = _expansion_parameters(outer)
    assert ("warning-withdrawn", f"{VS}withdrawn|1") in parameters_
    assert ("warning-deprecated", f"{HERBS}|3") in parameters_
    assert ("used-valueset", f"{VS}withdrawn|1") in parameters_
    # a value set drawn in through include.valueSet is listed flat
    assert [c["code"] for c in outer["expansion"]["contains"]] == [
        "basil", "mint", "spearmint", "peppermint"]
    assert not any("contains" in c for c in outer["expansion"]["contains"])


def _issues(body: dict[str, list]) -> list[tuple[str, str, list[str]]]:
    return [(i["severity"], i["details"]["text"], [e["valueString"] for e in i.get("extension", [])])
            for i in body["issues"][0]["issue"]]


def test_validate_code_says_the_status_of_the_code_system_and_value_set(client):
    body = param_dict(_herb_call(client, VALIDATE, _valueset("withdrawn", ALL_HERBS, **WITHDRAWN),
                                 ("coding", "valueCoding", {"system": HERBS, "code": "basil"}),
                                 herbs=_herbs(**DEPRECATED)))
    assert body["result"] == [True] and "message" not in body
    assert sorted(_issues(body)) == [
        ("information", f"Reference to deprecated CodeSystem {HERBS}|3", ["MSG_DEPRECATED"]),
        ("information", f"Reference to withdrawn ValueSet {VS}withdrawn|1", ["MSG_WITHDRAWN"])]
    draft = param_dict(_herb_call(client, VALIDATE, _valueset("herbs", ALL_HERBS),
                                  ("coding", "valueCoding", {"system": HERBS, "code": "mint"}),
                                  herbs=_herbs(status="draft")))
    assert _issues(draft) == [("information", f"Reference to draft CodeSystem {HERBS}|3",
                               ["MSG_DRAFT"])]


def test_a_concept_the_value_set_deprecates_is_a_warning_and_keeps_its_mark(client):
    marks = {"basil": {"url": VALUESET_DEPRECATED, "valueCode": "true"},
             "mint": {"url": STANDARDS_STATUS, "valueCode": "deprecated"}}
    listed = _valueset("listed", {"include": [{"system": HERBS, "concept": [
        {"code": code, "extension": [mark]} for code, mark in marks.items()] + [
        {"code": "spearmint"}]}]})
    expansion = _herb_call(client, EXPAND, listed)
    assert {c["code"]: c.get("extension") for c in expansion["expansion"]["contains"]} == {
        "basil": [marks["basil"]], "mint": [marks["mint"]], "spearmint": None}
    for code in marks:
        body = param_dict(_herb_call(client, VALIDATE, listed, ("coding", "valueCoding",
                                                                {"system": HERBS, "code": code})))
        assert body["result"] == [True]
        assert _issues(body) == [("warning", (
            f"The presence of the concept '{code}' in the system '{HERBS}' in the value set "
            f"{VS}listed|1 is marked with a status of deprecated and its use should be "
            "reviewed"), ["CONCEPT_DEPRECATED_IN_VALUESET"])]


# -- value-set versions ----------------------------------------------------------------------------

def _basket(version: str, codes: list[str]) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": VS + "basket", "version": version,
            "status": "active", "compose": {"include": [
                {"system": FRUIT, "version": "1.0.0", "concept": [{"code": c} for c in codes]}]}}


BASKETS = (FRUIT_1, _basket("1", ["apple"]), _basket("2", ["pear", "plum"]))
ANY_BASKET = _valueset("any-basket", {"include": [{"valueSet": [VS + "basket"]}]})


def test_default_valueset_version_chooses_the_included_value_set_and_is_echoed(client):
    latest = _call(client, EXPAND, ANY_BASKET, resources=BASKETS)
    assert sorted(c for c, _, _ in _members(latest)) == ["pear", "plum"]
    pinned = _call(client, EXPAND, ANY_BASKET, ("default-valueset-version", "valueCanonical",
                                                f"{VS}basket|1"), resources=BASKETS)
    assert [c for c, _, _ in _members(pinned)] == ["apple"]
    assert ("default-valueset-version", f"{VS}basket|1") in _expansion_parameters(pinned)
    assert ("used-valueset", f"{VS}basket|1") in _expansion_parameters(pinned)


def test_a_pinned_value_set_version_that_is_missing_is_named_with_its_version(client):
    body = parameters(("valueSet", "resource", ANY_BASKET),
                      ("default-valueset-version", "valueCanonical", f"{VS}basket|9"),
                      *[("tx-resource", "resource", r) for r in BASKETS])
    response = client.post_parameters(EXPAND, body)
    assert response.status_code == 422
    issue = response.fhir["issue"][0]
    assert issue["details"]["text"] == (f"Unable to find included value set '{VS}basket' "
                                        "version '9'")
    assert message_ids(issue) == ["VS_EXP_IMPORT_UNK_PINNED"]
    validated = param_dict(_call(client, VALIDATE, ANY_BASKET, (
        "coding", "valueCoding", {"system": FRUIT, "code": "apple"}), (
        "default-valueset-version", "valueCanonical", f"{VS}basket|9"), resources=BASKETS))
    assert validated["result"] == [False]
    assert validated["message"] == [(f"A definition for the value Set '{VS}basket|9' could "
                                     "not be found")]


# -- a hierarchy under a text filter ---------------------------------------------------------------

MINTS = _valueset("mints", {"include": [{"system": HERBS, "filter": [
    {"property": "concept", "op": "is-a", "value": "mint"}]}]})


def _tree(body: dict[str, Any]) -> list[Any]:
    def walk(items: list[dict[str, Any]]) -> list[Any]:
        return sorted((i["code"], walk(i.get("contains", []))) for i in items)
    return walk(body["expansion"].get("contains", []))


def test_an_is_a_value_set_filtered_by_text_keeps_its_hierarchy(client):
    nested = _herb_call(client, EXPAND, MINTS, ("filter", "valueString", "mint"))
    assert nested["expansion"]["total"] == 3
    assert _tree(nested) == [("mint", [("peppermint", []), ("spearmint", [])])]
    flat = [("mint", []), ("peppermint", []), ("spearmint", [])]
    asked_flat = _herb_call(client, EXPAND, MINTS, ("filter", "valueString", "mint"),
                            ("excludeNested", "valueBoolean", True))
    assert _tree(asked_flat) == flat
    paged = _herb_call(client, EXPAND, MINTS, ("filter", "valueString", "mint"),
                       ("count", "valueInteger", 10))
    assert _tree(paged) == flat
    whole = _herb_call(client, EXPAND, _valueset("herbs", ALL_HERBS),
                       ("filter", "valueString", "mint"))
    assert _tree(whole) == flat  # a whole code system searched by text is listed flat
