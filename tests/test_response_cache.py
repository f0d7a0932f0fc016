"""The GET response cache answers repeats from memory, and never serves a stale answer."""

from __future__ import annotations

import tracemalloc

from codesystems.cpt import loader
from conftest import changed_2025
from server import create_app
from terminology.store import Store
from terminology.web.cache import ResponseCache

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
    assert len(cache) == 1
    assert client.get("/fhir/CodeSystem/$lookup", query_string=query).data == first.data
    # a new import of the same year with another descriptor must be seen, not the cached answer
    loader.import_release(store, changed_2025(tmp_path), "2025")
    again = client.get("/fhir/CodeSystem/$lookup", query_string=query)
    assert _display(again).startswith("CHANGED ")
    assert _display(first) != _display(again)


def test_refusals_from_the_request_are_kept_and_accept_is_still_checked(tmp_path):
    """A 404 follows from the request alone: asking again is served from the cache."""
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    app = create_app({"DB": str(db)})
    client = app.test_client()
    query = {"system": CPT, "code": "00000"}
    first = client.get("/fhir/CodeSystem/$lookup", query_string=query)
    assert first.status_code == 404 and len(app.extensions["response_cache"]) == 1
    again = client.get("/fhir/CodeSystem/$lookup", query_string=query)
    assert again.status_code == 404 and again.data == first.data
    assert again.content_type.startswith("application/fhir+json")
    ok = {"system": CPT, "code": "99202"}
    assert client.get("/fhir/CodeSystem/$lookup", query_string=ok).status_code == 200
    xml = client.get("/fhir/CodeSystem/$lookup", query_string=ok,
                     headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 406


def test_a_spent_time_budget_is_not_kept(tmp_path):
    """Over budget depends on the load, not the request: the next try computes again."""
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    app = create_app({"DB": str(db), "TIME_BUDGET": 1e-9})
    client = app.test_client()
    response = client.get("/fhir/ValueSet/$expand",
                          query_string={"url": "http://www.ama-assn.org/go/cpt?fhir_vs"})
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["extension"][0]["valueString"] == "TX_TIME_BUDGET"
    assert len(app.extensions["response_cache"]) == 0


def test_cache_can_be_turned_off(tmp_path):
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    app = create_app({"DB": str(db), "CACHE_BYTES": 0})
    client = app.test_client()
    client.get("/fhir/CodeSystem/$lookup", query_string={"system": CPT, "code": "99202"})
    assert len(app.extensions["response_cache"]) == 0


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


def test_the_cache_is_bounded_by_bytes_and_drops_the_least_recent():
    cache = ResponseCache(max_bytes=10_000, max_answer_bytes=3_000)
    for i in range(40):
        cache.put(("q", i), bytes(1_000))
        assert cache.bytes <= 10_000
    assert 5 <= len(cache) < 10  # each entry also counts its key and bookkeeping
    assert cache.get(("q", 39)) is not None and cache.get(("q", 0)) is None
    cache.put(("big",), bytes(3_001))  # over the per-answer limit: not kept, nothing evicted
    assert cache.get(("big",)) is None and cache.get(("q", 39)) is not None
    cache.put(("q", 39), bytes(2_000))  # a replaced answer is counted once
    assert cache.bytes <= 10_000 and cache.get(("q", 39)) == bytes(2_000)


def test_app_cache_stays_within_tx_cache_bytes(tmp_path, monkeypatch):
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    monkeypatch.setenv("TX_CACHE_BYTES", "20000")
    monkeypatch.setenv("TX_CACHE_ANSWER_BYTES", "8000")
    app = create_app({"DB": str(db)})
    client = app.test_client()
    cache = app.extensions["response_cache"]
    codes = [c["code"] for c in client.get("/fhir/ValueSet/$expand", query_string={
        "url": f"{CPT}?fhir_vs", "count": 60}).get_json()["expansion"]["contains"]]
    for code in codes:
        assert client.get("/fhir/CodeSystem/$lookup",
                          query_string={"system": CPT, "code": code}).status_code == 200
        assert cache.bytes <= 20_000
    assert 0 < len(cache) < len(codes)
    # an answer over the per-answer limit is served, and not kept
    big = client.get("/fhir/ValueSet/$expand", query_string={"url": f"{CPT}?fhir_vs",
                                                             "count": 200})
    assert big.status_code == 200 and len(big.data) > 8_000
    assert all(len(body) <= 8_000 for body in cache.bodies())


def test_the_cache_holds_no_more_memory_than_it_counts(tmp_path, monkeypatch):
    """orjson's answers keep the buffer they were written into (8 KiB for a short answer): a
    kept answer is a copy of its own length, so the bound is the memory the cache holds."""
    monkeypatch.setenv("TX_ACCESS_LOG", "off")  # pytest would keep every line it logs
    db = tmp_path / "tx.db"
    loader.import_release(Store(db), loader.sample_folder("2026"), "2026")
    app = create_app({"DB": str(db)})
    client = app.test_client()
    cache = app.extensions["response_cache"]
    codes = [c["code"] for c in client.post("/fhir/ValueSet/$expand", json={
        "resourceType": "Parameters", "parameter": [
            {"name": "url", "valueUri": f"{CPT}?fhir_vs"},
            {"name": "count", "valueInteger": 60}]}).get_json()["expansion"]["contains"]]
    for code in codes:  # the concepts read and kept first, by a request never kept
        assert client.post("/fhir/CodeSystem/$validate-code", json={
            "resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": CPT},
                                                        {"name": "code", "valueCode": code}]
        }).status_code == 200
    tracemalloc.start()
    try:
        before, counted = tracemalloc.take_snapshot(), cache.bytes
        for code in codes:
            assert client.get("/fhir/CodeSystem/$lookup",
                              query_string={"system": CPT, "code": code}).status_code == 200
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(cache) == len(codes)
    assert held <= 1.5 * (cache.bytes - counted), (held, cache.bytes - counted)
