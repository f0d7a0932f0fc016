"""FHIR CodeSystems loaded with `import fhir` are stored in SQLite like every other code system:
concept rows, the hierarchy table and the FTS5 index, not a resource held in memory; and they
answer as they did from memory (designations with their use, properties, nested concepts,
concept extensions, case sensitivity, supplements).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

import server
from codesystems.fhir_json import loader as fhir_loader
from codesystems.icd10cm import loader as icd_loader
from conftest import (
    BODY_SITE,
    EXPAND,
    FHIR_DATA,
    LOOKUP,
    FhirClient,
    build_store,
    client_for,
    expansion_codes,
    expansion_items,
    fhir_fixture,
    param_dict,
)
from terminology.registry import ALL_CODES_URL
from terminology.store import Store

RENDERING_STYLE = "http://hl7.org/fhir/StructureDefinition/rendering-style"


@pytest.fixture(scope="module")
def mixed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full ICD-10-CM (more codes than an expansion may list), the CPT samples and the
    FHIR fixtures in one store."""
    path = tmp_path_factory.mktemp("mixed") / "tx.db"
    store = build_store(path)
    icd_loader.import_tabular(store)
    fhir_loader.import_paths(store, [FHIR_DATA])
    return path


def rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_a_fhir_code_system_is_concept_rows_with_links_and_a_search_index(fhir_db_path):
    (cs_id, provider, resource), = rows(
        fhir_db_path, "SELECT id, provider, resource FROM code_system WHERE url = ?", BODY_SITE)
    assert provider == "fhir"
    assert "concept" not in orjson.loads(resource)  # the concepts are rows, not JSON
    codes = [r[0] for r in rows(fhir_db_path, "SELECT code FROM concept WHERE cs_id = ? "
                                              "ORDER BY id", cs_id)]
    assert codes[:4] == ["limb", "upper-limb", "left-hand", "right-hand"]  # document order
    assert len(codes) == 10
    links = rows(fhir_db_path, "SELECT parent, child FROM concept_link WHERE cs_id = ?", cs_id)
    assert ("limb", "upper-limb") in links and ("upper-limb", "left-hand") in links
    found = rows(fhir_db_path, "SELECT count(*) FROM concept_search WHERE concept_search "
                               "MATCH 'hand'")
    assert found[0][0] >= 2


def test_all_codes_filter_searches_fhir_code_systems_with_the_others(mixed_db):
    """Before, one FHIR code system in the store made this 422 too-costly: it had no search,
    so the whole all-codes value set (ICD-10-CM included) was expanded to be filtered."""
    client = FhirClient(server.create_app({"DB": str(mixed_db)}).test_client())
    r = client.get("/fhir/ValueSet/all-codes/$expand", query_string={"filter": "diabetes"})
    assert r.status_code == 200, r.fhir
    assert r.fhir["expansion"]["total"] > 100
    r = client.get(EXPAND, query_string={"url": ALL_CODES_URL, "filter": "left hand",
                                         "count": 50})
    assert r.status_code == 200, r.fhir
    assert "left-hand" in expansion_codes(r.fhir)
    r = client.get(EXPAND, query_string={"url": ALL_CODES_URL, "filter": "facet joint"})
    assert r.status_code == 200, r.fhir
    assert "64636" in expansion_codes(r.fhir)


def test_use_display_designations_and_abstract_survive_storage(fhir_client):
    r = fhir_client.get(LOOKUP, query_string={"system": BODY_SITE, "code": "upper-limb"})
    designations = [p for p in r.fhir["parameter"] if p["name"] == "designation"]
    uses = [part["valueCoding"] for d in designations for part in d["part"]
            if part["name"] == "use"]
    assert {"system": "http://snomed.info/sct", "code": "900000000000013009",
            "display": "Synonym"} in uses
    limb = param_dict(fhir_client.get(LOOKUP, query_string={"system": BODY_SITE,
                                                            "code": "limb"}).fhir)
    assert limb["abstract"] == [True]


def code_system(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "CodeSystem", "id": "styled", "url": "http://example.org/cs/styled",
            "version": "1", "status": "active", "content": "complete",
            "concept": [{"code": "Bold", "display": "Bold text", "extension": [
                {"url": RENDERING_STYLE, "valueString": "font-weight:bold"}]},
                {"code": "plain", "display": "Plain text"}], **extra}


def write(path: Path, resource: dict[str, Any]) -> Path:
    path.write_bytes(orjson.dumps(resource))
    return path


def test_concept_extensions_and_case_sensitivity_as_from_memory(tmp_path):
    db = tmp_path / "tx.db"
    fhir_loader.import_paths(Store(db), [write(tmp_path / "cs.json", code_system())])
    client = client_for(db)
    # no caseSensitive: codes match whatever their case, as MemoryProvider answers
    r = client.get(LOOKUP, query_string={"system": "http://example.org/cs/styled",
                                         "code": "bold"})
    assert r.status_code == 200, r.fhir
    assert param_dict(r.fhir)["code"] == ["Bold"]
    r = client.get(EXPAND, query_string={"url": "http://example.org/cs/styled?fhir_vs"})
    assert expansion_items(r.fhir)["Bold"]["extension"] == [
        {"url": RENDERING_STYLE, "valueString": "font-weight:bold"}]
    fhir_loader.import_paths(Store(db), [write(tmp_path / "cs.json",
                                               code_system(caseSensitive=True))])
    r = client_for(db).get(LOOKUP, query_string={"system": "http://example.org/cs/styled",
                                                 "code": "bold"})
    assert r.status_code == 404, r.fhir


def test_code_system_read_gives_the_concepts_as_loaded(fhir_client):
    r = fhir_client.get("/fhir/CodeSystem/body-site", query_string={"_summary": "false"})
    assert r.fhir["concept"] == fhir_fixture("codesystem-body-site.json")["concept"]


def test_a_store_with_code_systems_held_in_memory_is_migrated(tmp_path):
    """Stores from before: the CodeSystem resource with its concepts, provider 'memory', and
    concept rows without `abstract` and `extensions`."""
    db = tmp_path / "tx.db"
    Store(db).create()
    resource = fhir_fixture("codesystem-body-site.json")
    con = sqlite3.connect(db)
    for column in ("abstract", "extensions"):  # their concept table had neither column
        con.execute(f"ALTER TABLE concept DROP COLUMN {column}")
    con.execute("INSERT INTO code_system (url, version, resource_id, provider, resource, "
                "imported_at) VALUES (?, ?, ?, 'memory', ?, '2025-01-01T00:00:00Z')",
                (BODY_SITE, "1.0.0", "body-site", orjson.dumps(resource)))
    con.commit()
    con.close()
    client = client_for(db)  # create_app opens the store: the migration runs
    assert rows(db, "SELECT provider, concept_count FROM code_system") == [("fhir", 10)]
    r = client.get(EXPAND, query_string={"url": BODY_SITE + "?fhir_vs", "filter": "foot"})
    assert r.status_code == 200, r.fhir
    assert expansion_codes(r.fhir) == ["left-foot", "right-foot"]
