"""Resource ids are unique per resource type: an import whose resource would take an id held by
a resource with another url is refused, naming both, and changes nothing. An import replaces
only resources of its own url: the same url|version, or the version that held its id.

Before this rule the store deleted by `url|version OR id`, so a CodeSystem with id `cpt-2026`
from any package silently removed CPT 2026.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import server
from codesystems.cpt import definition as cpt
from codesystems.fhir_json import loader as fhir_loader
from codesystems.icd10pcs import loader as pcs_loader
from conftest import CPT, LOOKUP, client_for, dump, param_dict
from terminology.errors import ImportFailed
from terminology.store import Store

OTHER = "http://example.org/fhir/CodeSystem/other"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(server.main, list(args), catch_exceptions=False)


@pytest.fixture
def cpt_store(db_path: Path, tmp_path: Path) -> Path:
    """A copy of the session's CPT store (2025, 2026 and the add-on map) to change freely."""
    path = tmp_path / "tx.db"
    shutil.copy(db_path, path)
    return path


def code_system(url: str, id_: str | None, version: str = "1") -> dict[str, Any]:
    resource = {"resourceType": "CodeSystem", "url": url, "version": version, "status": "active",
                "content": "complete", "concept": [{"code": "a", "display": "A"}]}
    return {**resource, "id": id_} if id_ else resource


def write(path: Path, resource: dict[str, Any]) -> Path:
    import json

    path.write_text(json.dumps(resource), encoding="utf-8")
    return path


def cpt_lookup(path: Path, code: str = "99202", version: str = "2026") -> int:
    client = client_for(path)
    return client.get(LOOKUP, query_string={"system": CPT, "code": code,
                                            "version": version}).status_code


def test_a_code_system_taking_cpts_id_is_refused_and_cpt_stays(cpt_store, tmp_path):
    before = dump(cpt_store)
    file = write(tmp_path / "other.json", code_system(OTHER, cpt.resource_id("2026")))
    result = run("import", "fhir", str(file), "--db", str(cpt_store))
    assert result.exit_code != 0
    assert "cpt-2026" in result.output
    assert f"{CPT}|2026" in result.output and f"{OTHER}|1" in result.output
    assert dump(cpt_store) == before
    assert cpt_lookup(cpt_store) == 200


def test_a_concept_map_taking_the_add_on_maps_id_is_refused(cpt_store, tmp_path):
    before = dump(cpt_store)
    cm = {"resourceType": "ConceptMap", "id": cpt.ADDON_MAP_ID, "url": "http://example.org/cm",
          "status": "active", "group": []}
    with pytest.raises(ImportFailed, match=cpt.ADDON_MAP_ID):
        fhir_loader.import_paths(Store(cpt_store), [write(tmp_path / "cm.json", cm)])
    assert dump(cpt_store) == before


def test_a_value_set_taking_another_value_sets_id_is_refused(tmp_path):
    store = Store(tmp_path / "tx.db")
    first = {"resourceType": "ValueSet", "id": "shared", "url": "http://example.org/vs/a",
             "status": "active"}
    fhir_loader.import_paths(store, [write(tmp_path / "a.json", first)])
    before = dump(store.path)
    second = {**first, "url": "http://example.org/vs/b"}
    with pytest.raises(ImportFailed, match="http://example.org/vs/a"):
        fhir_loader.import_paths(store, [write(tmp_path / "b.json", second)])
    assert dump(store.path) == before


def test_two_resources_of_one_import_with_one_id_are_refused(tmp_path):
    store = Store(tmp_path / "tx.db")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": code_system("http://example.org/a", "same")},
        {"resource": code_system("http://example.org/b", "same")}]}
    with pytest.raises(ImportFailed, match="'same'"):
        fhir_loader.import_paths(store, [write(tmp_path / "bundle.json", bundle)])
    assert store.is_empty()


def test_another_version_with_the_same_id_is_its_update(tmp_path):
    """The id names the resource; a new version of it under that id replaces the old one
    (a FHIR package's next release; the CMS add-on map of the next quarter)."""
    store = Store(tmp_path / "tx.db")
    fhir_loader.import_paths(store, [write(tmp_path / "v1.json", code_system(OTHER, "other"))])
    fhir_loader.import_paths(store, [write(tmp_path / "v2.json",
                                           code_system(OTHER, "other", version="2"))])
    assert [(cs.version, cs.resource_id) for cs in store.code_systems()] == [("2", "other")]


def test_reimport_of_the_same_version_may_change_its_id(tmp_path):
    store = Store(tmp_path / "tx.db")
    fhir_loader.import_paths(store, [write(tmp_path / "v1.json", code_system(OTHER, "old"))])
    fhir_loader.import_paths(store, [write(tmp_path / "v1b.json", code_system(OTHER, "new"))])
    assert [(cs.version, cs.resource_id) for cs in store.code_systems()] == [("1", "new")]


def test_resources_without_an_id_get_one_that_is_free(tmp_path):
    """Two urls ending alike (.../a/site, .../b/site) would derive the same id."""
    store = Store(tmp_path / "tx.db")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": code_system("http://example.org/a/site", None)},
        {"resource": code_system("http://example.org/b/site", None)}]}
    fhir_loader.import_paths(store, [write(tmp_path / "bundle.json", bundle)])
    ids = sorted(cs.resource_id for cs in store.code_systems())
    assert len(set(ids)) == 2, ids
    fhir_loader.import_paths(store, [write(tmp_path / "bundle.json", bundle)])  # idempotent
    assert sorted(cs.resource_id for cs in store.code_systems()) == ids


def test_a_code_set_importer_is_refused_too(tmp_path):
    """ICD-10-PCS's own id already held by a loaded CodeSystem: the import fails, naming both."""
    path = tmp_path / "tx.db"
    store = Store(path)
    fhir_loader.import_paths(store, [write(tmp_path / "x.json",
                                           code_system(OTHER, "icd10pcs-2026"))])
    before = dump(path)
    result = run("import", "icd10pcs", str(pcs_loader.SAMPLE_FILE), "--db", str(path))
    assert result.exit_code != 0
    assert "icd10pcs-2026" in result.output and OTHER in result.output
    assert dump(path) == before
    body = client_for(path).get(LOOKUP, query_string={"system": OTHER, "code": "a"}).fhir
    assert param_dict(body)["display"] == ["A"]
