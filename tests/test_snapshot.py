"""A request sees one store generation from start to end, and cached answers are keyed by it.

A re-import deletes a version's rows and writes new ones (new row ids). Before the snapshot, a
registry kept the previous providers (and their row ids) for up to its one-second refresh
interval: just after an import `$lookup` answered 404, `$validate-code` false, `$expand` 0, and
the answer cache kept serving what it had computed from the previous generation.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from codesystems.cpt import loader
from conftest import CPT, EXPAND, LOOKUP, VALIDATE, FhirClient, changed_2025, param_dict
from server import create_app
from terminology.model import LookupRequest
from terminology.operations.lookup import lookup
from terminology.provider import Registry
from terminology.store import Store


@pytest.fixture
def cpt_store(db_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tx.db"
    shutil.copy(db_path, path)
    return path


def display(client: FhirClient, code: str, **query: str) -> str:
    r = client.get(LOOKUP, query_string={"system": CPT, "code": code, "version": "2025", **query})
    assert r.status_code == 200, r.fhir
    return param_dict(r.fhir)["display"][0]


def display_2025(registry: Registry, code: str) -> str:
    """The display of a CPT 2025 code, from the operation itself (no HTTP, no answer cache)."""
    return lookup(registry, LookupRequest(code=code, system=CPT, version="2025")).concept.display


def test_answers_right_after_a_reimport(cpt_store):
    client = FhirClient(create_app({"DB": str(cpt_store)}).test_client())
    display(client, "99202")  # the registry is built, the answer cached
    loader.import_release(Store(cpt_store), loader.sample_folder("2025"), "2025")

    # straight after the import, within the old refresh interval, with queries not yet cached
    assert display(client, "99202", property="status")
    valid = client.get(VALIDATE, query_string={"url": CPT, "code": "99202", "version": "2025"})
    assert param_dict(valid.fhir)["result"] == [True]
    expanded = client.get(EXPAND, query_string={"url": f"{CPT}?fhir_vs", "filter": "visit",
                                                "system-version": f"{CPT}|2025"})
    assert expanded.status_code == 200, expanded.fhir
    assert expanded.fhir["expansion"]["total"] > 0


def test_cached_answer_of_the_previous_generation_is_not_served(cpt_store, tmp_path):
    client = FhirClient(create_app({"DB": str(cpt_store)}).test_client())
    before = display(client, "99252")
    assert display(client, "99252") == before  # now from the cache
    loader.import_release(Store(cpt_store), changed_2025(tmp_path), "2025")
    assert display(client, "99252").startswith("CHANGED ")


def test_a_reader_sees_the_old_generation_or_the_new_never_a_mix(cpt_store, tmp_path):
    """A request pinned before an import commits keeps reading the data it started with; the
    next one reads the new data."""
    app = create_app({"DB": str(cpt_store)})
    registry = app.extensions["registry"]
    folder = changed_2025(tmp_path)
    committed = threading.Event()

    def reimport() -> None:
        loader.import_release(Store(cpt_store), folder, "2025")

    def generation() -> int:
        probe = Store(cpt_store)
        try:
            return probe.generation()
        finally:
            probe.close()

    start = generation()
    with registry.snapshot():
        old = display_2025(registry, "99252")
        writer = threading.Thread(target=reimport)
        writer.start()
        for _ in range(400):  # the import commits (its WAL checkpoint then waits for us)
            if generation() > start:
                committed.set()
                break
            writer.join(0.05)
        assert committed.is_set(), "the import did not commit"
        assert display_2025(registry, "99252") == old and not old.startswith("CHANGED ")
        assert display_2025(registry, "99202")  # no 404 from row ids the import removed
        assert registry.generation == start
    writer.join()
    with registry.snapshot():
        assert display_2025(registry, "99252").startswith("CHANGED ")
        assert registry.generation > start
