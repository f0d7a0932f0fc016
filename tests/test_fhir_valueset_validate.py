"""ValueSet/$validate-code and $batch-validate-code over our own body-site fixtures.

A code that fails is `result=false` with a message and issues (tx.fhir.org's message ids and
texts), never an HTTP error; only a request that cannot be understood is a 4xx.
"""

from __future__ import annotations

from typing import Any


from conftest import (
    BODY_SITE,
    BODY_SITE_LAY,
    VS_BASE,
    VS_VALIDATE,
    fhir_fixture,
    fixture_value_sets,
    issues_of,
    message_ids,
    outcome_text,
    param_dict,
    parameters,
    tx_types,
)

BATCH = "/fhir/ValueSet/$batch-validate-code"
HANDS = VS_BASE + "body-site-hands"
ALL = VS_BASE + "body-site-all"


def validate(client: Any, **query: Any) -> dict[str, Any]:
    r = client.get(VS_VALIDATE, query_string=query)
    assert r.status_code == 200, r.fhir
    return r.fhir


def post_validate(client: Any, *items: tuple[str, str, Any]) -> dict[str, Any]:
    r = client.post_parameters(VS_VALIDATE, parameters(*items))
    assert r.status_code == 200, r.fhir
    return r.fhir


def result(body: dict[str, Any]) -> bool:
    [value] = param_dict(body)["result"]
    return value


def one(body: dict[str, Any], name: str) -> Any:
    values = param_dict(body).get(name, [])
    assert len(values) == 1, (name, body)
    return values[0]


def ids(body: dict[str, Any]) -> list[str]:
    return [m for issue in issues_of(body) for m in message_ids(issue)]


def issue_with(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    found = [i for i in issues_of(body) if message_id in message_ids(i)]
    assert len(found) == 1, (message_id, issues_of(body))
    return found[0]


def not_in_vs_text(code: str, vs: str, system: str = BODY_SITE) -> str:
    return (f"The provided code '{system}#{code}' was not found in the value set "
            f"'{vs}|1.0.0'")


# -- in, not in, unknown ---------------------------------------------------------------------


def test_code_in_the_value_set(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand")
    assert result(body) is True
    assert one(body, "system") == BODY_SITE
    assert one(body, "code") == "left-hand"
    assert one(body, "version") == "1.0.0"
    assert one(body, "display") == "Left hand"
    assert "message" not in param_dict(body)
    assert [i for i in issues_of(body) if i["severity"] in ("error", "warning")] == []


def test_post_equals_get(fhir_client):
    got = validate(fhir_client, url=HANDS, system=BODY_SITE, code="skull")
    posted = post_validate(fhir_client, ("url", "valueUri", HANDS),
                           ("system", "valueUri", BODY_SITE), ("code", "valueCode", "skull"))
    assert posted == got


def test_code_of_the_system_not_in_the_value_set(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="skull")
    assert result(body) is False
    text = not_in_vs_text("skull", HANDS)
    assert one(body, "message") == text
    issue = issue_with(body, "None_of_the_provided_codes_are_in_the_value_set_one")
    assert issue["severity"] == "error" and issue["code"] == "code-invalid"
    assert tx_types(issue) == ["not-in-vs"]
    assert issue["details"]["text"] == text
    assert issue["expression"] == ["code"]


def test_coding_not_in_the_value_set_points_at_the_coding(fhir_client):
    body = post_validate(fhir_client, ("url", "valueUri", HANDS),
                         ("coding", "valueCoding", {"system": BODY_SITE, "code": "head"}))
    assert result(body) is False
    issue = issue_with(body, "None_of_the_provided_codes_are_in_the_value_set_one")
    assert issue["expression"] == ["Coding.code"]


def test_unknown_code_listed_in_the_value_set(fhir_client):
    """`left-elbow` is in the value set's concept list, but the code system has no such code."""
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-elbow")
    assert result(body) is False
    issue = issue_with(body, "Unknown_Code_in_Version")
    assert issue["severity"] == "error"
    assert tx_types(issue) == ["invalid-code"]
    assert issue["details"]["text"] == (
        f"Unknown code 'left-elbow' in the CodeSystem '{BODY_SITE}' version '1.0.0'")
    assert issue["details"]["text"] in one(body, "message")


def test_unknown_system(fhir_client):
    system = "http://example.org/fhir/CodeSystem/no-such-system"
    body = validate(fhir_client, url=HANDS, system=system, code="left-hand")
    assert result(body) is False
    issue = issue_with(body, "UNKNOWN_CODESYSTEM")
    assert issue["code"] == "not-found"
    assert tx_types(issue) == ["not-found"]
    assert system in issue["details"]["text"]
    assert system in one(body, "message")
    unknown = param_dict(body).get("x-unknown-system", []) + param_dict(body).get(
        "x-caused-by-unknown-system", [])
    assert unknown == [system]


def test_coding_without_system_is_a_warning_and_not_valid(fhir_client):
    body = post_validate(fhir_client, ("url", "valueUri", HANDS),
                         ("coding", "valueCoding", {"code": "left-hand"}))
    assert result(body) is False
    issue = issue_with(body, "Coding_has_no_system__cannot_validate")
    assert issue["severity"] == "warning"
    assert "system" not in param_dict(body)


def test_infer_system(fhir_client):
    body = validate(fhir_client, url=HANDS, code="left-hand", inferSystem="true")
    assert result(body) is True
    assert one(body, "system") == BODY_SITE
    assert one(body, "display") == "Left hand"


def test_infer_system_for_a_code_not_in_the_value_set(fhir_client):
    body = validate(fhir_client, url=HANDS, code="skull", inferSystem="true")
    assert result(body) is False
    assert "UNABLE_TO_INFER_CODESYSTEM" in ids(body)


def test_codeable_concept_with_one_good_coding(fhir_client):
    cc = {"coding": [{"system": BODY_SITE, "code": "skull"},
                     {"system": BODY_SITE, "code": "right-hand"}], "text": "hand"}
    body = post_validate(fhir_client, ("url", "valueUri", HANDS),
                         ("codeableConcept", "valueCodeableConcept", cc))
    assert result(body) is True
    assert one(body, "code") == "right-hand"
    assert one(body, "codeableConcept") == cc
    assert [i["severity"] for i in issues_of(body)] == ["information"]
    assert issues_of(body)[0]["expression"] == ["CodeableConcept.coding[0].code"]


def test_codeable_concept_with_no_good_coding(fhir_client):
    cc = {"coding": [{"system": BODY_SITE, "code": "skull"},
                     {"system": BODY_SITE, "code": "head"}]}
    body = post_validate(fhir_client, ("url", "valueUri", HANDS),
                         ("codeableConcept", "valueCodeableConcept", cc))
    assert result(body) is False
    assert "TX_GENERAL_CC_ERROR_MESSAGE" in ids(body)


# -- displays and languages ------------------------------------------------------------------


def test_wrong_display(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand",
                    display="Left foot")
    assert result(body) is False
    [issue] = [i for i in issues_of(body) if "invalid-display" in tx_types(i)]
    assert issue["severity"] == "error"
    assert issue["expression"] == ["display"]
    assert "Wrong Display Name 'Left foot'" in issue["details"]["text"]
    assert "'Left hand'" in issue["details"]["text"]
    assert one(body, "display") == "Left hand"


def test_display_compares_ignoring_case(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand",
                    display="LEFT HAND")
    assert result(body) is True


def test_lenient_display_validation_makes_it_a_warning(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand",
                    display="Left foot", mode="lenient-display-validation")
    assert result(body) is True
    [issue] = [i for i in issues_of(body) if "invalid-display" in tx_types(i)]
    assert issue["severity"] == "warning"
    assert "Wrong Display Name 'Left foot'" in one(body, "message")


def test_lenient_display_validation_parameter(fhir_client):
    body = post_validate(fhir_client, ("url", "valueUri", HANDS),
                         ("coding", "valueCoding", {"system": BODY_SITE, "code": "left-hand",
                                                    "display": "Left foot"}),
                         ("lenient-display-validation", "valueBoolean", True))
    assert result(body) is True


def test_german_display_with_display_language(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand",
                    display="Linke Hand", displayLanguage="de")
    assert result(body) is True
    assert one(body, "display") == "Linke Hand"
    assert [i for i in issues_of(body) if i["severity"] in ("error", "warning")] == []


def test_wrong_german_display(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand",
                    display="Rechte Hand", displayLanguage="de")
    assert result(body) is False
    assert any("invalid-display" in tx_types(i) for i in issues_of(body))


# -- inactive, abstract ----------------------------------------------------------------------


def test_inactive_code_is_valid_with_a_warning(fhir_client):
    body = validate(fhir_client, url=ALL, system=BODY_SITE, code="scalp-old")
    assert result(body) is True
    assert one(body, "inactive") is True
    issue = issue_with(body, "INACTIVE_CONCEPT_FOUND")
    assert issue["severity"] == "warning"
    assert tx_types(issue) == ["code-comment"]
    assert "scalp-old" in issue["details"]["text"]


def test_inactive_code_in_an_active_only_value_set(fhir_client):
    body = validate(fhir_client, url=VS_BASE + "body-site-head-active", system=BODY_SITE,
                    code="scalp-old")
    assert result(body) is False
    assert "STATUS_CODE_WARNING_CODE" in ids(body)
    assert "None_of_the_provided_codes_are_in_the_value_set_one" in ids(body)
    assert validate(fhir_client, url=VS_BASE + "body-site-head-active", system=BODY_SITE,
                    code="skull")["parameter"][0]["valueBoolean"] is True


def test_active_only_parameter(fhir_client):
    body = validate(fhir_client, url=ALL, system=BODY_SITE, code="scalp-old", activeOnly="true")
    assert result(body) is False


def test_abstract_false_rejects_a_not_selectable_code(fhir_client):
    body = validate(fhir_client, url=ALL, system=BODY_SITE, code="limb", abstract="false")
    assert result(body) is False
    issue = issue_with(body, "ABSTRACT_CODE_NOT_ALLOWED")
    assert issue["severity"] == "error" and issue["code"] == "business-rule"
    assert issue["details"]["text"] == (
        f"Code '{BODY_SITE}#limb' is abstract, and not allowed in this context")


def test_not_selectable_code_is_valid_by_default(fhir_client):
    assert result(validate(fhir_client, url=ALL, system=BODY_SITE, code="limb")) is True
    assert result(validate(fhir_client, url=ALL, system=BODY_SITE, code="limb",
                           abstract="true")) is True


def test_abstract_false_accepts_a_selectable_code(fhir_client):
    body = validate(fhir_client, url=ALL, system=BODY_SITE, code="upper-limb", abstract="false")
    assert result(body) is True


# -- supplements -----------------------------------------------------------------------------


LAY_DISPLAY = "The hand on your left"


def test_supplement_display_is_wrong_without_the_supplement(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand",
                    display=LAY_DISPLAY)
    assert result(body) is False


def test_use_supplement_makes_its_display_right(fhir_client):
    body = validate(fhir_client, url=HANDS, system=BODY_SITE, code="left-hand",
                    display=LAY_DISPLAY, useSupplement=BODY_SITE_LAY)
    assert result(body) is True
    assert [i for i in issues_of(body) if i["severity"] == "error"] == []


def test_value_set_supplement_extension_makes_its_display_right(fhir_client):
    body = validate(fhir_client, url=VS_BASE + "body-site-hands-lay", system=BODY_SITE,
                    code="left-hand", display=LAY_DISPLAY)
    assert result(body) is True


def test_unknown_use_supplement_is_4xx(fhir_client):
    r = fhir_client.get(VS_VALIDATE, query_string={
        "url": HANDS, "system": BODY_SITE, "code": "left-hand",
        "useSupplement": "http://example.org/fhir/CodeSystem/no-such-supplement"})
    assert 400 <= r.status_code < 500
    assert "no-such-supplement" in outcome_text(r.fhir)


# -- inline and tx-resource ------------------------------------------------------------------


def test_inline_value_set_with_tx_resource_code_system(client):
    """The CPT store does not know body sites: everything comes with the request."""
    body = post_validate(client, ("valueSet", "resource", fixture_value_sets()["body-site-left"]),
                         ("coding", "valueCoding", {"system": BODY_SITE, "code": "left-foot"}),
                         ("tx-resource", "resource", fhir_fixture("codesystem-body-site.json")))
    assert result(body) is True
    assert one(body, "display") == "Left foot"
    body = post_validate(client, ("valueSet", "resource", fixture_value_sets()["body-site-left"]),
                         ("coding", "valueCoding", {"system": BODY_SITE, "code": "right-foot"}),
                         ("tx-resource", "resource", fhir_fixture("codesystem-body-site.json")))
    assert result(body) is False


def test_tx_resource_supplement_and_value_set_by_url(client):
    body = post_validate(
        client, ("url", "valueUri", VS_BASE + "body-site-hands-lay"),
        ("coding", "valueCoding", {"system": BODY_SITE, "code": "left-hand",
                                   "display": LAY_DISPLAY}),
        ("tx-resource", "resource", fhir_fixture("codesystem-body-site.json")),
        ("tx-resource", "resource", fhir_fixture("codesystem-body-site-supplement.json")),
        ("tx-resource", "resource", fixture_value_sets()["body-site-hands-lay"]))
    assert result(body) is True


def test_unknown_value_set_is_404(fhir_client):
    r = fhir_client.get(VS_VALIDATE, query_string={"url": VS_BASE + "no-such-value-set",
                                                   "system": BODY_SITE, "code": "skull"})
    assert r.status_code == 404
    assert VS_BASE + "no-such-value-set" in outcome_text(r.fhir)


def test_cyclic_value_set_is_4xx(fhir_client):
    a = {"resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/loop-a",
         "status": "active", "compose": {"include": [
             {"valueSet": ["http://example.org/fhir/ValueSet/loop-b"]}]}}
    b = {"resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/loop-b",
         "status": "active", "compose": {"include": [
             {"valueSet": ["http://example.org/fhir/ValueSet/loop-a"]}]}}
    r = fhir_client.post_parameters(VS_VALIDATE, parameters(
        ("url", "valueUri", a["url"]),
        ("coding", "valueCoding", {"system": BODY_SITE, "code": "skull"}),
        ("tx-resource", "resource", a), ("tx-resource", "resource", b)))
    assert 400 <= r.status_code < 500, r.fhir


def test_filter_without_value_is_4xx(fhir_client):
    vs = {"resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/broken",
          "status": "active", "compose": {"include": [
              {"system": BODY_SITE, "filter": [{"property": "concept", "op": "is-a"}]}]}}
    r = fhir_client.post_parameters(VS_VALIDATE, parameters(
        ("valueSet", "resource", vs),
        ("coding", "valueCoding", {"system": BODY_SITE, "code": "skull"})))
    assert 400 <= r.status_code < 500
    assert "UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE" in ids(r.fhir)


# -- $batch-validate-code --------------------------------------------------------------------


def validation(*items: tuple[str, str, Any]) -> tuple[str, str, Any]:
    return ("validation", "resource", parameters(*items))


def test_batch_validate_answers_each_in_order(fhir_client):
    codings = [("left-hand", None), ("skull", None), ("right-hand", "Rechte Hand"),
               ("left-elbow", None), ("right-hand", "Left hand")]
    body = parameters(("url", "valueUri", HANDS), *[
        validation(("coding", "valueCoding", {"system": BODY_SITE, "code": code,
                                              **({"display": d} if d else {})}))
        for code, d in codings])
    r = fhir_client.post_parameters(BATCH, body)
    assert r.status_code == 200, r.fhir
    answers = r.fhir["parameter"]
    assert [a["name"] for a in answers] == ["validation"] * 5
    answers = [a["resource"] for a in answers]
    assert [one(a, "code") for a in answers] == [code for code, _ in codings]
    assert [result(a) for a in answers] == [True, False, True, False, False]
    assert one(answers[1], "message") == not_in_vs_text("skull", HANDS)
    assert "Unknown_Code_in_Version" in ids(answers[3])
    assert any("invalid-display" in tx_types(i) for i in issues_of(answers[4]))


def test_batch_validate_shared_and_own_parameters(fhir_client):
    wrong = {"system": BODY_SITE, "code": "left-hand", "display": "Lefty"}
    body = parameters(
        ("url", "valueUri", HANDS),
        ("lenient-display-validation", "valueBoolean", True),
        validation(("coding", "valueCoding", wrong)),
        validation(("coding", "valueCoding", wrong),
                   ("lenient-display-validation", "valueBoolean", False)),
        validation(("url", "valueUri", ALL),
                   ("coding", "valueCoding", {"system": BODY_SITE, "code": "skull"})),
    )
    r = fhir_client.post_parameters(BATCH, body)
    assert r.status_code == 200, r.fhir
    answers = [a["resource"] for a in r.fhir["parameter"]]
    assert [result(a) for a in answers] == [True, False, True]


def test_batch_validate_a_bad_validation_gets_an_outcome_in_its_place(fhir_client):
    body = parameters(
        ("url", "valueUri", HANDS),
        validation(("coding", "valueCoding", {"system": BODY_SITE, "code": "left-hand"})),
        validation(("display", "valueString", "no code here")),
        validation(("url", "valueUri", VS_BASE + "no-such-value-set"),
                   ("coding", "valueCoding", {"system": BODY_SITE, "code": "skull"})),
        validation(("coding", "valueCoding", {"system": BODY_SITE, "code": "right-hand"})),
    )
    r = fhir_client.post_parameters(BATCH, body)
    assert r.status_code == 200, r.fhir
    answers = [a["resource"] for a in r.fhir["parameter"]]
    assert [a["resourceType"] for a in answers] == ["Parameters", "OperationOutcome",
                                                    "OperationOutcome", "Parameters"]
    assert [result(answers[0]), result(answers[3])] == [True, True]
    assert "no-such-value-set" in outcome_text(answers[2])


def test_batch_validate_without_validations_answers_nothing(fhir_client):
    r = fhir_client.post_parameters(BATCH, parameters(("url", "valueUri", HANDS)))
    assert r.status_code == 200, r.fhir
    assert r.fhir.get("parameter", []) == []


def test_batch_validate_is_post_only(fhir_client):
    r = fhir_client.get(BATCH)
    assert r.status_code == 405
