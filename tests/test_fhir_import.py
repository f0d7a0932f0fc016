"""`txserver import fhir PATH...`: JSON files, folders, Bundles and FHIR packages (.tgz), then
the stored resources read back through the REST API (searchset Bundles, reads).

An import is all-or-nothing: a resource that is not valid FHIR, or has no url, fails the whole
import naming its file, and the store is left exactly as it was (compared with an SQL dump).
The fixtures are our own, in tests/data/fhir.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import server
from codesystems.fhir_json import loader as fhir_loader
from conftest import (
    client_for,
    dump,
    BODY_SITE,
    BODY_SITE_LAY,
    BODY_SITE_MAP,
    EXPAND,
    FHIR_DATA,
    LEGACY_SITE,
    LOOKUP,
    VS_BASE,
    FhirClient,
    build_fhir_store,
    expansion_codes,
    fhir_fixture,
    fixture_value_sets,
    outcome_text,
    param_dict,
)
from terminology.errors import ImportFailed
from terminology.store import Store

FIXTURE_FILES = ("codesystem-body-site.json", "codesystem-body-site-supplement.json",
                 "codesystem-legacy-site.json", "conceptmap-body-site-to-legacy.json",
                 "bundle-valuesets.json", "namingsystem-body-site.json")
VALUE_SET_IDS = sorted(fixture_value_sets())
OURS = "http://example.org/"


# -- helpers ---------------------------------------------------------------------------------






def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(server.main, list(args), catch_exceptions=False)


def write_json(path: Path, resource: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resource, ensure_ascii=False), encoding="utf-8")
    return path


def build_package(path: Path, members: dict[str, Any]) -> Path:
    """A FHIR package: a gzipped tar whose members are JSON documents under package/."""
    with tarfile.open(path, "w:gz") as tar:
        for name, document in members.items():
            data = json.dumps(document, ensure_ascii=False).encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def package_json() -> dict[str, Any]:
    return {"name": "example.body-site", "version": "1.0.0", "fhirVersions": ["4.0.1"],
            "dependencies": {}}


def searchset_ids(body: dict[str, Any]) -> list[str]:
    """Ids of the searchset's resources that are ours (the server may hold built-in ones)."""
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset", body
    entries = body.get("entry", [])
    assert body["total"] == len(entries), "total must count the entries"
    return sorted(e["resource"]["id"] for e in entries
                  if e["resource"]["url"].startswith(OURS))


def lookup_display(client: FhirClient, system: str, code: str) -> str:
    r = client.get(LOOKUP, query_string={"system": system, "code": code})
    assert r.status_code == 200, r.fhir
    return param_dict(r.fhir)["display"][0]


@pytest.fixture
def fhir_store(tmp_path: Path) -> Path:
    """A store of its own holding every fixture of tests/data/fhir."""
    path = tmp_path / "store" / "tx.db"
    build_fhir_store(path)
    return path


# -- importing: files, folder, Bundle, package -----------------------------------------------


def test_cli_imports_files(tmp_path):
    db = tmp_path / "files.db"
    result = run("import", "fhir", str(FHIR_DATA / "codesystem-body-site.json"),
                 str(FHIR_DATA / "codesystem-legacy-site.json"), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "2 CodeSystem, 0 ValueSet, 0 ConceptMap" in result.output
    client = client_for(db)
    assert searchset_ids(client.get("/fhir/CodeSystem").fhir) == ["body-site", "legacy-site"]
    assert lookup_display(client, BODY_SITE, "left-hand") == "Left hand"
    assert lookup_display(client, LEGACY_SITE, "FT") == "Foot, either side"
    assert searchset_ids(client.get("/fhir/ValueSet").fhir) == []


def test_cli_imports_a_folder(tmp_path):
    db = tmp_path / "folder.db"
    result = run("import", "fhir", str(FHIR_DATA), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "3 CodeSystem, 9 ValueSet, 1 ConceptMap" in result.output
    client = client_for(db)
    assert searchset_ids(client.get("/fhir/ValueSet").fhir) == VALUE_SET_IDS
    assert searchset_ids(client.get("/fhir/ConceptMap").fhir) == ["body-site-to-legacy"]
    r = client.get(EXPAND, query_string={"url": VS_BASE + "body-site-left"})
    assert r.status_code == 200, r.fhir
    assert expansion_codes(r.fhir) == ["left-hand", "left-foot"]


def test_import_paths_reads_a_bundle(tmp_path):
    db = tmp_path / "bundle.db"
    store = Store(db)
    store.create()
    counts = fhir_loader.import_paths(store, [FHIR_DATA / "codesystem-body-site.json",
                                              FHIR_DATA / "bundle-valuesets.json"])
    assert counts.counts == {"CodeSystem": 1, "ValueSet": 9, "ConceptMap": 0, "NamingSystem": 0}
    client = client_for(db)
    assert searchset_ids(client.get("/fhir/ValueSet").fhir) == VALUE_SET_IDS
    r = client.get(EXPAND, query_string={"url": VS_BASE + "body-site-upper-limb"})
    assert expansion_codes(r.fhir) == ["upper-limb", "left-hand", "right-hand"]


def test_cli_imports_a_package(tmp_path):
    members = {"package/package.json": package_json(),
               "package/.index.json": {"index-version": 1, "files": []},
               # not a terminology resource: a package holds them too, and they are skipped
               "package/StructureDefinition-note.json": {
                   "resourceType": "StructureDefinition", "url": "http://example.org/sd"}}
    for name in FIXTURE_FILES:
        members[f"package/{name}"] = fhir_fixture(name)
    package = build_package(tmp_path / "example.body-site-1.0.0.tgz", members)
    db = tmp_path / "package.db"
    result = run("import", "fhir", str(package), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "3 CodeSystem, 9 ValueSet, 1 ConceptMap" in result.output
    client = client_for(db)
    assert searchset_ids(client.get("/fhir/CodeSystem").fhir) == ["body-site", "body-site-lay", "legacy-site"]
    assert searchset_ids(client.get("/fhir/ValueSet").fhir) == VALUE_SET_IDS
    r = client.get(LOOKUP, query_string={"system": BODY_SITE, "code": "left-hand",
                                         "useSupplement": BODY_SITE_LAY})
    assert r.status_code == 200, r.fhir
    assert param_dict(r.fhir)["used-supplement"] == [BODY_SITE_LAY + "|0.1.0"]


def test_import_paths_of_a_package_equals_import_of_the_folder(tmp_path):
    members = {"package/package.json": package_json()}
    members.update({f"package/{name}": fhir_fixture(name) for name in FIXTURE_FILES})
    package = build_package(tmp_path / "p.tgz", members)
    from_package, from_folder = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    assert fhir_loader.import_paths(from_package, [package]).counts == \
        fhir_loader.import_paths(from_folder, [FHIR_DATA]).counts
    a, b = client_for(tmp_path / "a.db"), client_for(tmp_path / "b.db")
    for url in ("/fhir/CodeSystem", "/fhir/ValueSet", "/fhir/ConceptMap"):
        assert searchset_ids(a.get(url).fhir) == searchset_ids(b.get(url).fhir)


# -- failures change nothing -----------------------------------------------------------------


INVALID = {
    "status-not-a-code": ("valueset-bad-status.json", {
        "resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/bad-status",
        "status": 5, "compose": {"include": [{"system": BODY_SITE}]}}),
    "concept-not-a-list": ("codesystem-bad-concept.json", {
        "resourceType": "CodeSystem", "url": "http://example.org/fhir/CodeSystem/bad-concept",
        "status": "active", "content": "complete", "concept": {"code": "elbow"}}),
}
NO_URL = {
    "CodeSystem": {"resourceType": "CodeSystem", "id": "no-url", "status": "active",
                   "content": "complete", "concept": [{"code": "knee", "display": "Knee"}]},
    "ValueSet": {"resourceType": "ValueSet", "id": "no-url", "status": "active",
                 "compose": {"include": [{"system": BODY_SITE}]}},
    "ConceptMap": {"resourceType": "ConceptMap", "id": "no-url", "status": "active"},
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_resource_fails_naming_the_file_and_changes_nothing(tmp_path, fhir_store, case):
    name, resource = INVALID[case]
    # a valid, changed resource first: it must not be written either
    changed = fhir_fixture("codesystem-legacy-site.json")
    changed["concept"][0]["display"] = "CHANGED"
    good = write_json(tmp_path / "in" / "a-good.json", changed)
    bad = write_json(tmp_path / "in" / name, resource)
    before = dump(fhir_store)
    result = run("import", "fhir", str(good), str(bad), "--db", str(fhir_store))
    assert result.exit_code != 0
    assert "nothing changed" in result.output
    assert name in result.output
    assert dump(fhir_store) == before
    assert lookup_display(client_for(fhir_store), LEGACY_SITE, "HND-L") == "Hand, left"


@pytest.mark.parametrize("case", sorted(INVALID))
def test_import_paths_raises_import_failed_naming_the_file(tmp_path, fhir_store, case):
    name, resource = INVALID[case]
    bad = write_json(tmp_path / name, resource)
    before = dump(fhir_store)
    with pytest.raises(ImportFailed) as failure:
        fhir_loader.import_paths(Store(fhir_store), [bad])
    assert name in failure.value.message
    assert "not valid FHIR" in failure.value.message
    assert dump(fhir_store) == before


@pytest.mark.parametrize("kind", sorted(NO_URL))
def test_resource_without_url_fails(tmp_path, fhir_store, kind):
    bad = write_json(tmp_path / f"{kind}-no-url.json", NO_URL[kind])
    before = dump(fhir_store)
    result = run("import", "fhir", str(bad), "--db", str(fhir_store))
    assert result.exit_code != 0
    assert "nothing changed" in result.output
    assert f"{kind}-no-url.json" in result.output
    assert "no url" in result.output
    assert dump(fhir_store) == before


def test_invalid_entry_in_a_bundle_is_named(tmp_path, fhir_store):
    bundle = fhir_fixture("bundle-valuesets.json")
    bundle["entry"][3]["resource"]["status"] = 5
    bad = write_json(tmp_path / "value-sets.json", bundle)
    before = dump(fhir_store)
    with pytest.raises(ImportFailed) as failure:
        fhir_loader.import_paths(Store(fhir_store), [bad])
    assert "value-sets.json entry 3" in failure.value.message
    assert dump(fhir_store) == before


def test_invalid_member_of_a_package_is_named(tmp_path, fhir_store):
    members = {"package/package.json": package_json(),
               "package/CodeSystem-legacy-site.json": fhir_fixture("codesystem-legacy-site.json"),
               "package/ValueSet-bad.json": INVALID["status-not-a-code"][1]}
    package = build_package(tmp_path / "bad.tgz", members)
    before = dump(fhir_store)
    result = run("import", "fhir", str(package), "--db", str(fhir_store))
    assert result.exit_code != 0
    assert "package/ValueSet-bad.json" in result.output
    assert dump(fhir_store) == before


def test_file_that_is_not_json_fails(tmp_path, fhir_store):
    bad = tmp_path / "broken.json"
    bad.write_text('{"resourceType": "CodeSystem", ', encoding="utf-8")
    before = dump(fhir_store)
    result = run("import", "fhir", str(bad), "--db", str(fhir_store))
    assert result.exit_code != 0
    assert "broken.json" in result.output
    assert dump(fhir_store) == before


def test_folder_without_resources_fails(tmp_path, fhir_store):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = dump(fhir_store)
    with pytest.raises(ImportFailed):
        fhir_loader.import_paths(Store(fhir_store), [empty])
    assert dump(fhir_store) == before


def test_missing_path_fails(tmp_path, fhir_store):
    before = dump(fhir_store)
    result = run("import", "fhir", str(tmp_path / "nowhere.json"), "--db", str(fhir_store))
    assert result.exit_code != 0
    assert "nowhere.json" in result.output
    assert dump(fhir_store) == before


# -- re-import replaces ----------------------------------------------------------------------


def test_reimport_replaces_code_system_value_set_and_map(tmp_path, fhir_store):
    cs = fhir_fixture("codesystem-body-site.json")
    head = cs["concept"][1]
    head["concept"][0]["display"] = "Cranium"
    head["concept"] = head["concept"][:1]  # scalp-old is gone
    bundle = fhir_fixture("bundle-valuesets.json")
    hands = next(e["resource"] for e in bundle["entry"]
                 if e["resource"]["id"] == "body-site-hands")
    hands["compose"]["include"][0]["concept"] = [{"code": "right-hand"}]
    cm = fhir_fixture("conceptmap-body-site-to-legacy.json")
    cm["group"][0]["element"] = cm["group"][0]["element"][:1]
    paths = [write_json(tmp_path / "v2" / "cs.json", cs),
             write_json(tmp_path / "v2" / "vs.json", bundle),
             write_json(tmp_path / "v2" / "cm.json", cm)]
    result = run("import", "fhir", *map(str, paths), "--db", str(fhir_store))
    assert result.exit_code == 0, result.output

    client = client_for(fhir_store)
    assert searchset_ids(client.get("/fhir/CodeSystem").fhir) == ["body-site", "body-site-lay", "legacy-site"]
    assert client.get("/fhir/CodeSystem", query_string={"url": BODY_SITE}).fhir["total"] == 1
    assert lookup_display(client, BODY_SITE, "skull") == "Cranium"
    gone = client.get(LOOKUP, query_string={"system": BODY_SITE, "code": "scalp-old"})
    assert gone.status_code == 404
    assert searchset_ids(client.get("/fhir/ValueSet").fhir) == VALUE_SET_IDS
    r = client.get(EXPAND, query_string={"url": VS_BASE + "body-site-hands"})
    assert expansion_codes(r.fhir) == ["right-hand"]
    assert searchset_ids(client.get("/fhir/ConceptMap").fhir) == ["body-site-to-legacy"]
    r = client.get("/fhir/ConceptMap/$translate",
                   query_string={"system": BODY_SITE, "code": "right-hand"})
    assert param_dict(r.fhir)["result"] == [False]


def test_reimporting_the_same_files_is_idempotent(fhir_store):
    client = client_for(fhir_store)
    before = {url: searchset_ids(client.get(url).fhir)
              for url in ("/fhir/CodeSystem", "/fhir/ValueSet", "/fhir/ConceptMap")}
    result = run("import", "fhir", str(FHIR_DATA), "--db", str(fhir_store))
    assert result.exit_code == 0, result.output
    client = client_for(fhir_store)
    after = {url: searchset_ids(client.get(url).fhir) for url in before}
    assert after == before == {"/fhir/CodeSystem": ["body-site", "body-site-lay", "legacy-site"],
                               "/fhir/ValueSet": VALUE_SET_IDS,
                               "/fhir/ConceptMap": ["body-site-to-legacy"]}


# -- reading back what was imported ----------------------------------------------------------


def test_code_system_search(fhir_client):
    bundle = fhir_client.get("/fhir/CodeSystem").fhir
    assert searchset_ids(bundle) == ["body-site", "body-site-lay", "legacy-site"]
    by_url = fhir_client.get("/fhir/CodeSystem", query_string={"url": LEGACY_SITE}).fhir
    assert searchset_ids(by_url) == ["legacy-site"]
    by_name = fhir_client.get("/fhir/CodeSystem", query_string={"name": "bodys"}).fhir
    assert searchset_ids(by_name) == ["body-site", "body-site-lay"]  # the supplement too
    none = fhir_client.get("/fhir/CodeSystem", query_string={"url": BODY_SITE + "-x"}).fhir
    assert none["total"] == 0 and not none.get("entry")


def test_code_system_read(fhir_client):
    r = fhir_client.get("/fhir/CodeSystem/body-site")
    assert r.status_code == 200
    assert r.fhir["url"] == BODY_SITE and r.fhir["version"] == "1.0.0"
    assert r.fhir["count"] == 10
    assert [p["code"] for p in r.fhir["property"]] == ["laterality", "status", "notSelectable"]
    assert "concept" not in r.fhir


def test_supplement_is_served_as_a_code_system(fhir_client):
    r = fhir_client.get("/fhir/CodeSystem", query_string={"url": BODY_SITE_LAY})
    assert searchset_ids(r.fhir) == ["body-site-lay"]
    read = fhir_client.get("/fhir/CodeSystem/body-site-lay")
    assert read.status_code == 200
    assert read.fhir["content"] == "supplement"


def test_code_system_read_with_concepts_keeps_the_hierarchy(fhir_client):
    r = fhir_client.get("/fhir/CodeSystem/body-site", query_string={"_summary": "false"})
    assert r.status_code == 200
    parents: dict[str, str] = {}

    def walk(concepts: list[dict[str, Any]], parent: str | None) -> None:
        for c in concepts:
            if parent:
                parents[c["code"]] = parent
            for p in c.get("property", []):
                if p["code"] == "parent":
                    parents[c["code"]] = p["valueCode"]
            walk(c.get("concept", []), c["code"])

    walk(r.fhir["concept"], None)
    assert parents.get("left-hand") == "upper-limb"
    assert parents.get("upper-limb") == "limb"


def test_value_set_search(fhir_client):
    bundle = fhir_client.get("/fhir/ValueSet").fhir
    assert searchset_ids(bundle) == VALUE_SET_IDS
    assert all(e["fullUrl"].endswith("/fhir/ValueSet/" + e["resource"]["id"])
               for e in bundle["entry"])
    by_url = fhir_client.get("/fhir/ValueSet", query_string={"url": VS_BASE + "body-site-left"})
    assert searchset_ids(by_url.fhir) == ["body-site-left"]
    by_name = fhir_client.get("/fhir/ValueSet", query_string={"name": "BodySiteH"})
    assert searchset_ids(by_name.fhir) == ["body-site-hands", "body-site-hands-lay",
                                           "body-site-head-active"]
    count = fhir_client.get("/fhir/ValueSet", query_string={"_summary": "count"}).fhir
    assert count["total"] == bundle["total"] and "entry" not in count


def test_value_set_read(fhir_client):
    expected = fixture_value_sets()["body-site-left-or-upper"]
    r = fhir_client.get("/fhir/ValueSet/body-site-left-or-upper")
    assert r.status_code == 200
    assert r.fhir["url"] == expected["url"]
    assert r.fhir["compose"] == expected["compose"]
    lay = fhir_client.get("/fhir/ValueSet/body-site-hands-lay").fhir
    assert lay["extension"] == fixture_value_sets()["body-site-hands-lay"]["extension"]


def test_unknown_value_set_read_is_404(fhir_client):
    r = fhir_client.get("/fhir/ValueSet/no-such-value-set")
    assert r.status_code == 404
    assert "no-such-value-set" in outcome_text(r.fhir)


def test_concept_map_search_and_read(fhir_client):
    bundle = fhir_client.get("/fhir/ConceptMap", query_string={"url": BODY_SITE_MAP}).fhir
    assert searchset_ids(bundle) == ["body-site-to-legacy"]
    r = fhir_client.get("/fhir/ConceptMap/body-site-to-legacy")
    assert r.status_code == 200
    cm = r.fhir
    assert cm["url"] == BODY_SITE_MAP and cm["version"] == "1.0.0"
    [group] = cm["group"]
    assert (group["source"], group["target"]) == (BODY_SITE, LEGACY_SITE)
    mapped = {e["code"]: [(t.get("code"), t["equivalence"]) for t in e["target"]]
              for e in group["element"]}
    assert mapped == {"left-hand": [("HND-L", "equivalent")],
                      "right-hand": [("HND-R", "equivalent")],
                      "left-foot": [("FT", "wider")], "right-foot": [("FT", "wider")],
                      "skull": [(None, "unmatched")]}
    comments = [t.get("comment") for e in group["element"] for t in e["target"]]
    assert "the legacy code does not say which side" in comments


def test_concept_map_reads_back_as_imported(fhir_client):
    imported = fhir_fixture("conceptmap-body-site-to-legacy.json")
    cm = fhir_client.get("/fhir/ConceptMap/body-site-to-legacy").fhir
    assert cm["group"] == imported["group"]


def test_unknown_concept_map_read_is_404(fhir_client):
    r = fhir_client.get("/fhir/ConceptMap/no-such-map")
    assert r.status_code == 404


def test_the_summary_counts_built_in_code_systems_as_held(tmp_path):
    """A value set over UCUM includes a code system the server serves without an import."""
    import server
    from codesystems.fhir_json import loader as fhir_loader
    from terminology.store import Store

    valueset = {"resourceType": "ValueSet", "id": "units", "url": "http://example.org/vs/units",
                "status": "active", "compose": {"include": [
                    {"system": "http://unitsofmeasure.org", "concept": [{"code": "mg"}]},
                    {"system": "http://example.org/not-loaded"}]}}
    path = tmp_path / "units.json"
    path.write_text(json.dumps(valueset))
    store = Store(tmp_path / "tx.db")
    store.create()
    report = fhir_loader.import_paths(store, [path], server.built_in_versions())
    assert set(report.unknown_systems) == {"http://example.org/not-loaded"}
