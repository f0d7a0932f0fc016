"""The GET response cache answers repeats from memory, and never serves a stale answer."""

from __future__ import annotations

import shutil

from codesystems.cpt import loader
from server import create_app
from terminology.store import Store

CPT = "http://www.ama-assn.org/go/cpt"


def _display(response) -> str:
    return next(p["valueString"] for p in response.get_json()["parameter"] if p["name"] == "display")


def test_repeat_is_served_from_cache_and_import_invalidates(tmp_path):
    db = tmp_path / "tx.db"
    store = Store(db)
    loader.import_release(store, loader.sample_folder("2025"), "2025")
    app = create_app({"DB": str(db)})
    client = app.test_client()
    query = {"system": CPT, "code": "99252", "version": "2025"}
    first = client.get("/fhir/CodeSystem/$lookup", query_string=query)
    cache = app.extensions["response_cache"]
    assert len(cache._items) == 1
    assert client.get("/fhir/CodeSystem/$lookup", query_string=query).data == first.data
    # a new import of the same year with another descriptor must be seen, not the cached answer
    folder = tmp_path / "2025"
    shutil.copytree(loader.sample_folder("2025"), folder)
    longult = folder / "LONGULT.txt"
    longult.write_bytes(longult.read_bytes().replace(b"\n99252\t", b"\n99252\tCHANGED ", 1))
    loader.import_release(store, folder, "2025")
    again = client.get("/fhir/CodeSystem/$lookup", query_string=query)
    assert _display(again).startswith("CHANGED ")
    assert _display(first) != _display(again)


def test_errors_are_not_cached_and_accept_is_still_checked(tmp_path):
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    app = create_app({"DB": str(db)})
    client = app.test_client()
    query = {"system": CPT, "code": "00000"}
    assert client.get("/fhir/CodeSystem/$lookup", query_string=query).status_code == 404
    assert len(app.extensions["response_cache"]._items) == 0
    ok = {"system": CPT, "code": "99202"}
    assert client.get("/fhir/CodeSystem/$lookup", query_string=ok).status_code == 200
    xml = client.get("/fhir/CodeSystem/$lookup", query_string=ok,
                     headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 406


def test_cache_can_be_turned_off(tmp_path):
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    app = create_app({"DB": str(db), "RESPONSE_CACHE": 0})
    client = app.test_client()
    client.get("/fhir/CodeSystem/$lookup", query_string={"system": CPT, "code": "99202"})
    assert len(app.extensions["response_cache"]._items) == 0


def test_repeated_search_is_the_same_expansion(tmp_path):
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    app = create_app({"DB": str(db)})
    client = app.test_client()
    query = {"filter": "facet joint", "count": 2}
    first = client.get("/fhir/ValueSet/all-codes/$expand", query_string=query).get_json()
    again = client.get("/fhir/ValueSet/all-codes/$expand", query_string=query).get_json()
    assert first["expansion"]["identifier"] == again["expansion"]["identifier"]
    other = client.get("/fhir/ValueSet/all-codes/$expand",
                       query_string={**query, "offset": 2}).get_json()
    assert other["expansion"]["identifier"] != first["expansion"]["identifier"]
    assert [c["code"] for c in first["expansion"]["contains"]] != [
        c["code"] for c in other["expansion"]["contains"]]
