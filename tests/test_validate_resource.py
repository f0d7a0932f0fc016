"""$validate of orders, procedures and claims: every coding checked, add-on codes, MUE, PTP,
CPT modifiers; the CMS MUE and PTP importers; the edits in $lookup and as a ConceptMap.

The store holds the CPT samples, the CMS add-on sample and the
CMS MUE and PTP samples (codesystems/cms/sample), all imported by the real importers.
The store holds the ICD-10-CM and HCPCS samples of tests/data too (tests/codesets.py). Engine
tests call the app's ResourceValidator; API tests POST realistic resources.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from codesets import HCPCS, HCPCS_HTTPS, ICD, build_codeset_store
from conftest import CPT, FhirClient, build_store, properties

import server
from codesystems.cms import mue, ptp
from codesystems.cpt import addons
from terminology.errors import ImportFailed, InvalidRequest
from terminology.model import Issue
from terminology.operations.validate_resource import order_from_text, parse_order_text
from terminology.store import Store
from terminology.store.edits import edit_tables
from terminology.web.validate_api import check_order

DAY = "2026-03-02"


# -- the store and the app ----------------------------------------------------------------


@pytest.fixture(scope="module")
def edits_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("edits") / "tx.db"
    store = build_codeset_store(path)
    mue.import_table(store, mue.SAMPLE_FILE)
    ptp.import_tables(store, [ptp.SAMPLE_FILE])
    return path


@pytest.fixture(scope="module")
def edits_app(edits_db: Path):  # type: ignore[no-untyped-def]
    return server.create_app({"DB": str(edits_db), "TESTING": True})


@pytest.fixture
def vclient(edits_app) -> FhirClient:  # type: ignore[no-untyped-def]
    return FhirClient(edits_app.test_client())


@pytest.fixture
def check(edits_app):  # type: ignore[no-untyped-def]
    """validate(resource) -> issues, on 2026-03-02 unless the resource gives dates."""
    def run(resource: dict[str, Any], today: str = DAY) -> list[Issue]:
        return edits_app.extensions["resource_validator"].validate(resource, today)
    return run


# -- realistic resources ------------------------------------------------------------------


def coding(code: str, system: str = CPT, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def service_request(code: str, *, day: str | None = DAY, patient: str = "Patient/p1",
                    units: float | None = None, system: str = CPT,
                    display: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "code": {"coding": [coding(code, system, display)]},
        "subject": {"reference": patient},
    }
    if day:
        resource["occurrenceDateTime"] = f"{day}T09:30:00Z"
    if units is not None:
        resource["quantityQuantity"] = {"value": units}
    return resource


def order_set(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}", "resource": r}
                      for i, r in enumerate(resources)]}


def item(code: str, units: float = 1, modifiers: tuple[str, ...] = (), day: str = DAY,
         system: str = CPT, modifier_system: str = CPT) -> dict[str, Any]:
    out: dict[str, Any] = {"productOrService": {"coding": [coding(code, system)]},
                           "servicedDate": day, "quantity": {"value": units}}
    if modifiers:
        out["modifier"] = [{"coding": [coding(m, modifier_system)]} for m in modifiers]
    return out


def claim(*items: dict[str, Any], patient: str = "Patient/p1",
          claim_type: str = "professional") -> dict[str, Any]:
    return {
        "resourceType": "Claim", "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": claim_type}]},
        "use": "claim", "patient": {"reference": patient}, "created": DAY,
        "provider": {"reference": "Practitioner/dr1"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                 "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}],
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {
            "coding": [{"system": ICD, "code": "E11.9"}]}}],
        "item": [{"sequence": i, **it} for i, it in enumerate(items, start=1)],
    }


def findings(issues: list[Issue], severity: str | None = None) -> list[Issue]:
    return [i for i in issues if i.severity in ((severity,) if severity else
                                                ("error", "warning"))]


def ids(issues: list[Issue]) -> list[str | None]:
    return [i.message_id for i in findings(issues)]


# -- a clean order ------------------------------------------------------------------------


def test_clean_order_has_no_findings(check):
    """Facet joint destruction, lumbar: the primary 64635, two more joints (64636 x2), and a
    visit the same day marked distinct by 25: nothing wrong."""
    issues = check(order_set(
        service_request("64635", display="Nerve destruction with a neurolytic agent at a "
                        "paravertebral facet joint, guided by fluoroscopy or CT imaging; lumbar "
                        "or sacral spine, one facet joint"),
        service_request("64636", units=2),
        service_request("99213:25"),
    ))
    assert findings(issues) == []
    assert [i.message_id for i in issues] == ["ALL_OK"]
    assert issues[0].text.startswith("No issues found: 3 codings and 3 service lines")


def test_clean_claim_answers_200_with_an_information_only_outcome(vclient):
    body = claim(item("64635"), item("64636", 2), item("99213", modifiers=("25",)),
                 item("J1100", 10, system=HCPCS))
    r = vclient.post("/fhir/Claim/$validate", data=json.dumps(body),
                     content_type="application/fhir+json")
    assert r.status_code == 200
    severities = {i["severity"] for i in r.fhir["issue"]}
    assert severities == {"information"}, r.fhir
    # the claim-type and priority systems are not known here: information, not errors
    unknown = [i for i in r.fhir["issue"] if i["code"] == "not-found"]
    assert [i["expression"] for i in unknown] == [["Claim.type.coding[0].system"],
                                                   ["Claim.priority.coding[0].system"]]


# -- every coding -------------------------------------------------------------------------


def test_unknown_code_is_an_error_at_its_coding(check):
    issues = check(order_set(service_request("64635"), service_request("99999")))
    [issue] = findings(issues)
    assert issue.severity == "error" and issue.code == "code-invalid"
    assert issue.expression == "Bundle.entry[1].resource.code.coding[0].code"
    assert "Unknown code '99999'" in issue.text


def test_wrong_display_is_an_error_at_the_display(check):
    issues = check(service_request("64635", display="Knee replacement"))
    [issue] = findings(issues)
    assert issue.expression == "ServiceRequest.code.coding[0].display"
    assert issue.text.startswith("Wrong Display Name 'Knee replacement'")


def test_code_is_checked_in_the_version_in_force_on_the_date_of_service(check):
    """0042T was deleted from CPT in 2026; 0901T is new in 2026."""
    in_2026 = check(service_request("0042T", day="2026-02-10"))
    [issue] = findings(in_2026)
    assert issue.message_id == "Code_Deleted_In_Version"
    assert "version '2026'" in issue.text and "2026-02-10, the date of service" in issue.text
    assert "valid in version 2025" in issue.text
    assert findings(check(service_request("0042T", day="2025-11-03"))) == []
    [new] = findings(check(service_request("0901T", day="2025-11-03")))
    assert new.message_id == "Unknown_Code_in_Version" and "valid in version 2026" in new.text
    assert findings(check(service_request("0901T", day="2026-01-05"))) == []


def test_without_a_date_of_service_today_decides(check):
    issues = check(service_request("0042T", day=None), today="2025-06-01")
    assert findings(issues) == []
    issues = check(service_request("0042T", day=None), today="2026-06-01")
    assert ids(issues) == ["Code_Deleted_In_Version"]


def test_procedure_performed_period_is_its_date(check):
    procedure = {"resourceType": "Procedure", "status": "completed",
                 "subject": {"reference": "Patient/p1"},
                 "performedPeriod": {"start": "2025-10-01T08:00:00Z"},
                 "code": {"coding": [coding("0042T")]}}
    assert findings(check(procedure)) == []


def test_invalid_cpt_expression_in_a_code(check):
    [issue] = findings(check(service_request("99252:95")))
    assert issue.expression == "ServiceRequest.code.coding[0].code"
    assert "not designated for telemedicine" in issue.text


def test_claim_item_modifiers_are_checked_against_the_code(check):
    issues = check(claim(item("99252", modifiers=("95",)), item("99213", modifiers=("25", "59"))))
    errors = findings(issues, "error")
    assert [(i.expression, i.message_id) for i in errors] == [
        ("Claim.item[0].modifier[0].coding[0]", "CPT_MODIFIER_NOT_VALID"),
        ("Claim.item[1].modifier[0].coding[0]", "CPT_MODIFIER_NOT_VALID"),
    ]
    assert errors[0].text.startswith("The modifier 95 is not valid on 99252: ")
    assert "25 and 59 cannot be used together" in errors[1].text


def test_unknown_modifier_code_is_reported_where_it_is(check):
    issues = check(claim(item("64635", modifiers=("ZZ",))))
    assert ("Claim.item[0].modifier[0].coding[0].code", "Unknown_Code_in_Version") in [
        (i.expression, i.message_id) for i in findings(issues)]


def test_unknown_system_is_information_and_a_coding_without_system_a_warning(check):
    resource = service_request("64635")
    resource["code"]["coding"].append({"system": "http://snomed.info/sct", "code": "68155004"})
    resource["category"] = [{"coding": [{"code": "procedure"}]}]
    issues = check(resource)
    info = [i for i in issues if i.severity == "information"]
    assert [(i.code, i.expression) for i in info] == [
        ("not-found", "ServiceRequest.code.coding[1].system")]
    assert [(i.severity, i.expression) for i in findings(issues)] == [
        ("warning", "ServiceRequest.category[0].coding[0]")]


def test_hcpcs_by_either_url_and_icd10cm_diagnoses(check):
    issues = check(claim(item("J1100", 10, system=HCPCS_HTTPS), item("A4253", system=HCPCS)))
    assert findings(issues) == []


# -- add-on codes -------------------------------------------------------------------------


def test_type_1_add_on_without_its_primary_is_an_error(check):
    """The seed: 64636 (each additional lumbar facet joint) ordered without 64635."""
    issues = check(order_set(service_request("99213"), service_request("64636", units=2)))
    [issue] = findings(issues)
    assert (issue.severity, issue.code, issue.message_id) == (
        "error", "business-rule", "CMS_ADD_ON_WITHOUT_PRIMARY")
    assert issue.expression == "Bundle.entry[1].resource.code.coding[0]"
    assert "64636 is an add-on code" in issue.text and "64635" in issue.text
    assert "Patient/p1 on 2026-03-02" in issue.text


def test_primary_for_another_patient_or_day_does_not_count(check):
    other_patient = order_set(service_request("64635", patient="Patient/p2"),
                              service_request("64636"))
    other_day = order_set(service_request("64635", day="2026-03-03"), service_request("64636"))
    assert ids(check(other_patient)) == ["CMS_ADD_ON_WITHOUT_PRIMARY"]
    assert ids(check(other_day)) == ["CMS_ADD_ON_WITHOUT_PRIMARY"]


def test_ended_add_on_edit_is_not_applied(check):
    """64634's edit with primary 64635 ended in 2014; its edit with 64633 is in force."""
    [issue] = findings(check(order_set(service_request("64635"), service_request("64634"))))
    assert "primary procedure 64633 " in issue.text


def test_type_2_add_on_is_a_warning(check):
    [issue] = findings(check(service_request("0001U")))
    assert (issue.severity, issue.message_id) == ("warning", "CMS_ADD_ON_CONTRACTOR_PRIMARY")


def test_type_3_add_on_warns_naming_the_listed_primaries(tmp_path):
    edits = tmp_path / "AOC_V2026Q2-MCR.txt"
    edits.write_text("Notice row\n"
                     "AOC_Edit_Type\tAdd-On_Code\tAOC_DelDT\tPrimary_Code\tPrimary_Code_DelDT\t"
                     "AOC_Edit_EffDT\tAOC_Edit_DelDT\tSpecial_Instruction_Notes\n"
                     "3\t64636\t\t64635\t\t2012001\t\t\n"
                     "3\t64636\t\t64633\t\t2012001\t\t\n")
    store = build_store(tmp_path / "tx.db")
    addons.import_edits(store, edits, "type-3")
    app = server.create_app({"DB": str(store.path), "TESTING": True})
    issues = app.extensions["resource_validator"].validate(service_request("64636"), DAY)
    [issue] = findings(issues)
    assert (issue.severity, issue.message_id) == ("warning", "CMS_ADD_ON_WITHOUT_LISTED_PRIMARY")
    assert "64635 or 64633" in issue.text


# -- MUE ----------------------------------------------------------------------------------


def test_mue_per_day_adds_the_units_of_all_lines(check):
    """64636: 4 units a day (adjudication indicator 3), over two claim lines."""
    fine = check(claim(item("64635"), item("64636", 2), item("64636", 2)))
    assert findings(fine) == []
    issues = check(claim(item("64635"), item("64636", 3), item("64636", 3)))
    [issue] = findings(issues)
    assert (issue.message_id, issue.expression) == ("CMS_MUE_DAY", "Claim.item[1].quantity")
    assert issue.text.startswith("6 units of 64636 for Patient/p1 on 2026-03-02 (lines 2, 3)")
    assert "MUE of 64636 is 4 units" in issue.text


def test_mue_per_day_counts_each_day_and_patient_apart(check):
    issues = check(claim(item("64635"), item("64636", 3), item("64635", day="2026-03-03"),
                         item("64636", 3, day="2026-03-03")))
    assert findings(issues) == []


def test_mue_per_line(check):
    """87593: 4 units a claim line (indicator 1): two lines of 4 pass, one of 5 does not."""
    assert findings(check(claim(item("87593", 4), item("87593", 4)))) == []
    [issue] = findings(check(claim(item("87593", 4), item("87593", 5))))
    assert (issue.message_id, issue.expression) == ("CMS_MUE_LINE", "Claim.item[1].quantity")
    assert "5 units of 87593 on line 2" in issue.text


def test_mue_of_service_request_quantity(check):
    issues = check(order_set(service_request("64635", units=2)))
    [issue] = findings(issues)
    assert issue.expression == "Bundle.entry[0].resource.quantityQuantity"


def test_mue_table_is_not_applied_before_its_effective_date(tmp_path, check):
    store = build_store(tmp_path / "tx.db")
    mue.import_table(store, mue.SAMPLE_FILE, effective="2026-04-01")
    app = server.create_app({"DB": str(store.path), "TESTING": True})
    validate = app.extensions["resource_validator"].validate
    assert findings(validate(claim(item("87593", 9)), DAY)) == []
    assert ids(validate(claim(item("87593", 9, day="2026-04-01")), DAY)) == ["CMS_MUE_LINE"]


# -- PTP ----------------------------------------------------------------------------------


def test_ptp_pair_without_modifier_is_an_error_on_the_column_2_code(check):
    issues = check(claim(item("64635"), item("64633")))
    [issue] = findings(issues)
    assert (issue.message_id, issue.expression) == (
        "CMS_PTP_PAIR", "Claim.item[1].productOrService.coding[0]")
    assert issue.text.startswith("64633 is not reported with 64635 for Patient/p1 on 2026-03-02")
    assert "modifier indicator 1" in issue.text and "59" in issue.text


def test_ptp_indicator_1_is_bypassed_by_an_ncci_modifier_on_either_code(check):
    assert findings(check(claim(item("64635"), item("64633", modifiers=("59",))))) == []
    assert findings(check(claim(item("64635", modifiers=("59",)), item("64633")))) == []
    assert findings(check(order_set(service_request("64635"),
                                    service_request("64633:59")))) == []


def test_ptp_indicator_0_is_never_bypassed(check):
    issues = check(claim(item("99214"), item("99213", modifiers=("59",))))
    [issue] = findings(issues)
    assert issue.message_id == "CMS_PTP_PAIR" and "modifier indicator 0" in issue.text


def test_ptp_effective_and_deletion_dates(check):
    """87593 + 86701 ended on 2025-12-31; 0001A + 99213 starts on 2026-07-01."""
    ended = claim(item("87593", day="2025-06-02"), item("86701", day="2025-06-02"))
    assert ids(check(ended)) == ["CMS_PTP_PAIR"]
    assert findings(check(claim(item("87593"), item("86701")))) == []
    assert findings(check(claim(item("0001A"), item("99213")))) == []
    later = claim(item("0001A", day="2026-07-01"), item("99213", day="2026-07-01"))
    assert ids(check(later)) == ["CMS_PTP_PAIR"]


def test_ptp_indicator_9_and_other_dates_do_not_apply(check):
    assert findings(check(claim(item("99202"), item("99211")))) == []
    assert findings(check(claim(item("64635"), item("64633", day="2026-03-05")))) == []


def test_ptp_of_hcpcs_codes(check):
    issues = check(claim(item("G0008", system=HCPCS), item("J1100", system=HCPCS_HTTPS)))
    [issue] = findings(issues)
    assert issue.message_id == "CMS_PTP_PAIR" and "J1100 is not reported with G0008" in issue.text


def test_a_claim_with_many_findings(check):
    """One claim, every kind of finding, each at its element."""
    issues = check(claim(item("99213", modifiers=("25",)), item("64636", 6), item("99214"),
                         item("87593", 5), item("99252", modifiers=("95",))))
    assert sorted((i.message_id or "", i.expression or "") for i in findings(issues)) == [
        ("CMS_ADD_ON_WITHOUT_PRIMARY", "Claim.item[1].productOrService.coding[0]"),
        ("CMS_MUE_DAY", "Claim.item[1].quantity"),
        ("CMS_MUE_LINE", "Claim.item[3].quantity"),
        ("CMS_PTP_PAIR", "Claim.item[0].productOrService.coding[0]"),
        ("CPT_MODIFIER_NOT_VALID", "Claim.item[4].modifier[0].coding[0]"),
    ]


# -- the FHIR operation -------------------------------------------------------------------


def test_bundle_validate_with_parameters_body(vclient):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": order_set(service_request("99213"),
                                                   service_request("64636"))},
        {"name": "mode", "valueCode": "create"}]}
    r = vclient.post("/fhir/Bundle/$validate", data=json.dumps(body),
                     content_type="application/fhir+json")
    assert r.status_code == 200
    [issue] = [i for i in r.fhir["issue"] if i["severity"] == "error"]
    assert issue["expression"] == ["Bundle.entry[1].resource.code.coding[0]"]
    assert issue["code"] == "business-rule"
    assert "64636 is an add-on code" in issue["details"]["text"]


def test_procedure_and_service_request_endpoints(vclient):
    procedure = {"resourceType": "Procedure", "status": "completed",
                 "subject": {"reference": "Patient/p1"}, "performedDateTime": DAY,
                 "code": {"coding": [coding("64635")]}}
    r = vclient.post("/fhir/Procedure/$validate", json=procedure)
    assert r.status_code == 200 and r.fhir["issue"][0]["severity"] == "information"
    r = vclient.post("/fhir/ServiceRequest/$validate", json=service_request("99999"))
    assert r.status_code == 200
    assert r.fhir["issue"][0]["expression"] == ["ServiceRequest.code.coding[0].code"]


def test_malformed_resource_gets_400_naming_the_problems(vclient):
    broken = claim(item("64635"))
    del broken["patient"]
    broken["item"][0]["quantity"]["value"] = "two"
    r = vclient.post("/fhir/Claim/$validate", json=broken)
    assert r.status_code == 400
    found = {(i["code"], i["expression"][0]) for i in r.fhir["issue"]}
    assert ("structure", "Claim.patient") in found
    assert ("structure", "Claim.item[0].quantity.value") in found
    assert all(i["details"]["text"].startswith(i["expression"][0]) for i in r.fhir["issue"])


def test_bundle_with_an_unknown_resource_type_gets_400(vclient):
    body = order_set(service_request("64635"), {"resourceType": "Nonsense", "id": "x"})
    r = vclient.post("/fhir/Bundle/$validate", json=body)
    assert r.status_code == 400
    assert "'Nonsense' is not a FHIR R4 resource type" in r.fhir["issue"][0]["details"]["text"]


@pytest.mark.parametrize(("path", "body", "content_type", "status", "text"), [
    ("/fhir/Claim/$validate", "{not json", "application/fhir+json", 400, "not valid JSON"),
    ("/fhir/Claim/$validate", "", "application/fhir+json", 400, "body is empty"),
    ("/fhir/Claim/$validate", json.dumps(service_request("64635")), "application/fhir+json",
     400, "The resource is a ServiceRequest, but this is Claim/$validate"),
    ("/fhir/Bundle/$validate", json.dumps({"resourceType": "Parameters", "parameter": []}),
     "application/fhir+json", 400, "no 'resource' parameter"),
    ("/fhir/Claim/$validate", "<Claim/>", "application/xml", 415, "not supported"),
    ("/fhir/Claim/$validate", json.dumps([1, 2]), "application/json", 400, "JSON object"),
])
def test_bad_requests_get_an_operation_outcome(vclient, path, body, content_type, status, text):
    r = vclient.post(path, data=body, content_type=content_type)
    assert r.status_code == status
    assert text in r.fhir["issue"][0]["details"]["text"]


def test_get_is_not_allowed(vclient):
    assert vclient.get("/fhir/Claim/$validate").status_code == 405


def test_a_body_sent_twice_gets_the_same_answer(vclient):
    body = json.dumps(claim(item("64635"), item("64636", 6)))
    first = vclient.post("/fhir/Claim/$validate", data=body, content_type="application/json")
    second = vclient.post("/fhir/Claim/$validate", data=body, content_type="application/json")
    assert first.fhir == second.fhir and first.status_code == second.status_code == 200


# -- the edits as FHIR: $lookup and ConceptMap ----------------------------------------------


def test_lookup_has_mue_and_primary_code(vclient):
    r = vclient.get("/fhir/CodeSystem/$lookup", query_string={"system": CPT, "code": "64636"})
    props = properties(r.fhir)
    assert props["mue"] == [4] and props["mue-indicator"] == ["3"]
    assert props["mue-rationale"] == ["Clinical: Data"]
    assert props["primary-code"] == ["64635"]


def test_ptp_edits_as_a_concept_map(vclient):
    r = vclient.get("/fhir/ConceptMap/cms-ptp-practitioner")
    assert r.status_code == 200
    cm = r.fhir
    assert cm["url"] == "urn:txserver:ConceptMap/cms-ptp-practitioner" and cm["experimental"]
    cpt_group = next(g for g in cm["group"] if g["source"] == CPT and g["target"] == CPT)
    element = next(e for e in cpt_group["element"] if e["code"] == "64635")
    assert [t["code"] for t in element["target"]] == ["64633", "99213", "99214"]
    assert "Modifier indicator 1" in element["target"][0]["comment"]
    summary = vclient.get("/fhir/ConceptMap/cms-ptp-practitioner", query_string={
        "_summary": "true"}).fhir
    assert "group" not in summary
    assert vclient.get("/fhir/ConceptMap/cms-ptp-hospital").status_code == 404
    # the stored maps are read as before
    assert vclient.get("/fhir/ConceptMap/cms-add-on-code-edits").status_code == 200


# -- importers ----------------------------------------------------------------------------


def test_sample_tables_imported(edits_db):
    tables = {(t.kind, t.setting): t for t in edit_tables(Store(edits_db))}
    assert tables[("mue", "practitioner")].effective == "2025-01-01"
    assert tables[("mue", "practitioner")].row_count == 20
    assert tables[("ptp", "practitioner")].row_count == 10


def _broken_copy(source: Path, folder: Path, old: str, new: str) -> Path:
    target = folder / source.name
    text = source.read_text(encoding="latin-1")  # the PTP sample is latin-1, as CMS writes it
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="latin-1")
    return target


@pytest.mark.parametrize(("old", "new", "message"), [
    ("87593,4,1 Line Edit", "87593,four,1 Line Edit", "line 12: MUE Values 'four'"),
    ("87593,4,1 Line Edit", "87593,4,7 Something",
     "line 12: adjudication indicator '7 Something'"),
    ("87593,4,1 Line Edit,Clinical: Data", "87593,4", "line 12: no MUE Adjudication Indicator"),
    ("87593,4,1 Line Edit", "64636,4,1 Line Edit",
     "line 12: 64636 is listed again (first on line 10)"),
])
def test_broken_mue_file_names_file_and_line_and_changes_nothing(tmp_path, old, new, message):
    store = build_store(tmp_path / "tx.db")
    mue.import_table(store, mue.SAMPLE_FILE)
    before = edit_tables(store)
    broken = _broken_copy(mue.SAMPLE_FILE, tmp_path, old, new)
    with pytest.raises(ImportFailed) as failure:
        mue.import_table(store, broken)
    assert f"{broken.name} {message}" in failure.value.message
    assert edit_tables(store) == before


@pytest.mark.parametrize(("old", "new", "message"), [
    ("20250101\t20251231\t0", "20250101\t20251231\t5", "line 13: modifier indicator '5'"),
    ("20250101\t20251231\t0", "20250101\tlater\t0", "line 13: 'later' is not a date"),
    ("87593\t86701", "87593\tnope!", "line 13: Column 2 'nope!' is not a CPT or HCPCS code"),
    ("ended on 2025-12-31", "ended on 2025-12-31\tstray", "line 13: 8 cells, but the header has 7"),
])
def test_broken_ptp_file_names_file_and_line_and_changes_nothing(tmp_path, old, new, message):
    store = build_store(tmp_path / "tx.db")
    ptp.import_tables(store, [ptp.SAMPLE_FILE])
    before = edit_tables(store)
    broken = _broken_copy(ptp.SAMPLE_FILE, tmp_path, old, new)
    with pytest.raises(ImportFailed) as failure:
        ptp.import_tables(store, [broken])
    assert f"{broken.name} {message}" in failure.value.message
    assert edit_tables(store) == before


def test_ptp_files_of_one_quarter_import_together(tmp_path):
    text = ptp.SAMPLE_FILE.read_text(encoding="latin-1").splitlines()
    first, second = tmp_path / "ccipra-v321r0-f1.txt", tmp_path / "ccipra-v321r0-f2.txt"
    first.write_text("\n".join(text[:9]) + "\n", encoding="latin-1")  # preamble, 3 rows
    second.write_text("\n".join(text[:6] + text[9:]) + "\n", encoding="latin-1")
    store = build_store(tmp_path / "tx.db")
    summary = ptp.import_tables(store, [first, second], label="2026Q1")
    assert [(f.name, f.rows) for f in summary.files] == [
        ("ccipra-v321r0-f1.txt", 3), ("ccipra-v321r0-f2.txt", 7)]
    table = summary.table
    assert (table.row_count, table.label, table.setting) == (10, "2026Q1", "practitioner")
    assert table.source == "ccipra-v321r0-f1.txt, ccipra-v321r0-f2.txt"


def test_cli_imports_and_reports_failures(tmp_path):
    db = str(tmp_path / "tx.db")
    build_store(Path(db))
    runner = CliRunner()
    done = runner.invoke(server.main, ["import", "cms-mue", str(mue.SAMPLE_FILE), "--db", db])
    assert done.exit_code == 0, done.output
    assert ("CMS MUE practitioner (in force from 2025-01-01): 20 edits stored from 20 rows read"
            in done.output)
    done = runner.invoke(server.main, ["import", "cms-ptp", str(ptp.SAMPLE_FILE), "--db", db,
                                       "--label", "2026Q1"])
    assert done.exit_code == 0 and "CMS PTP practitioner: 10 edits" in done.output
    broken = _broken_copy(ptp.SAMPLE_FILE, tmp_path, "\t0\tSample: one", "\tX\tSample: one")
    done = runner.invoke(server.main, ["import", "cms-ptp", str(broken), "--db", db])
    assert done.exit_code != 0
    assert "import failed, nothing changed" in done.output and f"{broken.name} line 11" in \
        done.output


# -- for the web page: typed lines --------------------------------------------------------


def test_parse_typed_lines():
    lines = parse_order_text("64635\n64636 x2 mod 50\n# a comment\n\n99213:25\n"
                             "J1100 10 units\n64633 mod 59, LT 2026-03-05\n")
    assert [(l.code, l.units, l.modifiers, l.date) for l in lines] == [
        ("64635", 1, (), None), ("64636", 2, ("50",), None), ("99213:25", 1, (), None),
        ("J1100", 10, (), None), ("64633", 1, ("59", "LT"), "2026-03-05")]
    assert lines[1].number == 2 and lines[4].number == 7
    with pytest.raises(InvalidRequest, match=r"Line 2 \('64636 twice'\): 'twice'"):
        parse_order_text("64635\n64636 twice")
    with pytest.raises(InvalidRequest, match="No codes were given"):
        parse_order_text("# nothing\n")


def test_typed_lines_become_a_valid_claim(edits_app, check):
    from fhir.resources.R4B.claim import Claim

    registry = edits_app.extensions["registry"]
    resource = order_from_text(registry, "64635\n64636 x2 mod 50\nJ1100 x 10",
                               patient="Patient/p9", service_date=DAY)
    Claim.model_validate(resource)
    second = resource["item"][1]
    assert second["productOrService"]["coding"] == [{"system": CPT, "code": "64636"}]
    assert second["modifier"] == [{"coding": [{"system": CPT, "code": "50"}]}]
    assert second["quantity"] == {"value": 2} and second["servicedDate"] == DAY
    assert resource["item"][2]["productOrService"]["coding"][0]["system"] == HCPCS
    assert findings(check(resource)) == []


def test_check_order_for_the_web_page(edits_app):
    with edits_app.app_context():
        typed = check_order("64636 x2 mod 50", service_date=DAY)
        assert typed.readable and typed.resource["resourceType"] == "Claim"
        assert [i.message_id for i in typed.errors] == ["CMS_ADD_ON_WITHOUT_PRIMARY"]
        assert typed.errors[0].expression == "Claim.item[0].productOrService.coding[0]"
        pasted = check_order(json.dumps(order_set(service_request("64635"),
                                                  service_request("64636"))))
        assert pasted.readable and pasted.errors == []
        assert pasted.outcome()["resourceType"] == "OperationOutcome"
        unreadable = check_order("64636 twice")
        assert not unreadable.readable and "'twice'" in unreadable.issues[0].text
        malformed = check_order('{"resourceType": "Claim", "status": "active"}')
        assert not malformed.readable and malformed.resource is not None
        assert any(i.expression == "Claim.patient" for i in malformed.issues)


# -- parts judged once by their shape ---------------------------------------------------------


@pytest.mark.parametrize("field, bad", [
    ("sequence", 0), ("sequence", -2), ("servicedDate", "2026-13-01"),
    ("servicedDate", "03/02/2026"), ("quantity", {"value": "two"}),
])
def test_a_part_like_one_accepted_before_is_still_checked_where_it_differs(vclient, field, bad):
    """A line like one the models accepted (other id, sequence, date, units) is not parsed
    again, but its own id, sequence, date and units are still checked."""
    good = claim(item("64635"), item("99213"))
    good["item"][1]["id"] = "line-a"
    assert vclient.post("/fhir/Claim/$validate", data=json.dumps(good),
                        content_type="application/fhir+json").status_code == 200
    twin = claim(item("64635", units=3, day="2026-03-03"), item("99213"))
    twin["item"][1]["id"] = "line-b"
    twin["patient"] = {"reference": "Patient/other"}
    assert vclient.post("/fhir/Claim/$validate", data=json.dumps(twin),
                        content_type="application/fhir+json").status_code == 200
    broken = claim(item("64635"), item("99213"))
    broken["item"][1][field] = bad
    r = vclient.post("/fhir/Claim/$validate", data=json.dumps(broken),
                     content_type="application/fhir+json")
    assert r.status_code == 400, r.fhir
    assert any(e.startswith("Claim.item[1]") for i in r.fhir["issue"]
               for e in i.get("expression", [])), r.fhir
