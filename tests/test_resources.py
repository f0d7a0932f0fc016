"""Resource reads and searches (CodeSystem, ConceptMap) and the server's capability statements."""

from __future__ import annotations

import pytest

from conftest import CPT, outcome_text
from test_lookup import sample_texts

SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")
CODES_2025 = set(sample_texts("2025", "LONGULT.txt"))
CODES_2026 = set(sample_texts("2026", "LONGULT.txt"))


def tags(resource) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(t.get("system"), t.get("code")) for t in resource.get("meta", {}).get("tag", [])}


def get(client, path: str, status: int = 200, **query):  # type: ignore[no-untyped-def]
    response = client.get(path, query_string=query)
    assert response.status_code == status, response.fhir
    return response.fhir


def entries(bundle) -> list[dict]:  # type: ignore[no-untyped-def]
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    return [e["resource"] for e in bundle.get("entry", [])]


# -- CodeSystem search ------------------------------------------------------------------------


def test_search_all_code_systems(client):
    bundle = get(client, "/fhir/CodeSystem")
    found = entries(bundle)
    assert bundle["total"] == 2
    assert sorted(r["id"] for r in found) == ["cpt-2025", "cpt-2026"]
    assert {r["url"] for r in found} == {CPT}
    for entry in bundle["entry"]:
        assert entry["fullUrl"].endswith(f"/fhir/CodeSystem/{entry['resource']['id']}")
        assert entry["search"]["mode"] == "match"
        assert "concept" not in entry["resource"]


def test_search_by_url_and_version(client):
    bundle = get(client, "/fhir/CodeSystem", url=CPT, version="2026")
    [resource] = entries(bundle)
    assert bundle["total"] == 1
    assert resource["id"] == "cpt-2026"
    assert resource["version"] == "2026"


def test_search_by_url(client):
    assert get(client, "/fhir/CodeSystem", url=CPT)["total"] == 2
    assert get(client, "/fhir/CodeSystem", url="http://example.org/nope")["total"] == 0


def test_search_by_name(client):
    assert get(client, "/fhir/CodeSystem", name="CPT")["total"] == 2
    assert get(client, "/fhir/CodeSystem", name="cpt")["total"] == 2  # case-insensitive
    assert get(client, "/fhir/CodeSystem", name="SNOMED")["total"] == 0


def test_search_by_id(client):
    [resource] = entries(get(client, "/fhir/CodeSystem", _id="cpt-2025"))
    assert resource["version"] == "2025"


def test_search_summary_count(client):
    bundle = get(client, "/fhir/CodeSystem", _summary="count")
    assert bundle["total"] == 2
    assert "entry" not in bundle


def test_search_summary_false_includes_concepts(client):
    found = entries(get(client, "/fhir/CodeSystem", version="2025", _summary="false"))
    assert len(found) == 1
    assert {c["code"] for c in found[0]["concept"]} >= CODES_2025


def test_a_search_with_concepts_is_written_entry_by_entry(client):
    """Full code systems in a searchset are streamed, as a read is: a page of them built whole
    held hundreds of MB (the HL7 Terminology package's 900 code systems with ICD-10-CM)."""
    response = client.get("/fhir/CodeSystem?_summary=false&_count=5")
    assert response.status_code == 200 and "Content-Length" not in response.headers
    bundle = response.fhir
    assert bundle["total"] == 2 and [e["search"] for e in bundle["entry"]] == [
        {"mode": "match"}] * 2
    for entry in bundle["entry"]:
        read = get(client, f"/fhir/CodeSystem/{entry['resource']['id']}", _summary="false")
        assert entry["resource"] == read and entry["fullUrl"].endswith(f"/CodeSystem/{read['id']}")
    listed = client.get("/fhir/CodeSystem?_count=5")
    assert "Content-Length" in listed.headers
    assert "concept" not in listed.fhir["entry"][0]["resource"]


def test_a_long_page_is_written_entry_by_entry_as_the_same_bundle(client, monkeypatch):
    """A page of more than search.WHOLE_UP_TO entries is shaped as it is written (a page of
    1,000 code systems built whole held 30 MB more at once): the same Bundle either way."""
    from terminology.fhir import search

    whole = {path: client.get(path) for path in ("/fhir/CodeSystem?_count=5",
                                                 "/fhir/ValueSet?_count=5&_summary=true")}
    monkeypatch.setattr(search, "WHOLE_UP_TO", 1)
    for path, answer in whole.items():
        streamed = client.get(path + "&_offset=0")  # not the answer kept for `path`
        assert "Content-Length" in answer.headers and "Content-Length" not in streamed.headers
        assert len(answer.fhir["entry"]) > 1 and streamed.fhir == answer.fhir
    refused = client.get("/fhir/CodeSystem?_count=5&_summary=all")
    assert refused.status_code == 400 and refused.fhir["resourceType"] == "OperationOutcome"


# -- CodeSystem read ------------------------------------------------------------------------


def test_read_code_system(client):
    cs = get(client, "/fhir/CodeSystem/cpt-2026")
    assert cs["resourceType"] == "CodeSystem"
    assert cs["id"] == "cpt-2026"
    assert cs["url"] == CPT
    assert cs["version"] == "2026"
    assert cs["name"] == "CPT"
    assert cs["status"] == "active"
    assert cs["content"] == "complete"
    assert cs["caseSensitive"] is True
    assert "concept" not in cs
    assert SUBSETTED in tags(cs)  # concepts left out: FHIR requires the tag
    assert "American Medical Association" in cs["copyright"]
    assert {"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.840.1.113883.6.12"} in cs[
        "identifier"]


def test_read_code_system_count(client):
    cs26 = get(client, "/fhir/CodeSystem/cpt-2026")
    cs25 = get(client, "/fhir/CodeSystem/cpt-2025")
    full = get(client, "/fhir/CodeSystem/cpt-2026", _summary="false")
    assert cs26["count"] == len(full["concept"])
    # 2026 has its own codes and modifiers, plus 0042T carried over as deleted
    assert cs26["count"] == cs25["count"] + len(CODES_2026 - CODES_2025)
    assert len(CODES_2025) < cs25["count"]  # modifiers are concepts too


def test_read_code_system_property_definitions(client):
    cs = get(client, "/fhir/CodeSystem/cpt-2026")
    declared = {p["code"]: p["type"] for p in cs["property"]}
    expected = {"add-on": "boolean", "kind": "code", "modifier": "boolean",
                "telemedicine": "boolean", "status": "code", "orthopox": "boolean",
                "modified": "boolean", "inactive": "boolean"}
    for code, kind in expected.items():
        assert declared.get(code) == kind, code
    for prop in cs["property"]:
        assert prop.get("description"), prop["code"]


def test_read_code_system_filters(client):
    cs = get(client, "/fhir/CodeSystem/cpt-2026")
    filters = {f["code"]: f["operator"] for f in cs["filter"]}
    assert "=" in filters["modifier"]
    assert "=" in filters["kind"]
    assert "in" in filters["kind"]
    assert "=" in filters["telemedicine"]


def test_read_summary_false_includes_concepts(client):
    cs = get(client, "/fhir/CodeSystem/cpt-2026", _summary="false")
    codes = [c["code"] for c in cs["concept"]]
    assert len(codes) == len(set(codes))
    assert set(codes) >= CODES_2026 | {"0042T", "25", "95", "P1", "1P", "LT"}
    assert SUBSETTED not in tags(cs)
    by_code = {c["code"]: c for c in cs["concept"]}
    assert by_code["64636"]["display"] == sample_texts("2026", "LONGULT.txt")["64636"]
    deleted = {p["code"]: p for p in by_code["0042T"]["property"]}
    assert deleted["inactive"]["valueBoolean"] is True
    assert deleted["status"]["valueCode"] == "deleted"
    assert deleted["deleted-date"]["valueDateTime"] == "2026-01-01"
    new = {p["code"]: p for p in by_code["0901T"]["property"]}
    assert new["effective-date"]["valueDateTime"] == "2026-01-01"
    for concept in cs["concept"]:
        for d in concept.get("designation", []):
            assert d["use"]["system"] == CPT


def test_read_2025_has_no_2026_codes(client):
    cs = get(client, "/fhir/CodeSystem/cpt-2025", _summary="false")
    codes = {c["code"] for c in cs["concept"]}
    assert "0901T" not in codes
    assert "0042T" in codes


def test_read_elements_concept(client):
    cs = get(client, "/fhir/CodeSystem/cpt-2026", _elements="concept")
    assert {c["code"] for c in cs["concept"]} >= CODES_2026
    assert "copyright" not in cs and "property" not in cs  # not asked for
    assert cs["id"] == "cpt-2026"
    assert SUBSETTED in tags(cs)


def test_read_summary_true(client):
    cs = get(client, "/fhir/CodeSystem/cpt-2026", _summary="true")
    assert "concept" not in cs
    assert "property" not in cs
    assert cs["url"] == CPT
    assert SUBSETTED in tags(cs)


def test_read_bad_summary(client):
    body = get(client, "/fhir/CodeSystem/cpt-2026", status=400, _summary="bogus")
    assert "_summary" in outcome_text(body)


def test_read_unknown_code_system(client):
    body = get(client, "/fhir/CodeSystem/nope", status=404)
    assert body["issue"][0]["code"] == "not-found"
    assert "nope" in outcome_text(body)


# -- ConceptMap -----------------------------------------------------------------------------


def test_search_concept_maps(client):
    bundle = get(client, "/fhir/ConceptMap")
    [cm] = entries(bundle)
    assert cm["id"] == "cms-add-on-code-edits"


def test_read_add_on_concept_map(client):
    cm = get(client, "/fhir/ConceptMap/cms-add-on-code-edits")
    assert cm["resourceType"] == "ConceptMap"
    assert cm["version"] == "sample"
    targets: dict[str, list[str | None]] = {}
    for group in cm["group"]:
        for element in group["element"]:
            for target in element["target"]:
                targets.setdefault(element["code"], []).append(target.get("code"))
    assert targets["64636"] == ["64635"]
    assert sorted(targets["64634"]) == ["64633", "64635"]  # the ended edit is still listed
    assert targets["0001U"] == [None]  # primaries defined by contractors
    for group in cm["group"]:
        assert group["source"] == CPT
        for element in group["element"]:
            for target in element["target"]:
                assert target["equivalence"] == "relatedto"


def test_read_unknown_concept_map(client):
    get(client, "/fhir/ConceptMap/nope", status=404)


# -- capabilities ---------------------------------------------------------------------------


def test_capability_statement(client):
    cs = get(client, "/fhir/metadata")
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance"
    assert "application/fhir+json" in cs["format"]
    [rest] = cs["rest"]
    assert rest["mode"] == "server"
    by_type = {r["type"]: r for r in rest["resource"]}
    operations = {o["name"]: o["definition"] for o in by_type["CodeSystem"]["operation"]}
    assert operations["lookup"].endswith("CodeSystem-lookup")
    assert operations["validate-code"].endswith("CodeSystem-validate-code")
    assert operations["subsumes"].endswith("CodeSystem-subsumes")
    assert "ConceptMap" in by_type
    for kind in ("CodeSystem", "ValueSet", "ConceptMap"):  # writes, with a key
        assert [i["code"] for i in by_type[kind]["interaction"]] == [
            "read", "search-type", "create", "update", "delete"]


def test_terminology_capabilities(client):
    tc = get(client, "/fhir/metadata", mode="terminology")
    assert tc["resourceType"] == "TerminologyCapabilities"
    [cpt] = [c for c in tc["codeSystem"] if c["uri"] == CPT]
    versions = {v["code"]: v.get("isDefault", False) for v in cpt["version"]}
    assert versions == {"2025": False, "2026": True}


def test_metadata_bad_mode(client):
    get(client, "/fhir/metadata", status=400, mode="bogus")


@pytest.mark.parametrize("path", ["/fhir/metadata", "/fhir/CodeSystem", "/fhir/ConceptMap",
                                  "/fhir/CodeSystem/cpt-2026"])
def test_json_format_accepted(client, path):
    assert client.get(path, query_string={"_format": "json"}).status_code == 200
    response = client.get(path, query_string={"_format": "application/fhir+json"})
    assert response.status_code == 200


# -- search pages: _count, _offset and the Bundle links ----------------------------------------


def _ids_by_following_next(client, url: str) -> tuple[int, list[str]]:
    bundle = client.get(url).fhir
    total, ids = bundle["total"], []
    for _ in range(100):
        ids += [e["resource"]["id"] for e in bundle.get("entry", [])]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        bundle = client.get(following[0].replace("http://localhost", "")).fhir
        assert bundle["total"] == total
    return total, ids


@pytest.mark.parametrize("kind", ["CodeSystem", "ValueSet"])
def test_search_pages_cover_every_match_once(client, kind):
    total, ids = _ids_by_following_next(client, f"/fhir/{kind}?_count=1")
    assert total >= 2 and len(ids) == total == len(set(ids))
    everything = client.get(f"/fhir/{kind}?_count=1000").fhir
    assert sorted(ids) == sorted(e["resource"]["id"] for e in everything["entry"])


def test_search_page_links(client):
    bundle = client.get("/fhir/ValueSet?_count=1&_offset=1").fhir
    relations = {link["relation"]: link["url"] for link in bundle["link"]}
    assert len(bundle["entry"]) == 1 and set(relations) == {
        "self", "first", "previous", "next", "last"}
    assert "_offset=0" in relations["previous"] and "_offset=2" in relations["next"]
    assert f"_offset={bundle['total'] - 1}" in relations["last"]


def test_search_has_a_default_page_size(client):
    from terminology.fhir.search import DEFAULT_COUNT

    bundle = client.get("/fhir/ValueSet").fhir
    assert len(bundle.get("entry", [])) == min(bundle["total"], DEFAULT_COUNT)


def test_search_count_zero_is_the_total_only(client):
    bundle = client.get("/fhir/CodeSystem?_count=0").fhir
    assert bundle["total"] >= 2 and "entry" not in bundle


@pytest.mark.parametrize("query", ["_count=-1", "_count=ten", "_offset=1.5",
                                   "_offset=99999999999999999999999"])
def test_search_bad_page_parameters_are_400(client, query):
    response = client.get(f"/fhir/ValueSet?{query}")
    assert response.status_code == 400
    assert "must be a whole number" in outcome_text(response.fhir)


def test_search_summary_true_keeps_only_summary_elements(client):
    bundle = client.get("/fhir/ValueSet?_summary=true&_count=1000").fhir
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert not {"compose", "expansion", "text", "description"} & set(resource)
        assert "SUBSETTED" in [t["code"] for t in resource["meta"]["tag"]]
        assert resource["url"] and resource["status"]
