"""Ranked text search (SQLite FTS5) and the stored hierarchy: a typed code first, then the matches
of every word in the ranking's order; the index's order and counts, kept in step with re-imports
and rebuilt from older layouts; pages that agree; the time limit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import server
from codesets import (  # noqa: F401 (codeset_db_fixture: a fixture)
    HCPCS,
    ICD,
    ICD_FOLDER,
    PCS,
    build_codeset_store,
    codeset_db_fixture,
)
from codesystems.fhir_json import loader as fhir_loader
from codesystems.icd10cm import loader as icd_loader
from conftest import CPT
from terminology.errors import TooCostly
from terminology.provider import Registry
from terminology.store import Store, search
from terminology.textsearch import ranking
from terminology.textsearch.words import WORD, words


@pytest.fixture(scope="module")
def registry(codeset_db: Path) -> Registry:
    return server.create_app({"DB": str(codeset_db)}).extensions["registry"]


def codes(registry: Registry, url: str, text: str, limit: int = 20) -> list[str]:
    return registry.resolve(url).search(text, limit)


def test_a_typed_code_comes_first(registry):
    assert codes(registry, ICD, "E11.9")[0] == "E11.9"
    assert codes(registry, ICD, "e119")[0] == "E11.9"  # without the dot, any case
    found = codes(registry, ICD, "E11")  # then the codes it starts
    assert found[0] == "E11" and set(found) == {"E11", "E11.6", "E11.64", "E11.641",
                                                 "E11.649", "E11.65", "E11.9"}
    assert codes(registry, CPT, "64636")[0] == "64636"
    assert codes(registry, PCS, "0dtj4zz") == ["0DTJ4ZZ"]
    assert codes(registry, HCPCS, "lt")[0] == "LT"


def test_every_word_must_match_as_a_word_or_its_start(registry):
    found = codes(registry, ICD, "diab hypogly")
    assert set(found) == {"E11.64", "E11.641", "E11.649"}
    assert codes(registry, ICD, "diabetes nonexistentword") == []
    assert codes(registry, ICD, "Fracture of the femur")[0] == "S72"  # stop words left out
    assert codes(registry, ICD, "  ") == [] and codes(registry, ICD, "...") == []


def test_ranking_prefers_short_close_matches(registry):
    found = codes(registry, ICD, "type 2 diabetes")
    # the Alphabetic Index's "Diabetes, diabetic (mellitus) (sugar), type 2" says the words best;
    # then the category whose display is the words and little more
    assert found[:2] == ["E11.9", "E11"]
    assert found.index("E11.9") < found.index("E11.641")
    assert codes(registry, ICD, "cholera")[0] == "A00"


def test_designations_are_searched(registry):
    assert "0DTJ4ZZ" in codes(registry, PCS, "perc endo appendix")  # the short description
    assert codes(registry, HCPCS, "cpap") == ["E0601"]


def test_limit_and_one_search_across_code_systems(registry):
    assert len(codes(registry, ICD, "fracture", limit=3)) == 3
    hits = registry.search("fracture", limit=50)
    assert {p.canonical.url for p, _ in hits} == {ICD}
    hits = registry.search("right", limit=50)
    assert {p.canonical.url for p, _ in hits} >= {ICD, PCS, HCPCS}
    # only the default version of each system: no CPT code twice (2025 and 2026)
    cpt = [code for p, code in registry.search("nerve", limit=100) if p.canonical.url == CPT]
    assert cpt and len(cpt) == len(set(cpt))


def test_time_limit_answers_too_costly(codeset_db, monkeypatch):
    monkeypatch.setattr("terminology.store.search.TIME_CHECK_STEPS", 1)
    store = Store(codeset_db)
    with pytest.raises(TooCostly):
        store.search("fracture", None, None, seconds=-1)
    assert store.search("fracture", None, 1)  # the connection is fine afterwards


def test_hierarchy_of_the_store(codeset_db, registry):
    provider = registry.resolve(ICD)
    assert provider.parents("E11.641") == ["E11.64"]
    assert provider.children("S72.0") == ["S72.00"]
    assert provider.descendants("S72.00") == ["S72.001", "S72.001A", "S72.001B", "S72.001D",
                                              "S72.001S", "S72.002", "S72.002A", "S72.002B",
                                              "S72.002D", "S72.002S"]
    assert provider.subsumes("19", "S72.90XS") and not provider.subsumes("S72.90XS", "19")
    cpt = registry.resolve(CPT)
    assert cpt.parents("64636") == [] and cpt.children("64636") == []
    assert cpt.subsumes("64636", "64636") and not cpt.subsumes("64635", "64636")


def test_reimport_replaces_what_is_indexed(tmp_path):
    store = build_codeset_store(tmp_path / "tx.db")
    before = [h.code for h in store.search("cholera", None, None)]
    icd_loader.import_tabular(store, ICD_FOLDER)  # the same year again
    assert [h.code for h in store.search("cholera", None, None)] == before
    con = sqlite3.connect(store.path)
    con.execute("INSERT INTO concept_search (concept_search, rank) VALUES ('integrity-check', 1)")
    indexed = con.execute("SELECT count(*) FROM concept_search").fetchone()[0]
    stored = con.execute("SELECT count(*) FROM concept").fetchone()[0]
    assert indexed == stored
    con.close()


def test_a_store_from_before_the_index_is_indexed_once(tmp_path):
    store = build_codeset_store(tmp_path / "tx.db")
    con = sqlite3.connect(store.path)
    for table in ("concept_search", "concept_core"):
        con.execute(f"INSERT INTO {table} ({table}) VALUES ('delete-all')")
    con.execute("DELETE FROM meta WHERE key = 'search_index'")
    con.commit()
    con.close()
    assert Store(store.path).search("cholera", None, 5) == []
    Store(store.path).create()
    assert [h.code for h in Store(store.path).search("cholera", None, 1)] == ["A00"]


def test_a_store_with_the_first_index_layout_is_reindexed(tmp_path):
    """Version 1 of the index had no stems and no concept_core: the next start rebuilds it."""
    store = build_codeset_store(tmp_path / "tx.db")
    con = sqlite3.connect(store.path)
    con.executescript("DROP TABLE concept_search; DROP TABLE concept_core; "
                      "CREATE VIRTUAL TABLE concept_search USING fts5 (key, display, terms, "
                      "content = '', tokenize = 'unicode61 remove_diacritics 2'); "
                      "UPDATE meta SET value = '1' WHERE key = 'search_index';")
    con.close()
    Store(store.path).create()
    assert [h.code for h in Store(store.path).search("choleras", None, 1)] == ["A00"]  # stems


def test_a_store_from_before_terms_were_analysed_at_import_is_analysed_once(tmp_path):
    """The ranking reads each concept's terms as analysed at import (concept.analysed); a
    store made before the column, or analysed by other rules, is analysed again on the next
    start, in a new generation, and ranks as a fresh one does."""
    store = build_codeset_store(tmp_path / "tx.db")
    queries = ("fracture femur", "diabetes", "cholera", "without complications")
    expected = {q: [h.code for h in store.search(q, None, 30)] for q in queries}
    generation = store.generation()
    con = sqlite3.connect(store.path)
    con.execute("ALTER TABLE concept DROP COLUMN analysed")
    con.execute("DELETE FROM meta WHERE key = 'term_analysis'")
    con.commit()
    con.close()
    Store(store.path).create()
    again = Store(store.path)
    assert {q: [h.code for h in again.search(q, None, 30)] for q in queries} == expected
    assert again.generation() == generation + 1
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT count(*) FROM concept WHERE analysed IS NULL").fetchone() == (0,)
    con.execute("UPDATE concept SET analysed = '[]'")  # as if other rules had analysed them
    con.execute("UPDATE meta SET value = 'other rules' WHERE key = 'term_analysis'")
    con.commit()
    con.close()
    Store(store.path).create()
    assert {q: [h.code for h in Store(store.path).search(q, None, 30)]
            for q in queries} == expected
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT count(*) FROM concept WHERE analysed = '[]'").fetchone() == (0,)
    con.close()
    Store(store.path).create()  # once: nothing to do at the next start
    assert Store(store.path).generation() == generation + 2


def test_stored_analyses_are_the_analyses(codeset_db, monkeypatch):
    """What the ranking reads back from the store is what `analyse` gives, for every term
    of the samples; and a change to the rules changes the digest that has
    stores analysed again."""
    con = sqlite3.connect(codeset_db)
    rows = con.execute("SELECT display, designations, analysed FROM concept").fetchall()
    con.close()
    assert len(rows) > 100
    terms = [ranking.concept_terms(display, (d[3] for d in json.loads(designations)))
             for display, designations, _ in rows]
    expected = [[ranking.analyse(t) for t in texts] for texts in terms]
    with monkeypatch.context() as patch:  # read from the marks, never analysed again
        patch.setattr(ranking, "analyse", lambda text: pytest.fail(f"analysed {text!r}"))
        for texts, (_, _, analysed), analyses in zip(terms, rows, expected):
            assert ranking.decode_terms(texts, analysed) == analyses
    assert any(any(term.denied) for analyses in expected for term in analyses)
    assert ranking.decode_terms(["Non-diabetic hypoglycemia"], None) == [
        ranking.analyse("Non-diabetic hypoglycemia")]  # nothing stored: analysed
    digest = ranking.analysis_digest()
    ranking.analysis_digest.cache_clear()
    monkeypatch.setattr(ranking, "CONNECTIVES", ranking.CONNECTIVES - {"due"})
    ranking.analyse.cache_clear()
    try:
        assert ranking.analysis_digest() != digest
    finally:
        monkeypatch.undo()
        ranking.analyse.cache_clear()
        ranking.analysis_digest.cache_clear()
    assert ranking.analysis_digest() == digest


def test_words_are_the_runs_of_letters_and_digits(codeset_db):
    """words() skips the regular expression for ASCII text: the same words either way."""
    con = sqlite3.connect(codeset_db)
    texts = [t for (t,) in con.execute("SELECT display FROM concept WHERE display IS NOT NULL")]
    con.close()
    texts += ["Non-diabetic", "x_y 2_b", "A\tb\nc", "naïve café", "Straße", "ﬁle", "50%–60%",
              "µg/dL", "T-cell (CD4+) count; [ratio]", ""]
    for text in texts:
        assert words(text) == WORD.findall(text.casefold()), text
    assert words("x_y Straße") == ["x", "y", "strasse"]


def test_is_a_over_a_stored_hierarchy_lists_the_code_and_what_is_below(codeset_db):
    """An is-a include on a stored code system is read from the hierarchy (not by testing
    every concept), with the same members as the filter gives."""
    client = server.create_app({"DB": str(codeset_db)}).test_client()
    for op, first in (("is-a", "E11"), ("descendent-of", None)):
        valueset = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{
            "system": ICD, "filter": [{"property": "concept", "op": op, "value": "E11"}]}]}}
        body = client.post("/fhir/ValueSet/$expand", json={
            "resourceType": "Parameters", "parameter": [
                {"name": "valueSet", "resource": valueset}]}).get_json()
        codes = [c["code"] for c in body["expansion"]["contains"]]
        assert codes and all(c.startswith("E11") for c in codes)
        assert ("E11" in codes) == (op == "is-a")
        if first:
            assert codes[0] == first


def test_a_store_with_concept_ids_as_rowids_is_reindexed(tmp_path):
    """Version 2 of the index had the concept ids as rowids; the next start rebuilds it with
    rowids that hold the code system and the length candidates are taken in."""
    store = build_codeset_store(tmp_path / "tx.db")
    expected = [h.code for h in store.search("fracture femur", None, 30)]
    total = store.count_matches("fracture", [info.id for info in store.code_systems()])
    con = sqlite3.connect(store.path)
    con.execute("UPDATE meta SET value = '2' WHERE key = 'search_index'")
    con.execute("INSERT INTO concept_search (concept_search) VALUES ('delete-all')")
    con.execute("INSERT INTO concept_search (rowid, key, display, terms, stems) "
                "SELECT id, code, display, '', '' FROM concept")
    con.commit()
    con.close()
    Store(store.path).create()
    again = Store(store.path)
    assert [h.code for h in again.search("fracture femur", None, 30)] == expected
    assert again.count_matches("fracture", [info.id for info in again.code_systems()]) == total
    con = sqlite3.connect(store.path)
    rows = con.execute("SELECT rowid FROM concept_search").fetchall()
    by_id = dict(con.execute("SELECT id, cs_id FROM concept").fetchall())
    con.close()
    assert len(rows) == len(by_id)
    assert all(by_id[rowid & 0xFFFFFFFF] == rowid >> 44 for (rowid,) in rows)


def test_the_index_gives_the_shortest_displays_first(codeset_db):
    """Within one code system the index's own order is the display's length: the candidates
    after the short terms are read off it with a LIMIT, not sorted from every match."""
    con = sqlite3.connect(codeset_db)
    (icd,) = con.execute("SELECT id FROM code_system WHERE url = ?", (ICD,)).fetchone()
    found = con.execute(
        "SELECT length(c.display) FROM concept_search s JOIN concept c "
        "ON c.id = (s.rowid & 4294967295) WHERE concept_search MATCH 'fractur' "
        "AND s.rowid BETWEEN ? AND ? ORDER BY s.rowid", (icd << 44, ((icd + 1) << 44) - 1)
    ).fetchall()
    con.close()
    lengths = [n for (n,) in found]
    assert len(lengths) > 10 and lengths == sorted(lengths)


def test_a_code_typed_whole_is_counted_once_with_the_words(tmp_path):
    """A word the code systems use, typed alone, finds the concept with that code (whatever
    its display) and the concepts that say the word; codes that only start with it are not
    matches. The total counts each once."""
    path = tmp_path / "cs.json"
    path.write_text(json.dumps({
        "resourceType": "CodeSystem", "url": "http://example.org/cs/moves", "version": "1",
        "status": "active", "content": "complete", "concept": [
            {"code": "walk", "display": "Able to stroll"},
            {"code": "w1", "display": "Walk slowly"},
            {"code": "w2", "display": "Walking aid"},
            {"code": "walker", "display": "Frame on wheels"},
            {"code": "w3", "display": "Walk"}]}), encoding="utf-8")
    store = Store(tmp_path / "tx.db")
    fhir_loader.import_paths(store, [path])
    client = server.create_app({"DB": str(store.path), "CACHE_BYTES": 0}).test_client()
    body = client.get("/fhir/ValueSet/$expand", query_string={
        "url": "http://example.org/cs/moves?fhir_vs", "filter": "walk", "count": 10}).get_json()
    listed = [c["code"] for c in body["expansion"]["contains"]]
    assert listed[0] == "walk" and set(listed) == {"walk", "w1", "w2", "w3"}
    assert body["expansion"]["total"] == 4
    body = client.get("/fhir/ValueSet/$expand", query_string={
        "url": "http://example.org/cs/moves?fhir_vs", "filter": "w3", "count": 10}).get_json()
    assert [c["code"] for c in body["expansion"]["contains"]] == ["w3"]
    assert body["expansion"]["total"] == 1


def test_pages_of_a_broad_search_across_code_systems_agree(codeset_db, monkeypatch):
    """Every match reachable, each once, in the same order page by page: the candidates are
    the same whatever the page (a broad word over five code systems; with 5 candidates ranked
    instead of 200, so that most matches come after them, in the index's order)."""
    monkeypatch.setattr(search, "RANKED", 5)
    client = server.create_app({"DB": str(codeset_db), "CACHE_BYTES": 0}).test_client()
    query = {"url": "urn:txserver:ValueSet/all-codes", "filter": "with"}
    whole = client.get("/fhir/ValueSet/$expand", query_string={**query, "count": 1000}).get_json()
    total = whole["expansion"]["total"]
    every = [(c["system"], c["code"]) for c in whole["expansion"]["contains"]]
    assert total == len(every) == len(set(every)) and total > 30
    assert len({system for system, _ in every}) > 1
    paged = []
    for offset in range(0, total, 7):
        page = client.get("/fhir/ValueSet/$expand", query_string={
            **query, "count": 7, "offset": offset}).get_json()["expansion"]
        assert page["total"] == total
        paged += [(c["system"], c["code"]) for c in page["contains"]]
    assert paged == every


def test_a_kept_search_is_never_served_for_another_generation(tmp_path, monkeypatch):
    """The count of a broad word's matches, its ranked candidates and the concepts whose code
    is the text are kept across requests (Search._systems, _ranked, _exact), for the store
    generation they were read in: after a
    re-import of the same code system (the same version, here under the same code-system id)
    the search runs again."""
    monkeypatch.setattr(search, "RANKED", 2)  # fewer candidates than matches: counted
    path = tmp_path / "cs.json"

    def write(walks: int, amble: bool = False) -> None:
        """`amble`: with a concept whose code is a word of the others' displays, not its own"""
        path.write_text(json.dumps({
            "resourceType": "CodeSystem", "url": "http://example.org/cs/moves", "version": "1",
            "status": "active", "content": "complete", "concept": [
                {"code": f"w{n}", "display": f"Walk number {n}"} for n in range(walks)] + (
                [{"code": "number", "display": "Amble"}] if amble else [])}),
            encoding="utf-8")

    write(5)
    store = Store(tmp_path / "tx.db")
    fhir_loader.import_paths(store, [path])
    before = {info.url: info.id for info in store.code_systems()}
    client = server.create_app({"DB": str(store.path), "CACHE_BYTES": 0}).test_client()
    query = {"url": "http://example.org/cs/moves?fhir_vs", "filter": "walk"}

    def expansion(**page: int) -> dict:
        found = client.get("/fhir/ValueSet/$expand", query_string={**query, **page})
        return dict(found.get_json()["expansion"])

    def total(**page: int) -> int:
        return int(expansion(**page)["total"])

    def listed() -> set[str]:
        return {c["code"] for c in expansion(count=20)["contains"]}

    def coded(text: str) -> set[str]:
        found = client.get("/fhir/ValueSet/$expand", query_string={**query, "filter": text})
        return {c["code"] for c in found.get_json()["expansion"].get("contains", [])}

    assert total(count=3) == total(count=2, offset=2) == 5
    assert listed() == {f"w{n}" for n in range(5)}
    assert coded("number") == {f"w{n}" for n in range(5)}
    write(7, amble=True)
    fhir_loader.import_paths(store, [path])
    assert {info.url: info.id for info in store.code_systems()} == before  # the same cs_id
    assert total(count=3) == total(count=2, offset=4) == 7
    assert listed() == {f"w{n}" for n in range(7)}  # nor a kept ranking
    # nor the concepts whose code is the text (Search._exact)
    assert coded("number") == {"number", *(f"w{n}" for n in range(7))}


def test_a_search_of_all_codes_names_the_code_systems_that_matched(codeset_db):
    """All codes includes every code system loaded (hundreds with a package): its filtered
    expansion names as used-codesystem those with a match, each once, not all of them."""
    client = server.create_app({"DB": str(codeset_db), "CACHE_BYTES": 0}).test_client()
    included = [rule["system"] for rule in client.get("/fhir/ValueSet/all-codes").get_json()[
        "compose"]["include"]]
    fewer = []
    for text in ("fracture", "with", "64636"):
        body = client.get("/fhir/ValueSet/$expand", query_string={
            "url": "urn:txserver:ValueSet/all-codes", "filter": text, "count": 3}).get_json()
        used = [p["valueUri"].partition("|")[0] for p in body["expansion"]["parameter"]
                if p["name"] == "used-codesystem"]
        matched = [url for url in included if client.get("/fhir/ValueSet/$expand", query_string={
            "url": f"{url}?fhir_vs", "filter": text, "count": 0}).get_json()[
                "expansion"]["total"] > 0]
        assert used == matched and matched, text
        fewer.append(len(matched) < len(included))
        assert body["expansion"]["total"] == sum(
            client.get("/fhir/ValueSet/$expand", query_string={
                "url": f"{url}?fhir_vs", "filter": text, "count": 0}).get_json()[
                "expansion"]["total"] for url in matched)
    assert any(fewer)  # some search left code systems out


def test_all_codes_unpaged_is_refused_from_the_counts_without_listing(codeset_db, monkeypatch):
    """An expansion that would list more than the limit is refused: when one whole code system
    it includes holds more, from its count, before any concept is read (all codes with
    ICD-10-CM read 10,001 concepts, 216 ms, to say so). Below the limit it is listed."""
    from terminology.operations import expand
    from terminology.store import Store

    monkeypatch.setattr(expand, "DISPLAY_CAP", 3)  # what listing stops at, 10,000 when served
    client = server.create_app({"DB": str(codeset_db), "CACHE_BYTES": 0,
                                "EXPAND_LIMIT": 3}).test_client()
    read: list[int] = []
    listing = Store.iter_concepts
    monkeypatch.setattr(Store, "iter_concepts",
                        lambda self, *a, **k: read.append(1) or listing(self, *a, **k))
    for path in ("/fhir/ValueSet/all-codes/$expand",
                 "/fhir/ValueSet/$expand?url=urn:txserver:ValueSet/all-codes&x=1"):
        refused = client.get(path)
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["issue"][0]["code"] == "too-costly"
        assert "too many codes to display (>3)" in refused.get_json()["issue"][0]["details"][
            "text"]
    assert read == []
    wide = server.create_app({"DB": str(codeset_db), "CACHE_BYTES": 0,
                              "EXPAND_LIMIT": 10**6}).test_client()
    listed = wide.get("/fhir/ValueSet/all-codes/$expand")
    assert listed.status_code == 200 and listed.get_json()["expansion"]["total"] > 3


def test_a_search_text_longer_than_any_description_is_refused_at_once(codeset_db):
    """A display pasted whole is searched (the longest in the HL7 Terminology package has 48
    words, 259 letters); a text of more words or letters than MAX_QUERY_WORDS or
    MAX_QUERY_LENGTH is a 400 before any search: 5,000 words took 8 s of a worker correcting
    each one's spelling before the search's time limit answered, and kept 50 KB per query."""
    from terminology.textsearch.query import MAX_QUERY_LENGTH, MAX_QUERY_WORDS

    client = server.create_app({"DB": str(codeset_db), "CACHE_BYTES": 0}).test_client()
    expand = "/fhir/ValueSet/$expand?url=urn:txserver:ValueSet/all-codes&count=5&filter="
    words = ["fracture", "femur"] + ["zqxj"] * (MAX_QUERY_WORDS - 2)
    assert client.get(expand + " ".join(words)).status_code == 200
    for text in (" ".join(words + ["more"]), "fracture " + "x" * MAX_QUERY_LENGTH):
        response = client.get(expand + text)
        assert response.status_code == 400, text[:60]
        issue = response.get_json()["issue"][0]
        assert issue["code"] == "invalid" and issue["expression"] == ["filter"]
        assert "at most" in issue["details"]["text"]
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": "urn:txserver:ValueSet/all-codes"},
        {"name": "filter", "valueString": " ".join(["word"] * 5000)}]}
    assert client.post("/fhir/ValueSet/$expand", json=body).status_code == 400
    page = client.get("/search", query_string={"q": " ".join(["x"] * 70)})  # 139 characters
    assert page.status_code == 400 and "at most 64 words" in page.get_data(as_text=True)
