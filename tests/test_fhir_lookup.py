"""CodeSystem/$lookup on an imported FHIR CodeSystem (body-site): the hierarchy as parent and
child properties, designations in two languages, and a supplement's designation and property.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import (
    BODY_SITE,
    BODY_SITE_LAY,
    LOOKUP,
    designations,
    fhir_fixture,
    outcome_text,
    param_dict,
    parameters,
    properties,
    typed_properties,
)

LAY = BODY_SITE_LAY + "|0.1.0"


def lookup(client: Any, code: str, **query: Any) -> dict[str, Any]:
    r = client.get(LOOKUP, query_string={"system": BODY_SITE, "code": code, **query})
    assert r.status_code == 200, r.fhir
    return r.fhir


def test_lookup_basics(fhir_client):
    body = lookup(fhir_client, "left-hand")
    p = param_dict(body)
    assert p["name"] == ["BodySite"]
    assert p["system"] == [BODY_SITE]
    assert p["version"] == ["1.0.0"]
    assert p["code"] == ["left-hand"]
    assert p["display"] == ["Left hand"]
    assert p["abstract"] == [False]
    assert "used-supplement" not in p


def test_parent_and_child_properties(fhir_client):
    middle = properties(lookup(fhir_client, "upper-limb"))
    assert middle["parent"] == ["limb"]
    assert middle["child"] == ["left-hand", "right-hand"]
    top = properties(lookup(fhir_client, "limb"))
    assert "parent" not in top
    assert top["child"] == ["upper-limb", "lower-limb"]
    leaf = properties(lookup(fhir_client, "right-foot"))
    assert leaf["parent"] == ["lower-limb"]
    assert "child" not in leaf


def test_hierarchy_properties_are_codes(fhir_client):
    typed = typed_properties(lookup(fhir_client, "upper-limb"))
    assert ("parent", "valueCode", "limb") in typed
    assert ("child", "valueCode", "left-hand") in typed


def test_code_system_properties(fhir_client):
    typed = typed_properties(lookup(fhir_client, "left-hand"))
    assert ("laterality", "valueCode", "left") in typed
    assert ("inactive", "valueBoolean", False) in typed


def test_asking_for_one_property(fhir_client):
    props = properties(lookup(fhir_client, "left-hand", property="parent"))
    assert props == {"parent": ["upper-limb"]}


def test_inactive_concept(fhir_client):
    props = properties(lookup(fhir_client, "scalp-old"))
    assert props["inactive"] == [True]
    assert props["status"] == ["retired"]
    assert props["parent"] == ["head"]


def test_not_selectable_concept_is_abstract(fhir_client):
    assert param_dict(lookup(fhir_client, "limb"))["abstract"] == [True]


def test_designations_in_two_languages(fhir_client):
    found = designations(lookup(fhir_client, "upper-limb"))
    assert {"language": "de", "use": None, "value": "Obere Extremität"} in found
    synonym = next(d for d in found if d["value"] == "Arm")
    assert synonym["language"] == "en"
    assert synonym["use"]["system"] == "http://snomed.info/sct"
    assert synonym["use"]["code"] == "900000000000013009"


def test_designations_carry_no_source_without_a_supplement(fhir_client):
    body = lookup(fhir_client, "left-hand")
    for param in body["parameter"]:
        if param["name"] == "designation":
            assert "source" not in [part["name"] for part in param["part"]]
    values = [d["value"] for d in designations(body)]
    assert "Linke Hand" in values
    assert "The hand on your left" not in values


def supplement_designation(body: dict[str, Any]) -> dict[str, Any]:
    for param in body["parameter"]:
        if param["name"] != "designation":
            continue
        parts = {p["name"]: p for p in param["part"]}
        if parts["value"]["valueString"] == "The hand on your left":
            return parts
    raise AssertionError(f"no supplement designation in {body}")


def test_use_supplement_adds_its_designation_with_a_source(fhir_client):
    body = lookup(fhir_client, "left-hand", useSupplement=BODY_SITE_LAY)
    parts = supplement_designation(body)
    assert parts["source"]["valueCanonical"] == LAY
    assert parts["language"]["valueCode"] == "en"
    assert parts["use"]["valueCoding"]["code"] == "lay"
    assert param_dict(body)["used-supplement"] == [LAY]
    # the code system's own designations are still there, without a source
    assert {"language": "de", "use": None, "value": "Linke Hand"} in designations(body)


def test_use_supplement_adds_its_property(fhir_client):
    body = lookup(fhir_client, "left-hand", useSupplement=BODY_SITE_LAY)
    assert properties(body)["lay-note"] == ["Most people write with the other one."]
    assert ("lay-note", "valueString", "Most people write with the other one.") in \
        typed_properties(body)
    assert "lay-note" not in properties(lookup(fhir_client, "left-hand"))


def test_use_supplement_with_its_version(fhir_client):
    body = lookup(fhir_client, "left-hand", useSupplement=LAY)
    assert param_dict(body)["used-supplement"] == [LAY]


def test_use_supplement_on_a_code_it_does_not_touch(fhir_client):
    body = lookup(fhir_client, "right-hand", useSupplement=BODY_SITE_LAY)
    values = [d["value"] for d in designations(body)]
    assert "Rechte Hand" in values
    assert "The hand on your left" not in values
    assert param_dict(body)["used-supplement"] == [LAY]


@pytest.mark.parametrize("wanted", ["http://example.org/fhir/CodeSystem/no-such-supplement",
                                    BODY_SITE_LAY + "|9.9.9"])
def test_unknown_use_supplement_is_4xx(fhir_client, wanted):
    r = fhir_client.get(LOOKUP, query_string={"system": BODY_SITE, "code": "left-hand",
                                              "useSupplement": wanted})
    assert 400 <= r.status_code < 500
    assert wanted in outcome_text(r.fhir)


def test_use_supplement_as_tx_resource(client):
    """On the CPT store: code system and supplement both come with the request."""
    r = client.post_parameters(LOOKUP, parameters(
        ("system", "valueUri", BODY_SITE), ("code", "valueCode", "left-hand"),
        ("useSupplement", "valueCanonical", BODY_SITE_LAY),
        ("tx-resource", "resource", fhir_fixture("codesystem-body-site.json")),
        ("tx-resource", "resource", fhir_fixture("codesystem-body-site-supplement.json"))))
    assert r.status_code == 200, r.fhir
    assert supplement_designation(r.fhir)["source"]["valueCanonical"] == LAY
    assert param_dict(r.fhir)["used-supplement"] == [LAY]


def test_unknown_code_is_404(fhir_client):
    r = fhir_client.get(LOOKUP, query_string={"system": BODY_SITE, "code": "left-elbow"})
    assert r.status_code == 404
    assert "left-elbow" in outcome_text(r.fhir)


def test_code_system_is_case_sensitive(fhir_client):
    r = fhir_client.get(LOOKUP, query_string={"system": BODY_SITE, "code": "Left-Hand"})
    assert r.status_code == 404


def test_instance_level_lookup(fhir_client):
    r = fhir_client.get("/fhir/CodeSystem/body-site/$lookup", query_string={"code": "skull"})
    assert r.status_code == 200, r.fhir
    assert param_dict(r.fhir)["display"] == ["Skull"]


def test_display_language_picks_the_german_display(fhir_client):
    body = lookup(fhir_client, "left-hand", displayLanguage="de")
    assert param_dict(body)["display"] == ["Linke Hand"]
