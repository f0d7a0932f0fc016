"""ValueSet/$expand over our own body-site fixtures (tests/data/fhir), GET and POST, by url, by
inline `valueSet`, and with every resource sent as a `tx-resource` parameter instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import (
    BODY_SITE,
    BODY_SITE_LAY,
    EXPAND,
    VS_BASE,
    contains_tree,
    expansion_codes,
    expansion_items,
    fhir_fixture,
    fixture_value_sets,
    issues_of,
    outcome_text,
    parameters,
    tx_types,
)
from codesystems.fhir_json import loader as fhir_loader
from server import create_app
from terminology.store import Store

EXT_CONTAINS_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property")
EXT_EXPANSION_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property")
USED_BODY_SITE = BODY_SITE + "|1.0.0"
ALL_CODES = ["limb", "upper-limb", "left-hand", "right-hand", "lower-limb", "left-foot",
             "right-foot", "head", "skull", "scalp-old"]
WHOLE_TREE = [
    ("limb", [("upper-limb", [("left-hand", []), ("right-hand", [])]),
              ("lower-limb", [("left-foot", []), ("right-foot", [])])]),
    ("head", [("skull", []), ("scalp-old", [])]),
]


def expand(client: Any, **query: Any) -> Any:
    return client.get(EXPAND, query_string=query)


def expand_url(client: Any, vs_id: str, **query: Any) -> dict[str, Any]:
    r = expand(client, url=VS_BASE + vs_id, **query)
    assert r.status_code == 200, r.fhir
    return r.fhir


def expansion_parameters(body: dict[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for p in body["expansion"].get("parameter", []):
        [key] = [k for k in p if k.startswith("value")]
        out.append((p["name"], p[key]))
    return out


def post_expand(client: Any, *items: tuple[str, str, Any]) -> Any:
    return client.post_parameters(EXPAND, parameters(*items))


def tx(resource: dict[str, Any]) -> tuple[str, str, Any]:
    return ("tx-resource", "resource", resource)


def inline_vs(url: str, compose: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": url, "status": "active", "compose": compose}


# -- totals and shape ------------------------------------------------------------------------


def test_whole_system_expansion_is_nested(fhir_client):
    body = expand_url(fhir_client, "body-site-all")
    assert body["url"] == VS_BASE + "body-site-all"
    expansion = body["expansion"]
    assert expansion["total"] == 10
    assert "offset" not in expansion
    assert contains_tree(expansion) == WHOLE_TREE
    items = expansion_items(body)
    assert items["limb"].get("abstract") is True
    assert items["scalp-old"].get("inactive") is True
    assert "inactive" not in items["skull"] and "abstract" not in items["skull"]
    assert items["left-hand"]["system"] == BODY_SITE
    assert items["left-hand"]["display"] == "Left hand"
    assert ("used-codesystem", USED_BODY_SITE) in expansion_parameters(body)


def test_post_by_url_equals_get(fhir_client):
    got = expand_url(fhir_client, "body-site-all")
    r = post_expand(fhir_client, ("url", "valueUri", VS_BASE + "body-site-all"))
    assert r.status_code == 200, r.fhir
    assert r.fhir["expansion"]["total"] == got["expansion"]["total"]
    assert contains_tree(r.fhir["expansion"]) == contains_tree(got["expansion"])


def test_instance_level_expand(fhir_client):
    r = fhir_client.get("/fhir/ValueSet/body-site-left/$expand")
    assert r.status_code == 200, r.fhir
    assert expansion_codes(r.fhir) == ["left-hand", "left-foot"]


def test_concept_list_skips_the_unknown_code(fhir_client):
    body = expand_url(fhir_client, "body-site-hands")
    assert body["expansion"]["total"] == 2
    assert contains_tree(body["expansion"]) == [("left-hand", []), ("right-hand", [])]


def test_is_a_filter(fhir_client):
    body = expand_url(fhir_client, "body-site-upper-limb")
    assert body["expansion"]["total"] == 3
    assert contains_tree(body["expansion"]) == [
        ("upper-limb", [("left-hand", []), ("right-hand", [])])]


def test_regex_filter_on_a_property(fhir_client):
    body = expand_url(fhir_client, "body-site-left")
    assert body["expansion"]["total"] == 2
    assert expansion_codes(body) == ["left-hand", "left-foot"]


def test_exclude(fhir_client):
    body = expand_url(fhir_client, "body-site-no-head")
    assert body["expansion"]["total"] == 7
    assert expansion_codes(body) == ALL_CODES[:7]


def test_nested_value_set_includes_are_a_union(fhir_client):
    body = expand_url(fhir_client, "body-site-left-or-upper")
    assert body["expansion"]["total"] == 4
    assert sorted(expansion_codes(body)) == ["left-foot", "left-hand", "right-hand",
                                             "upper-limb"]
    params = expansion_parameters(body)
    used = sorted(v.partition("|")[0] for n, v in params if n == "used-valueset")
    assert used == [VS_BASE + "body-site-left", VS_BASE + "body-site-upper-limb"]
    assert ("used-codesystem", USED_BODY_SITE) in params


def test_value_sets_in_one_include_intersect(fhir_client):
    vs = inline_vs("http://example.org/fhir/ValueSet/left-upper", {"include": [{"valueSet": [
        VS_BASE + "body-site-upper-limb", VS_BASE + "body-site-left"]}]})
    r = post_expand(fhir_client, ("valueSet", "resource", vs))
    assert r.status_code == 200, r.fhir
    assert expansion_codes(r.fhir) == ["left-hand"]


def test_compose_inactive_false_leaves_out_inactive_codes(fhir_client):
    body = expand_url(fhir_client, "body-site-head-active")
    assert body["expansion"]["total"] == 2
    assert expansion_codes(body) == ["head", "skull"]


def test_value_set_supplement_extension(fhir_client):
    body = expand_url(fhir_client, "body-site-hands-lay", includeDesignations="true")
    assert ("used-supplement", BODY_SITE_LAY + "|0.1.0") in expansion_parameters(body)
    values = [d["value"] for d in expansion_items(body)["left-hand"]["designation"]]
    assert "The hand on your left" in values
    plain = expand_url(fhir_client, "body-site-hands", includeDesignations="true")
    assert "The hand on your left" not in [
        d["value"] for d in expansion_items(plain)["left-hand"].get("designation", [])]
    assert not any(n == "used-supplement" for n, _ in expansion_parameters(plain))


def test_use_supplement_parameter(fhir_client):
    body = expand_url(fhir_client, "body-site-hands", includeDesignations="true",
                      useSupplement=BODY_SITE_LAY)
    assert ("used-supplement", BODY_SITE_LAY + "|0.1.0") in expansion_parameters(body)
    values = [d["value"] for d in expansion_items(body)["left-hand"]["designation"]]
    assert "The hand on your left" in values


def test_unknown_use_supplement_is_4xx(fhir_client):
    r = expand(fhir_client, url=VS_BASE + "body-site-hands",
               useSupplement="http://example.org/fhir/CodeSystem/no-such-supplement")
    assert 400 <= r.status_code < 500
    assert "no-such-supplement" in outcome_text(r.fhir)


# -- inline value sets and tx-resource ---------------------------------------------------------


def test_inline_value_set(fhir_client):
    vs = fixture_value_sets()["body-site-upper-limb"]
    r = post_expand(fhir_client, ("valueSet", "resource", vs))
    assert r.status_code == 200, r.fhir
    assert r.fhir["expansion"]["total"] == 3
    assert contains_tree(r.fhir["expansion"]) == [
        ("upper-limb", [("left-hand", []), ("right-hand", [])])]


def test_tx_resources_instead_of_imported(client):
    """The CPT store knows nothing of body sites: the request brings everything along."""
    sets = fixture_value_sets()
    resources = [tx(fhir_fixture("codesystem-body-site.json"))] + [
        tx(sets[i]) for i in ("body-site-left-or-upper", "body-site-upper-limb",
                              "body-site-left")]
    r = post_expand(client, ("url", "valueUri", VS_BASE + "body-site-left-or-upper"),
                    *resources)
    assert r.status_code == 200, r.fhir
    assert r.fhir["expansion"]["total"] == 4
    assert sorted(expansion_codes(r.fhir)) == ["left-foot", "left-hand", "right-hand",
                                               "upper-limb"]
    assert ("used-codesystem", USED_BODY_SITE) in expansion_parameters(r.fhir)
    # nothing was stored: the same request without the resources knows no such value set
    again = post_expand(client, ("url", "valueUri", VS_BASE + "body-site-left-or-upper"))
    assert again.status_code == 404


def test_inline_value_set_over_a_tx_resource_code_system(client):
    r = post_expand(client, ("valueSet", "resource", fixture_value_sets()["body-site-no-head"]),
                    tx(fhir_fixture("codesystem-body-site.json")))
    assert r.status_code == 200, r.fhir
    assert expansion_codes(r.fhir) == ALL_CODES[:7]


def test_tx_resource_supplement(client):
    r = post_expand(client, ("url", "valueUri", VS_BASE + "body-site-hands-lay"),
                    ("includeDesignations", "valueBoolean", True),
                    tx(fhir_fixture("codesystem-body-site.json")),
                    tx(fhir_fixture("codesystem-body-site-supplement.json")),
                    tx(fixture_value_sets()["body-site-hands-lay"]))
    assert r.status_code == 200, r.fhir
    assert ("used-supplement", BODY_SITE_LAY + "|0.1.0") in expansion_parameters(r.fhir)
    values = [d["value"] for d in expansion_items(r.fhir)["left-hand"]["designation"]]
    assert "The hand on your left" in values


# -- paging and text filter ------------------------------------------------------------------


def test_paging_is_flat_and_says_its_offset(fhir_client):
    body = expand_url(fhir_client, "body-site-all", offset=2, count=3)
    expansion = body["expansion"]
    assert expansion["total"] == 10
    assert expansion["offset"] == 2
    assert contains_tree(expansion) == [("left-hand", []), ("right-hand", []),
                                        ("lower-limb", [])]
    params = expansion_parameters(body)
    assert ("offset", 2) in params and ("count", 3) in params


def test_first_page_has_offset_zero(fhir_client):
    expansion = expand_url(fhir_client, "body-site-all", count=4)["expansion"]
    assert expansion["offset"] == 0
    assert [c["code"] for c in expansion["contains"]] == ALL_CODES[:4]


def test_last_page_is_short(fhir_client):
    expansion = expand_url(fhir_client, "body-site-all", offset=8, count=5)["expansion"]
    assert expansion["total"] == 10
    assert [c["code"] for c in expansion["contains"]] == ["skull", "scalp-old"]


def test_pages_cover_the_whole_expansion(fhir_client):
    seen = []
    for offset in range(0, 10, 3):
        expansion = expand_url(fhir_client, "body-site-all", offset=offset,
                               count=3)["expansion"]
        seen += [c["code"] for c in expansion.get("contains", [])]
    assert seen == ALL_CODES


def test_paging_by_post(fhir_client):
    r = post_expand(fhir_client, ("url", "valueUri", VS_BASE + "body-site-all"),
                    ("offset", "valueInteger", 7), ("count", "valueInteger", 2))
    assert r.status_code == 200, r.fhir
    assert r.fhir["expansion"]["offset"] == 7
    assert [c["code"] for c in r.fhir["expansion"]["contains"]] == ["head", "skull"]


def test_negative_offset_is_400(fhir_client):
    r = expand(fhir_client, url=VS_BASE + "body-site-all", offset=-1)
    assert r.status_code == 400


@pytest.mark.parametrize("text, codes", [
    ("hand", ["left-hand", "right-hand"]),
    ("LEFT", ["left-hand", "left-foot"]),
    ("left hand", ["left-hand"]),
    ("linke", ["left-hand", "left-foot"]),  # German designations are searched too
    ("elbow", []),
])
def test_text_filter(fhir_client, text, codes):
    body = expand_url(fhir_client, "body-site-all", filter=text)
    assert body["expansion"]["total"] == len(codes)
    assert expansion_codes(body) == codes
    assert ("filter", text) in expansion_parameters(body)


def test_text_filter_with_paging_counts_the_matches(fhir_client):
    expansion = expand_url(fhir_client, "body-site-all", filter="left", count=1)["expansion"]
    assert expansion["total"] == 2
    assert [c["code"] for c in expansion["contains"]] == ["left-hand"]


# -- activeOnly and excludeNested ------------------------------------------------------------


def test_active_only(fhir_client):
    body = expand_url(fhir_client, "body-site-all", activeOnly="true")
    assert body["expansion"]["total"] == 9
    assert "scalp-old" not in expansion_codes(body)
    assert ("activeOnly", True) in expansion_parameters(body)


def test_exclude_nested_false_nests_a_whole_system_include(fhir_client):
    body = expand_url(fhir_client, "body-site-all", excludeNested="false")
    assert contains_tree(body["expansion"]) == WHOLE_TREE


def test_exclude_nested_false_keeps_a_concept_list_flat(fhir_client):
    vs = inline_vs("http://example.org/fhir/ValueSet/listed", {"include": [{
        "system": BODY_SITE, "concept": [{"code": "limb"}, {"code": "upper-limb"},
                                         {"code": "left-hand"}]}]})
    r = post_expand(fhir_client, ("valueSet", "resource", vs),
                    ("excludeNested", "valueBoolean", False))
    assert r.status_code == 200, r.fhir
    assert contains_tree(r.fhir["expansion"]) == [("limb", []), ("upper-limb", []),
                                                  ("left-hand", [])]


def test_exclude_nested_true_is_flat(fhir_client):
    body = expand_url(fhir_client, "body-site-all", excludeNested="true")
    assert contains_tree(body["expansion"]) == [(code, []) for code in ALL_CODES]


# -- designations, languages, properties -----------------------------------------------------


def designation_set(item: dict[str, Any]) -> set[tuple[Any, Any, str]]:
    return {(d.get("language"), (d.get("use") or {}).get("code"), d["value"])
            for d in item.get("designation", [])}


def test_include_designations(fhir_client):
    body = expand_url(fhir_client, "body-site-upper-limb", includeDesignations="true")
    items = expansion_items(body)
    assert {("de", None, "Obere Extremität"), ("en", "900000000000013009", "Arm")} <= \
        designation_set(items["upper-limb"])
    assert ("de", None, "Linke Hand") in designation_set(items["left-hand"])
    assert "Arm" not in {d[2] for d in designation_set(items["left-hand"])}
    assert ("includeDesignations", True) in expansion_parameters(body)


def test_no_designations_unless_asked(fhir_client):
    body = expand_url(fhir_client, "body-site-upper-limb")
    assert all("designation" not in item for item in expansion_items(body).values())


def test_designation_filter_by_language(fhir_client):
    body = expand_url(fhir_client, "body-site-upper-limb", designation="urn:ietf:bcp:47|de")
    items = expansion_items(body)
    assert designation_set(items["upper-limb"]) == {("de", None, "Obere Extremität")}
    assert designation_set(items["right-hand"]) == {("de", None, "Rechte Hand")}


def test_display_language_picks_the_german_display(fhir_client):
    body = expand_url(fhir_client, "body-site-upper-limb", displayLanguage="de")
    items = expansion_items(body)
    assert [items[c]["display"] for c in ("upper-limb", "left-hand", "right-hand")] == [
        "Obere Extremität", "Linke Hand", "Rechte Hand"]
    assert ("displayLanguage", "de") in expansion_parameters(body)


def test_display_language_keeps_the_default_where_no_translation(fhir_client):
    body = expand_url(fhir_client, "body-site-all", displayLanguage="de")
    assert expansion_items(body)["scalp-old"]["display"] == "Scalp region (retired)"
    assert expansion_items(body)["head"]["display"] == "Kopf"


def test_accept_language_header_picks_the_german_display(fhir_client):
    r = fhir_client.get(EXPAND, query_string={"url": VS_BASE + "body-site-hands"},
                        headers={"Accept-Language": "de"})
    assert r.status_code == 200
    assert [i["display"] for i in r.fhir["expansion"]["contains"]] == ["Linke Hand",
                                                                      "Rechte Hand"]


def test_display_language_with_designations_shows_the_english_display(fhir_client):
    body = expand_url(fhir_client, "body-site-hands", displayLanguage="de",
                      includeDesignations="true")
    left = expansion_items(body)["left-hand"]
    assert left["display"] == "Linke Hand"
    assert ("en", "Left hand") in {(d.get("language"), d["value"]) for d in left["designation"]}


def contains_properties(item: dict[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for ext in item.get("extension", []):
        if ext["url"] != EXT_CONTAINS_PROPERTY:
            continue
        parts = {e["url"]: e for e in ext["extension"]}
        [key] = [k for k in parts["value"] if k.startswith("value")]
        out.append((parts["code"]["valueCode"], parts["value"][key]))
    return out


def test_property_is_returned_as_r5_extension(fhir_client):
    body = expand_url(fhir_client, "body-site-upper-limb", property="laterality")
    declared = [ext for ext in body["expansion"].get("extension", [])
                if ext["url"] == EXT_EXPANSION_PROPERTY]
    assert [{e["url"]: e for e in d["extension"]}["code"]["valueCode"] for d in declared] == [
        "laterality"]
    items = expansion_items(body)
    assert contains_properties(items["left-hand"]) == [("laterality", "left")]
    assert contains_properties(items["right-hand"]) == [("laterality", "right")]
    assert contains_properties(items["upper-limb"]) == []
    # the value keeps its FHIR type (a code)
    ext = next(e for e in items["left-hand"]["extension"] if e["url"] == EXT_CONTAINS_PROPERTY)
    assert {"url": "value", "valueCode": "left"} in ext["extension"]
    assert ("used-codesystem", USED_BODY_SITE) in expansion_parameters(body)


def test_no_property_unless_asked(fhir_client):
    body = expand_url(fhir_client, "body-site-upper-limb")
    assert all(contains_properties(i) == [] for i in expansion_items(body).values())


# -- errors ----------------------------------------------------------------------------------


def test_unknown_value_set_is_404(fhir_client):
    r = expand(fhir_client, url=VS_BASE + "no-such-value-set")
    assert r.status_code == 404
    assert r.fhir["resourceType"] == "OperationOutcome"
    assert VS_BASE + "no-such-value-set" in outcome_text(r.fhir)
    [issue] = issues_of(r.fhir)
    assert issue["code"] == "not-found"


def test_unknown_value_set_instance_is_404(fhir_client):
    r = fhir_client.get("/fhir/ValueSet/no-such-value-set/$expand")
    assert r.status_code == 404


def test_filter_without_value_is_4xx(fhir_client):
    vs = inline_vs("http://example.org/fhir/ValueSet/broken", {"include": [{
        "system": BODY_SITE, "filter": [{"property": "concept", "op": "is-a"}]}]})
    r = post_expand(fhir_client, ("valueSet", "resource", vs))
    assert 400 <= r.status_code < 500
    [issue] = issues_of(r.fhir)
    assert tx_types(issue) == ["vs-invalid"]
    assert issue["expression"] == ["ValueSet.compose.include[0].filter[0]"]
    assert "no value" in issue["details"]["text"]


def cycle(*names: str) -> list[dict[str, Any]]:
    """Value sets each including the next, the last including the first."""
    urls = [f"http://example.org/fhir/ValueSet/cycle-{n}" for n in names]
    return [inline_vs(url, {"include": [{"valueSet": [urls[(i + 1) % len(urls)]]}]})
            for i, url in enumerate(urls)]


@pytest.mark.parametrize("names", [("a", "b"), ("self",), ("x", "y", "z")])
def test_cyclic_value_set_is_4xx(fhir_client, names):
    resources = cycle(*names)
    r = post_expand(fhir_client, ("url", "valueUri", resources[0]["url"]),
                    *[tx(vs) for vs in resources])
    assert 400 <= r.status_code < 500, r.fhir
    assert resources[0]["url"] in outcome_text(r.fhir)


def test_cyclic_value_set_with_a_code_system_include_is_4xx(fhir_client):
    a, b = cycle("p", "q")
    a["compose"]["include"].append({"system": BODY_SITE})
    r = post_expand(fhir_client, ("url", "valueUri", a["url"]), tx(a), tx(b))
    assert 400 <= r.status_code < 500, r.fhir


def hostile_code_system() -> dict[str, Any]:
    return {"resourceType": "CodeSystem", "url": "http://example.org/fhir/CodeSystem/long-codes",
            "version": "1", "status": "active", "content": "complete", "caseSensitive": True,
            "concept": [{"code": "a" * 64, "display": "all a"},
                        {"code": "a" * 64 + "b", "display": "a then b"},
                        {"code": "b" * 64, "display": "all b"}]}


def test_hostile_regex_filter_on_long_codes(fhir_client):
    """`((a+)+)+` backtracks exponentially on 'aaa…ab' in a backtracking engine; RE2 answers."""
    vs = inline_vs("http://example.org/fhir/ValueSet/hostile", {"include": [{
        "system": "http://example.org/fhir/CodeSystem/long-codes",
        "filter": [{"property": "code", "op": "regex", "value": "((a+)+)+"}]}]})
    r = post_expand(fhir_client, ("valueSet", "resource", vs), tx(hostile_code_system()))
    assert r.status_code == 200, r.fhir
    assert r.fhir["expansion"]["total"] == 1
    assert expansion_codes(r.fhir) == ["a" * 64]


def test_invalid_regex_is_4xx(fhir_client):
    vs = inline_vs("http://example.org/fhir/ValueSet/bad-regex", {"include": [{
        "system": BODY_SITE, "filter": [{"property": "laterality", "op": "regex",
                                         "value": "(unclosed"}]}]})
    r = post_expand(fhir_client, ("valueSet", "resource", vs))
    assert 400 <= r.status_code < 500
    assert "(unclosed" in outcome_text(r.fhir)


def test_the_configured_expansion_limit_is_the_one_applied(tmp_path):
    """TX_EXPAND_LIMIT raised above 10,000 lets a larger unpaged expansion through, and the
    default still refuses it as too costly: the limit is the server's setting, not a number
    of the expansion code's own."""
    source = tmp_path / "many.json"
    source.write_text(json.dumps({
        "resourceType": "CodeSystem", "url": "http://example.org/cs/many", "version": "1",
        "status": "active", "content": "complete", "concept": [
            {"code": f"c{n}", "display": f"Concept {n}"} for n in range(10_050)]}),
        encoding="utf-8")
    store = Store(tmp_path / "tx.db")
    fhir_loader.import_paths(store, [source])
    query = {"url": "http://example.org/cs/many?fhir_vs"}
    raised = create_app({"DB": str(store.path), "EXPAND_LIMIT": 20_000}).test_client()
    whole = raised.get(EXPAND, query_string=query)
    assert whole.status_code == 200, whole.get_json()
    assert whole.get_json()["expansion"]["total"] == 10_050
    assert len(whole.get_json()["expansion"]["contains"]) == 10_050
    default = create_app({"DB": str(store.path)}).test_client()
    refused = default.get(EXPAND, query_string=query)
    assert refused.status_code == 422
    assert "(>10000)" in refused.get_json()["issue"][0]["details"]["text"]


def _flat(client, **query) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    found = client.get(EXPAND, query_string={"excludeNested": "true", **query})
    assert found.status_code == 200, found.get_json()
    return dict(found.get_json()["expansion"])


@pytest.mark.parametrize("system, extra", [
    (BODY_SITE, {}),
    (BODY_SITE, {"activeOnly": "true"}),  # not read as a page: listed, then cut
    (BODY_SITE, {"useSupplement": BODY_SITE_LAY}),
    (BODY_SITE, {"property": "status", "displayLanguage": "de"}),
])
def test_a_page_of_a_whole_code_system_is_the_page_of_its_listing(fhir_client, system, extra):
    """A page of an implicit value set is read from the store at its offset (the code system
    counts the rest) rather than listed from the start: the same members, in the same order,
    with the same total, displays and properties as a page cut from the whole listing."""
    whole = _flat(fhir_client, url=f"{system}?fhir_vs", **extra)
    members = whole.get("contains", [])
    for offset, count in [(0, 3), (2, 4), (7, 5), (9, 1), (10, 3), (25, 2), (0, 0)]:
        page = _flat(fhir_client, url=f"{system}?fhir_vs", offset=offset, count=count, **extra)
        assert page["total"] == whole["total"] == len(members)
        assert page.get("contains", []) == members[offset:offset + count], (offset, count)
        assert page["offset"] == offset


def test_a_page_of_cpt_carries_its_facts_as_the_listing_does(client):
    """CPT's provider adds its dated facts (status, add-on) to every concept it lists: a page
    read at its offset carries the same."""
    whole = _flat(client, url="http://www.ama-assn.org/go/cpt?fhir_vs", property="status")
    members = whole["contains"]
    for offset in (0, 5, len(members) - 2):
        page = _flat(client, url="http://www.ama-assn.org/go/cpt?fhir_vs", property="status",
                     offset=offset, count=4)
        assert page["total"] == whole["total"]
        assert page["contains"] == members[offset:offset + 4]
