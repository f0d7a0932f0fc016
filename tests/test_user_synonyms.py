"""Users extend the search's synonyms: with a CodeSystem supplement whose designations are
their lay terms (the FHIR way: `txserver import fhir`), or with their own synonym files
(TX_SYNONYMS)."""

from __future__ import annotations

import json

from codesystems.fhir_json import loader as fhir_loader
from conftest import CPT, build_store, client_for, expansion_codes

ALL_CODES = "urn:txserver:ValueSet/all-codes"


def _found(client, text: str) -> list[str]:
    body = client.get("/fhir/ValueSet/$expand", query_string={
        "url": ALL_CODES, "filter": text, "count": 5}).fhir
    return expansion_codes(body)


def test_a_supplements_designations_are_searchable(tmp_path):
    store = build_store(tmp_path / "tx.db")
    client = client_for(store.path)
    assert "64636" not in _found(client, "zap the facet nerve")
    supplement = {"resourceType": "CodeSystem", "id": "my-lay-terms",
                  "url": "http://example.org/CodeSystem/my-lay-terms", "status": "active",
                  "content": "supplement", "supplements": CPT,
                  "concept": [{"code": "64636", "designation": [
                      {"language": "en", "value": "zap the facet nerve"}]}]}
    path = tmp_path / "supplement.json"
    path.write_text(json.dumps(supplement))
    fhir_loader.import_paths(store, [path])
    assert _found(client, "zap the facet nerve")[:1] == ["64636"]


def test_a_users_synonym_file_is_read_beside_ours(tmp_path, monkeypatch):
    table = tmp_path / "mine.tsv"
    table.write_text("# ours\nfacet zapping\tdestruction paravertebral facet\n",
                     encoding="utf-8")
    monkeypatch.setenv("TX_SYNONYMS", str(table))
    client = client_for(build_store(tmp_path / "tx.db").path)
    assert "64636" in _found(client, "facet zapping")
