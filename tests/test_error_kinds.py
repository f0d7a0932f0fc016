"""Errors are recognised by their type and code, never by the words of their message.

A message is for people and changes with a library's release; a decision taken on its words
(is this an interrupted search? an unknown resource type?) goes wrong when another error
happens to share a word, or when the library rewords it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from codesystems.fhir_json import loader as fhir_loader
from conftest import FhirClient
from terminology.errors import ImportFailed, TooCostly
from terminology.model import Concept
from terminology.store import DuplicateCode, Store
from terminology.store.search import _time_limit


def test_an_error_that_mentions_interrupt_is_not_a_slow_search(tmp_path):
    con = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.OperationalError), _time_limit(con, 5.0, "x"):
        con.execute("SELECT * FROM interrupted_searches")  # "no such table: interrupted_..."


def test_a_search_over_its_time_is_too_costly(tmp_path, monkeypatch):
    monkeypatch.setattr("terminology.store.search.TIME_CHECK_STEPS", 1)
    con = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(TooCostly), _time_limit(con, 0.0, "x"):
        con.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i < 10000000) SELECT count(*) FROM n").fetchone()


def test_a_duplicate_code_is_its_own_error_naming_the_code(tmp_path):
    store = Store(tmp_path / "tx.db")
    twice = [Concept(code="a", display="A"), Concept(code="a", display="again")]
    with pytest.raises(DuplicateCode, match="'a'") as raised, store.transaction() as tx:
        tx.replace_code_system(url="http://example.org/cs", version="1", resource_id="cs",
                               resource={"resourceType": "CodeSystem"}, concepts=twice)
    assert raised.value.code == "a"
    assert isinstance(raised.value, ValueError)  # importers catch it as a defect of the file


def test_an_invalid_fhir_resource_is_reported_by_element(tmp_path):
    resource = {"resourceType": "CodeSystem", "url": "http://example.org/cs", "status": "active",
                "content": "complete", "count": "many",
                "concept": [{"code": "a", "designation": [{"language": "en"}]}]}
    path = tmp_path / "cs.json"
    path.write_text(json.dumps(resource), encoding="utf-8")
    with pytest.raises(ImportFailed) as failure:
        fhir_loader.import_paths(Store(tmp_path / "tx.db"), [path])
    message = failure.value.message
    assert "cs.json: CodeSystem is not valid FHIR" in message
    assert "CodeSystem.count: " in message
    assert "CodeSystem.concept[0].designation[0].value: " in message


@pytest.mark.parametrize(("kind", "shown"), [("Nonsense", "'Nonsense'"), (5, "5")])
def test_a_contained_resource_of_no_known_type_is_named_where_it_is(client: FhirClient, kind,
                                                                    shown):
    order = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
             "subject": {"reference": "Patient/p1"},
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99202"}]},
             "contained": [{"resourceType": kind, "id": "x"}]}
    r = client.post("/fhir/ServiceRequest/$validate", json=order)
    assert r.status_code == 400, r.fhir
    [issue] = r.fhir["issue"]
    assert issue["expression"] == ["ServiceRequest.contained[0].resourceType"]
    assert issue["details"]["text"].endswith(f"{shown} is not a FHIR R4 resource type")


def test_unknown_code_system_is_reported_once_per_system_and_version(client: FhirClient):
    """The issues of one coding are de-duplicated by what they are about (message id and
    canonical), not by comparing their texts."""
    from conftest import VALIDATE, issues_of, message_ids

    r = client.get(VALIDATE, query_string={"url": "http://example.org/none", "code": "x",
                                            "version": "1"})
    ids = [m for i in issues_of(r.fhir) for m in message_ids(i)]
    assert ids.count("UNKNOWN_CODESYSTEM_VERSION_NONE") + ids.count("UNKNOWN_CODESYSTEM") == 1
