"""CodeSystem/$lookup over the real app and the real sample store (CPT 2025 and 2026 + CMS edits).

Expected texts are read from the shipped sample files themselves, not copied into the tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codesystems.cpt import loader
from conftest import (
    CPT,
    LOOKUP,
    designations,
    issues_of,
    message_ids,
    outcome_text,
    param_dict,
    parameters,
    properties,
    tx_types,
    typed_properties,
)

DESIGNATION_USES = {"display", "upper", "med", "short", "consumer", "clinician"}


def sample_texts(version: str, name: str) -> dict[str, str]:
    """code -> text of one descriptor sample file, `CODE<tab>text` (LONGULT, LONGUT) or fixed
    width (MEDU, SHORTU): an oracle independent of the importer, by the AMA's own rule that
    everything up to the last blank line is the notice."""
    data = (Path(loader.sample_folder(version)) / name).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    lines = text.split("\r\n")
    assert lines.pop() == "", f"{name} ends with CRLF"
    out = {}
    for line in lines[len(lines) - lines[::-1].index(""):]:
        if name.upper().startswith("LONG"):
            code, text = line.split("\t", 1)
        else:
            code, text = line[:5], line[6:].rstrip(" ")
        out[code] = text
    return out


def lookup(client, code: str, status: int = 200, **query):  # type: ignore[no-untyped-def]
    query = {"system": CPT, "code": code, **query}
    response = client.get(LOOKUP, query_string=query)
    assert response.status_code == status, response.fhir
    return response.fhir


# -- the shapes of a request --------------------------------------------------------------


def test_get_type_level(client):
    body = lookup(client, "64636")
    p = param_dict(body)
    assert p["code"] == ["64636"]
    assert p["system"] == [CPT]
    assert p["name"] == ["CPT"]
    assert p["display"] == [sample_texts("2026", "LONGULT.txt")["64636"]]


def test_post_parameters_with_code_and_system(client):
    body = parameters(("code", "valueCode", "64636"), ("system", "valueUri", CPT))
    response = client.post_parameters(LOOKUP, body)
    assert response.status_code == 200
    p = param_dict(response.fhir)
    assert p["code"] == ["64636"]
    assert p["display"] == [sample_texts("2026", "LONGULT.txt")["64636"]]


def test_post_parameters_with_coding(client):
    body = parameters(("coding", "valueCoding", {"system": CPT, "code": "64636"}))
    response = client.post_parameters(LOOKUP, body)
    assert response.status_code == 200
    assert param_dict(response.fhir)["code"] == ["64636"]
    assert properties(response.fhir)["primary-code"] == ["64635"]


def test_post_coding_with_version_selects_that_version(client):
    coding = {"system": CPT, "code": "99252", "version": "2025"}
    response = client.post_parameters(LOOKUP, parameters(("coding", "valueCoding", coding)))
    assert response.status_code == 200
    p = param_dict(response.fhir)
    assert p["version"] == ["2025"]
    assert p["display"] == [sample_texts("2025", "LONGULT.txt")["99252"]]


def test_post_form_encoded(client):
    response = client.post(LOOKUP, data={"system": CPT, "code": "99202"})
    assert response.status_code == 200
    assert param_dict(response.fhir)["code"] == ["99202"]


def test_get_and_post_give_the_same_answer(client):
    got = lookup(client, "99202:25")
    posted = client.post_parameters(
        LOOKUP, parameters(("code", "valueCode", "99202:25"), ("system", "valueUri", CPT))
    )
    assert posted.status_code == 200
    assert posted.fhir == got


def test_instance_level_needs_no_system(client):
    response = client.get("/fhir/CodeSystem/cpt-2026/$lookup", query_string={"code": "64636"})
    assert response.status_code == 200
    p = param_dict(response.fhir)
    assert p["version"] == ["2026"]
    assert p["system"] == [CPT]
    assert p["code"] == ["64636"]


def test_instance_level_post(client):
    response = client.post_parameters("/fhir/CodeSystem/cpt-2025/$lookup",
                                      parameters(("code", "valueCode", "0042T")))
    assert response.status_code == 200
    assert param_dict(response.fhir)["version"] == ["2025"]
    assert properties(response.fhir)["status"] == ["active"]


def test_instance_level_uses_that_version(client):
    response = client.get("/fhir/CodeSystem/cpt-2025/$lookup", query_string={"code": "0901T"})
    assert response.status_code == 404
    response = client.get("/fhir/CodeSystem/cpt-2026/$lookup", query_string={"code": "0901T"})
    assert response.status_code == 200


def test_instance_level_unknown_id(client):
    response = client.get("/fhir/CodeSystem/cpt-1999/$lookup", query_string={"code": "99202"})
    assert response.status_code == 404
    assert "cpt-1999" in outcome_text(response.fhir)


def test_instance_level_with_another_system_is_refused(client):
    response = client.get("/fhir/CodeSystem/cpt-2026/$lookup",
                          query_string={"code": "99202", "system": "http://example.org/other"})
    assert response.status_code == 400
    assert issues_of(response.fhir)[0]["expression"] == ["system"]


def test_instance_level_with_another_version_is_refused(client):
    response = client.get("/fhir/CodeSystem/cpt-2026/$lookup",
                          query_string={"code": "99202", "version": "2025"})
    assert response.status_code == 400
    assert issues_of(response.fhir)[0]["expression"] == ["version"]


# -- versions and dates ---------------------------------------------------------------------


def test_default_version_is_2026(client):
    assert param_dict(lookup(client, "99202"))["version"] == ["2026"]


def test_version_2025(client):
    p = param_dict(lookup(client, "99252", version="2025"))
    assert p["version"] == ["2025"]
    assert p["display"] == [sample_texts("2025", "LONGULT.txt")["99252"]]


def test_system_with_pinned_version(client):
    p = param_dict(lookup(client, "99252", system=f"{CPT}|2025"))
    assert p["version"] == ["2025"]


def test_99252_descriptor_differs_between_years(client):
    old = param_dict(lookup(client, "99252", version="2025"))["display"][0]
    new = param_dict(lookup(client, "99252", version="2026"))["display"][0]
    assert old != new
    assert old == sample_texts("2025", "LONGULT.txt")["99252"]
    assert new == sample_texts("2026", "LONGULT.txt")["99252"]
    # the default version is 2026
    assert param_dict(lookup(client, "99252"))["display"] == [new]


@pytest.mark.parametrize(
    "day, version",
    [
        ("2025-06-01", "2025"),
        ("2025-01-01", "2025"),
        ("2025-12-31", "2025"),
        ("2026-01-01", "2026"),
        ("2026-06-01", "2026"),
        ("2026-11-25T10:00:00Z", "2026"),
    ],
)
def test_date_selects_the_version_in_force(client, day, version):
    p = param_dict(lookup(client, "99252", date=day))
    assert p["version"] == [version]
    assert p["display"] == [sample_texts(version, "LONGULT.txt")["99252"]]


def test_date_2025_makes_a_2026_code_unknown(client):
    body = lookup(client, "0901T", status=404, date="2025-06-01")
    assert "2025" in outcome_text(body)


def test_year_precision_date_selects_that_year(client):
    assert param_dict(lookup(client, "99202", date="2026"))["version"] == ["2026"]


def test_date_that_is_not_a_date_is_refused(client):
    body = lookup(client, "99202", status=400, date="garbage")
    assert issues_of(body)[0]["expression"] == ["date"]


def test_unknown_version(client):
    body = lookup(client, "99202", status=404, version="2024")
    issue = issues_of(body)[0]
    assert issue["code"] == "not-found"
    assert message_ids(issue) == ["UNKNOWN_CODESYSTEM_VERSION"]
    text = outcome_text(body)
    assert "2024" in text and "2025" in text and "2026" in text  # names the valid versions


# -- what the answer carries for 64636 -------------------------------------------------------


def test_64636_display_and_version(client):
    p = param_dict(lookup(client, "64636"))
    assert p["version"] == ["2026"]
    assert p["display"] == [sample_texts("2026", "LONGULT.txt")["64636"]]
    assert p["abstract"] == [False]


def test_64636_every_designation_has_a_use(client):
    found = designations(lookup(client, "64636"))
    assert found, "64636 has designations"
    for d in found:
        assert d["use"] is not None, d
        assert d["use"]["system"] == CPT
        assert d["use"]["code"] in DESIGNATION_USES
        assert d["language"] == "en"
    by_use: dict[str, list[str]] = {}
    for d in found:
        by_use.setdefault(d["use"]["code"], []).append(d["value"])
    assert set(by_use) == DESIGNATION_USES
    assert by_use["display"] == [sample_texts("2026", "LONGULT.txt")["64636"]]
    assert by_use["upper"] == [sample_texts("2026", "LONGUT.txt")["64636"]]
    assert by_use["med"] == [sample_texts("2026", "MEDU.txt")["64636"]]
    assert by_use["short"] == [sample_texts("2026", "SHORTU.txt")["64636"]]
    assert by_use["consumer"] == [
        "The same nerve treatment for each additional spine joint in the lower back"
    ]
    assert len(by_use["clinician"]) == 2  # two clinician descriptors in the sample
    assert len(set(by_use["clinician"])) == 2


def test_64636_properties(client):
    body = lookup(client, "64636")
    typed = typed_properties(body)
    assert ("add-on", "valueBoolean", True) in typed
    assert ("primary-code", "valueCode", "64635") in typed
    assert ("status", "valueCode", "active") in typed
    assert ("inactive", "valueBoolean", False) in typed
    kinds = [(key, value) for code, key, value in typed if code == "kind"]
    assert ("valueCode", "cat-1") in kinds
    assert all(key == "valueCode" for key, _ in kinds)
    props = properties(body)
    assert props["primary-code"] == ["64635"]
    assert props["add-on"] == [True]
    assert len(props["copyright"]) == 1
    assert "American Medical Association" in props["copyright"][0]


def test_add_on_code_with_an_ended_edit_lists_only_current_primaries(client):
    # 64634 -> 64633 (in force) and 64634 -> 64635 (edit ended 2014-12-31)
    props = properties(lookup(client, "64634"))
    assert props["add-on"] == [True]
    assert props["primary-code"] == ["64633"]


def test_a_primary_code_is_not_an_add_on(client):
    props = properties(lookup(client, "64635"))
    assert props.get("add-on", [False]) == [False]
    assert "primary-code" not in props


@pytest.mark.parametrize(
    "wanted",
    [["add-on"], ["add-on", "kind"], ["status", "primary-code"], ["telemedicine"]],
)
def test_property_parameter_returns_only_those_properties(client, wanted):
    body = lookup(client, "64636", property=wanted)
    returned = {code for code, _, _ in typed_properties(body)}
    assert returned == set(wanted)
    assert designations(body) == []


def test_property_parameter_in_a_post(client):
    body = parameters(("code", "valueCode", "64636"), ("system", "valueUri", CPT),
                      ("property", "valueCode", "primary-code"))
    response = client.post_parameters(LOOKUP, body)
    assert response.status_code == 200
    assert typed_properties(response.fhir) == [("primary-code", "valueCode", "64635")]


def test_property_designation_returns_designations(client):
    body = lookup(client, "64636", property=["designation"])
    assert len(designations(body)) == 7
    assert typed_properties(body) == []


def test_lookup_properties_match_the_code_system_definitions(client):
    """Every property $lookup returns is defined by the CodeSystem, with the declared type."""
    resource = client.get("/fhir/CodeSystem/cpt-2026").fhir
    declared = {p["code"]: p["type"] for p in resource["property"]}
    key_of = {"boolean": "valueBoolean", "code": "valueCode", "string": "valueString",
              "dateTime": "valueDateTime", "integer": "valueInteger", "Coding": "valueCoding",
              "decimal": "valueDecimal"}
    for code in ("64636", "64634", "99202", "87593", "0042T", "0901T", "1036F", "0001U",
                 "25", "P1", "1P", "LT"):
        for prop, key, _ in typed_properties(lookup(client, code)):
            assert prop in declared, f"{code}: property {prop} is not defined"
            assert key == key_of[declared[prop]], f"{code}: {prop} is {key}"


# -- other properties -----------------------------------------------------------------------


def test_99202_is_telemedicine(client):
    typed = typed_properties(lookup(client, "99202"))
    assert ("telemedicine", "valueBoolean", True) in typed
    assert ("orthopox", "valueBoolean", False) in typed


def test_99252_is_not_telemedicine(client):
    assert ("telemedicine", "valueBoolean", False) in typed_properties(lookup(client, "99252"))


def test_87593_is_orthopox(client):
    typed = typed_properties(lookup(client, "87593"))
    assert ("orthopox", "valueBoolean", True) in typed
    assert ("telemedicine", "valueBoolean", False) in typed


@pytest.mark.parametrize(
    "code, kind, not_kinds",
    [
        ("99202", "cat-1", {"cat-2", "cat-3", "pla"}),
        ("1036F", "cat-2", {"cat-1", "cat-3", "pla"}),
        ("0042T", "cat-3", {"cat-1", "cat-2", "pla"}),
        ("0901T", "cat-3", {"cat-1", "cat-2", "pla"}),
        ("0001U", "pla", {"cat-1", "cat-2", "cat-3"}),
        ("0001A", "vaccine", {"cat-2", "cat-3", "pla"}),
    ],
)
def test_kind_by_code_shape(client, code, kind, not_kinds):
    kinds = properties(lookup(client, code))["kind"]
    assert kind in kinds
    assert "code" in kinds
    assert not (set(kinds) & not_kinds)


def test_0042T_kind_cat_3_in_2025(client):
    assert "cat-3" in properties(lookup(client, "0042T", version="2025"))["kind"]


@pytest.mark.parametrize(
    "code, kind",
    [("25", "general"), ("59", "general"), ("95", "general"), ("P1", "physical-status"),
     ("1P", "cat-2"), ("LT", "hcpcs"), ("F1", "hcpcs")],
)
def test_modifiers(client, code, kind):
    body = lookup(client, code)
    typed = typed_properties(body)
    assert ("modifier", "valueBoolean", True) in typed
    kinds = properties(body)["kind"]
    assert kind in kinds
    assert "code" not in kinds  # a modifier is never of kind `code`
    assert param_dict(body)["display"][0]  # the modifier's definition


def test_a_base_code_is_not_a_modifier(client):
    assert ("modifier", "valueBoolean", False) in typed_properties(lookup(client, "99202"))


def test_case_sensitive_codes(client):
    lookup(client, "1036f", status=404)
    lookup(client, "lt", status=404)


# -- expressions ----------------------------------------------------------------------------


def test_expression_with_one_modifier(client):
    body = lookup(client, "99202:25")
    p = param_dict(body)
    assert p["code"] == ["99202:25"]
    assert p["version"] == ["2026"]
    typed = typed_properties(body)
    assert ("modified", "valueBoolean", True) in typed
    modifiers = [(key, value) for code, key, value in typed if code == "modifier"]
    assert modifiers == [("valueCode", "25")]
    definitions = properties(body)["modifier-definition"]
    assert definitions == [param_dict(lookup(client, "25"))["display"][0]]
    assert len(properties(body)["copyright"]) == 1


def test_expression_keeps_the_base_code_properties(client):
    props = properties(lookup(client, "99202:25"))
    assert props["telemedicine"] == [True]
    assert "cat-1" in props["kind"]
    assert props["status"] == ["active"]


def test_expression_with_two_modifiers(client):
    body = lookup(client, "99202:25:95")
    typed = typed_properties(body)
    assert ("modified", "valueBoolean", True) in typed
    modifiers = [value for code, _, value in typed if code == "modifier"]
    assert modifiers == ["25", "95"]
    props = properties(body)
    assert len(props["modifier-definition"]) == 2
    assert props["modifier-definition"][1] == param_dict(lookup(client, "95"))["display"][0]
    assert len(props["copyright"]) == 1
    assert props["modified"] == [True]


def test_modified_is_false_or_absent_for_a_plain_code(client):
    assert properties(lookup(client, "99202")).get("modified", [False]) == [False]


def test_invalid_expression_says_why(client):
    body = lookup(client, "99252:95", status=404)
    text = outcome_text(body)
    assert "99252:95" in text
    assert "telemedicine" in text
    issue = issues_of(body)[0]
    assert issue["severity"] == "error"
    assert issue["code"] == "not-found"
    assert tx_types(issue) == ["invalid-code"]
    assert issue["expression"] == ["code"]


@pytest.mark.parametrize("expression, reason", [
    ("99202:99", "99"),
    ("95:99202", "modifier"),
    ("1036F:50", "Category II"),
])
def test_other_invalid_expressions_are_not_found(client, expression, reason):
    text = outcome_text(lookup(client, expression, status=404))
    assert expression in text
    assert reason in text.split(expression, 1)[1]


def test_expression_on_an_unknown_base_code(client):
    body = lookup(client, "00000:25", status=404)
    assert "00000" in outcome_text(body)


# -- not found ------------------------------------------------------------------------------


def test_unknown_code(client):
    body = lookup(client, "00000", status=404)
    issue = issues_of(body)[0]
    assert issue["severity"] == "error"
    assert issue["code"] == "not-found"
    assert tx_types(issue) == ["invalid-code"]
    assert message_ids(issue) == ["Unknown_Code_in_Version"]
    assert issue["expression"] == ["code"]
    assert "00000" in outcome_text(body)


def test_unknown_system(client):
    body = lookup(client, "99202", status=404, system="http://example.org/nope")
    issue = issues_of(body)[0]
    assert issue["code"] == "not-found"
    assert message_ids(issue) == ["UNKNOWN_CODESYSTEM"]
    assert "http://example.org/nope" in outcome_text(body)


# -- history across years -------------------------------------------------------------------


def test_0042T_is_deleted_in_2026(client):
    body = lookup(client, "0042T")
    p = param_dict(body)
    assert p["version"] == ["2026"]
    assert p["display"] == [sample_texts("2025", "LONGULT.txt")["0042T"]]
    typed = typed_properties(body)
    assert ("status", "valueCode", "deleted") in typed
    assert ("inactive", "valueBoolean", True) in typed
    assert ("deleted-date", "valueDateTime", "2026-01-01") in typed
    assert ("status", "valueCode", "active") not in typed


def test_0042T_is_active_in_2025(client):
    body = lookup(client, "0042T", version="2025")
    typed = typed_properties(body)
    assert ("status", "valueCode", "active") in typed
    assert ("inactive", "valueBoolean", False) in typed
    assert "deleted-date" not in properties(body)


def test_0901T_is_new_in_2026(client):
    typed = typed_properties(lookup(client, "0901T"))
    assert ("effective-date", "valueDateTime", "2026-01-01") in typed
    assert ("status", "valueCode", "active") in typed
    body = lookup(client, "0901T", status=404, version="2025")
    assert message_ids(issues_of(body)[0]) == ["Unknown_Code_in_Version"]


def test_a_code_present_in_both_years_has_no_2026_effective_date(client):
    props = properties(lookup(client, "99202"))
    assert props.get("effective-date", [None])[0] != "2026-01-01"
