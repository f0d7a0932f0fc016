"""What a worker keeps of the catalog is small, and every read still gives the whole resource:
stored value sets are kept as summaries and read when used; code systems are kept without
their narratives, which a CodeSystem read gives back as stored."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from codesystems.fhir_json import loader as fhir_loader
from server import create_app, serving_app
from terminology.store import Store, provider

NARRATED = {
    "resourceType": "CodeSystem", "id": "narrated", "url": "http://example.org/cs/narrated",
    "version": "1", "name": "Narrated", "status": "active",
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">A long "
             "narrative of the code system</div>"},
    "content": "complete", "concept": [{"code": "a", "display": "Alpha"}],
}
VALUE_SET = {
    "resourceType": "ValueSet", "id": "narrated-all", "url": "http://example.org/vs/narrated",
    "version": "1", "name": "NarratedAll", "status": "draft",
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">All "
             "of it</div>"},
    "compose": {"include": [{"system": "http://example.org/cs/narrated"}]},
}


def _app(tmp_path: Path):  # type: ignore[no-untyped-def]
    for name, resource in (("cs.json", NARRATED), ("vs.json", VALUE_SET)):
        (tmp_path / name).write_text(json.dumps(resource))
    store = Store(tmp_path / "tx.db")
    store.create()
    fhir_loader.import_paths(store, [tmp_path / "cs.json", tmp_path / "vs.json"])
    return create_app({"DB": str(tmp_path / "tx.db"), "CACHE_BYTES": 0})


def test_a_code_system_read_gives_its_narrative_in_place(tmp_path: Path) -> None:
    app = _app(tmp_path)
    provider = app.extensions["registry"].resolve("http://example.org/cs/narrated")
    assert "text" not in provider.info.resource  # not held by the catalog
    body = app.test_client().get("/fhir/CodeSystem/narrated").get_json()
    assert body["text"] == NARRATED["text"]
    assert list(body)[:7] == ["resourceType", "id", "url", "version", "name", "status", "text"]
    listed = app.test_client().get("/fhir/CodeSystem?url=http://example.org/cs/narrated")
    assert listed.get_json()["entry"][0]["resource"]["text"] == NARRATED["text"]


def test_a_code_system_search_reads_only_the_page_s_narratives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search is matched on what the catalog holds: only the resources on the page are read
    from the store (each search read all 897 of a package's, 9 MB of JSON, 7-10 MB of memory
    a request)."""
    other = dict(NARRATED, id="other", url="http://example.org/cs/other", name="Other")
    (tmp_path / "other.json").write_text(json.dumps(other))
    app = _app(tmp_path)
    fhir_loader.import_paths(app.extensions["store"], [tmp_path / "other.json"])
    read: list[int] = []
    original = Store.code_system_resource
    monkeypatch.setattr(Store, "code_system_resource",
                        lambda self, cs_id: read.append(cs_id) or original(self, cs_id))
    provider.SqlProvider._resources.clear()
    client = app.test_client()
    found = client.get("/fhir/CodeSystem?name=oth").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["other"]
    assert found["entry"][0]["resource"]["text"] == NARRATED["text"]
    assert len(read) == 1
    paged = client.get("/fhir/CodeSystem?_count=1").get_json()
    assert paged["total"] == 2 and len(paged["entry"]) == 1 and len(read) <= 2
    assert client.get("/fhir/CodeSystem?_summary=count").get_json()["total"] == paged["total"]
    assert len(read) <= 2


def test_value_sets_are_summaries_until_used(tmp_path: Path) -> None:
    app = _app(tmp_path)
    registry = app.extensions["registry"]
    with registry.snapshot():
        info = next(i for i in registry.value_set_infos()
                    if i.summary.get("id") == "narrated-all")
    assert info.resource is None and info.summary == {
        "url": "http://example.org/vs/narrated", "version": "1", "id": "narrated-all",
        "name": "NarratedAll", "status": "draft"}
    client = app.test_client()
    read = client.get("/fhir/ValueSet/narrated-all").get_json()
    assert read["text"] == VALUE_SET["text"] and read["compose"] == VALUE_SET["compose"]
    found = client.get("/fhir/ValueSet?status=draft&name=Narr").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["narrated-all"]
    assert client.get("/fhir/ValueSet?status=active&url=http://example.org/vs/narrated"
                      ).get_json()["total"] == 0
    expanded = client.get("/fhir/ValueSet/narrated-all/$expand").get_json()
    assert [c["code"] for c in expanded["expansion"]["contains"]] == ["a"]
    by_url = client.get("/fhir/ValueSet/$expand?url=http://example.org/vs/narrated|1").get_json()
    assert [c["code"] for c in by_url["expansion"]["contains"]] == ["a"]


def test_an_import_leaves_each_search_index_in_one_segment(tmp_path: Path) -> None:
    """Every batch an import writes adds a segment to the FTS5 indexes, and a search looks
    each word up in every segment: the import merges them before it commits."""
    _app(tmp_path)
    store = Store(tmp_path / "tx.db")
    more = dict(NARRATED, id="other", url="http://example.org/cs/other",
                concept=[{"code": f"c{i}", "display": f"Concept number {i}"} for i in range(50)])
    (tmp_path / "more.json").write_text(json.dumps(more))
    fhir_loader.import_paths(store, [tmp_path / "more.json"])
    con = store._reader()
    for index in ("concept_search_idx", "concept_core_idx"):
        assert con.execute(f"SELECT count(DISTINCT segid) FROM {index}").fetchone()[0] == 1
    app = create_app({"DB": str(tmp_path / "tx.db"), "CACHE_BYTES": 0})
    found = app.test_client().get("/fhir/ValueSet/$expand?url=http://example.org/cs/other"
                                  "?fhir_vs&filter=number 7&count=5").get_json()
    assert [c["code"] for c in found["expansion"]["contains"]] == ["c7"]


def test_malloc_arenas_are_limited_and_trimmed_where_glibc_allows() -> None:
    import platform

    from terminology import heap

    assert heap.limit_malloc_arenas(0) is False  # TX_MALLOC_ARENAS=0: glibc's default
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert heap.limit_malloc_arenas(2) is True
        assert heap.release_freed_memory() is True  # what settle_heap does last


def test_a_serving_worker_keeps_what_it_built_at_start_out_of_full_collections(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full collection walks every tracked object while the worker's threads wait: the
    catalog and the rest of a worker's start are frozen once built (serving.settle_heap)."""
    _app(tmp_path)  # the store
    monkeypatch.setenv("TX_DB", str(tmp_path / "tx.db"))
    try:
        app = serving_app()
        registry = app.extensions["registry"]
        assert gc.get_freeze_count() > 1000
        assert not any(tracked is registry for tracked in gc.get_objects())
        assert app.test_client().get("/fhir/CodeSystem/narrated").status_code == 200
    finally:
        gc.unfreeze()  # the rest of the test session collects as before


def test_concepts_read_from_every_code_system_share_one_bound(tmp_path: Path) -> None:
    """What providers keep of the store is bounded for the process, not per code system (a
    package loads hundreds of them)."""
    other = dict(NARRATED, id="other", url="http://example.org/cs/other",
                 concept=[{"code": "b", "display": "Beta"}])
    (tmp_path / "other.json").write_text(json.dumps(other))
    app = _app(tmp_path)
    fhir_loader.import_paths(app.extensions["store"], [tmp_path / "other.json"])
    kept = provider._kept_concept
    kept.cache_clear()
    client = app.test_client()
    for url, code in (("http://example.org/cs/narrated", "a"), ("http://example.org/cs/other", "b")):
        answer = client.get(f"/fhir/CodeSystem/$lookup?system={url}&code={code}")
        assert answer.status_code == 200, answer.get_json()
    assert kept.cache_info().currsize == 2
    assert kept.cache_info().maxsize == provider.CONCEPTS_KEPT


def test_a_value_set_read_by_id_is_the_first_listed_with_that_id(tmp_path: Path) -> None:
    """Reads by id are answered from the catalog's index of ids (a search through 2,500 value
    sets took 0.6 ms per request): the same value set the listing finds first."""
    (tmp_path / "vs2.json").write_text(json.dumps({**VALUE_SET, "id": "narrated-2",
                                                   "version": "2"}))
    app = _app(tmp_path)
    fhir_loader.import_paths(Store(tmp_path / "tx.db"), [tmp_path / "vs2.json"])
    registry = app.extensions["registry"]
    web = app.test_client()
    with registry.snapshot():
        listed = registry.value_set_infos()
        for info in listed:
            first = next(i for i in listed if i.summary.get("id") == info.summary.get("id"))
            found = registry.value_set_by_id(info.summary["id"])
            assert found is not None and found.get("url") == first.summary.get("url")
            assert found.get("version") == first.summary.get("version")
    assert web.get("/fhir/ValueSet/narrated-all").get_json()["version"] == "1"
    assert web.get("/fhir/ValueSet/narrated-2").get_json()["version"] == "2"
    assert web.get("/fhir/ValueSet/all-codes").get_json()["url"].endswith("all-codes")
    assert web.get("/fhir/ValueSet/None").status_code == 404


def test_a_worker_imports_neither_requests_nor_the_models_until_it_needs_them(
        tmp_path: Path) -> None:
    """requests (6 MB) is for downloading packages, fhir.resources and pydantic (23 MB) for
    checking a resource's structure: a worker answering lookups loads neither."""
    _app(tmp_path)  # the store
    script = ("import sys, server; app = server.create_app({'DB': sys.argv[1]}); "
              "app.test_client().get('/fhir/CodeSystem/$lookup?system=http://example.org/cs/"
              "narrated&code=a'); print(sorted({'requests', 'pydantic', 'fhir.resources'} & "
              "set(sys.modules)))")
    assert _fresh_python(script, str(tmp_path / "tx.db")).splitlines()[-1] == "[]"


def _fresh_python(script: str, *args: str) -> str:
    """What `script` prints in a new interpreter (what a worker imports, unlike this one's)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=120, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    return done.stdout.strip()


def test_a_new_generation_s_catalog_gives_back_what_its_build_freed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a catalog reads every code system's resource and drops most of it: once built,
    malloc's freed memory is given back, for each new generation (an import while serving, a
    replica's next snapshot), not only at start."""
    from terminology import heap

    app = _app(tmp_path)
    client = app.test_client()
    trims: list[int] = []
    monkeypatch.setattr(heap, "release_freed_memory", lambda: trims.append(1) or True)
    assert client.get("/fhir/CodeSystem/narrated").status_code == 200
    assert trims == []  # the catalog of this generation was built already
    other = dict(NARRATED, id="other", url="http://example.org/cs/other")
    (tmp_path / "other.json").write_text(json.dumps(other))
    fhir_loader.import_paths(app.extensions["store"], [tmp_path / "other.json"])
    assert client.get("/fhir/CodeSystem/other").status_code == 200
    assert trims == [1]


def test_a_resource_r4_reads_is_checked_without_the_r5_models() -> None:
    """An inline code system with an element R4 lacks (versionAlgorithmString, R5's) has no
    shape problem for R4's models: R5's (7 MB more) are not loaded to check it again; one
    whose shape R4 rejects is checked by R5's."""
    script = (
        "import sys; from terminology.fhir import structure\n"
        "cs = {'resourceType': 'CodeSystem', 'url': 'http://example.org/cs', 'status': "
        "'active', 'content': 'complete', 'versionAlgorithmString': 'semver'}\n"
        "print(structure.problem(cs), 'fhir.resources.codesystem' in sys.modules)\n"
        "print(structure.problem({**cs, 'concept': [{'code': 1}]}) is not None, "
        "'fhir.resources.codesystem' in sys.modules)\n")
    assert _fresh_python(script).split() == ["None", "False", "True", "True"]
