"""The schema (schema.sql) and the migrations that bring an older store file up to it.

`create_schema` is idempotent: every start runs it, and each migration records in `meta` that
it has run.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import orjson

from terminology.store.search import add_to_index, index_rows, optimize_indexes
from terminology.store.writes import Writer
from terminology.textsearch.ranking import analysis_digest, concept_terms, encode_terms

SCHEMA_VERSION = "1"
# the layout of the search index (2: stems column, concept_core; 3: rowids in the order
# candidates are taken, search.index_rowid)
SEARCH_INDEX_VERSION = "3"
_SEARCH_TABLES = re.compile(r"CREATE VIRTUAL TABLE IF NOT EXISTS (concept_search|concept_core) "
                            r"USING[^;]*")
COMMITTED_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"  # SQL: the commit time, to the ms
ANALYSED_BATCH = 5000  # concepts analysed again per UPDATE statement


def create_schema(con: sqlite3.Connection) -> None:
    """Create the tables that are missing, then run the migrations not yet run."""
    schema = resources.files("terminology.store").joinpath("schema.sql").read_text()
    con.executescript(schema)
    con.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?), ('generation', '0')",
        (SCHEMA_VERSION,),
    )
    # what tells one store's generations from another's, and when the newest was committed:
    # the HTTP validators (ETag, Last-Modified) and snapshot manifests are made from them
    con.execute(
        f"INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?), "
        f"('committed_at', {COMMITTED_NOW})", (uuid.uuid4().hex,),
    )
    _add_concept_columns(con)
    built = _meta(con, "search_index")
    if built != SEARCH_INDEX_VERSION:
        _index_existing(con, schema, rebuild=built is not None)
    if _meta(con, "term_analysis") != analysis_digest():
        _analyse_existing(con)
    if con.execute("SELECT 1 FROM code_system WHERE provider = 'memory' LIMIT 1").fetchone():
        _store_memory_code_systems(con)


def _add_concept_columns(con: sqlite3.Connection) -> None:
    """Stores made before concepts kept `abstract`, `extensions` and `analysed` get the
    columns."""
    have = {row[1] for row in con.execute("PRAGMA table_info(concept)")}
    for column, declaration in (("abstract", "INTEGER NOT NULL DEFAULT 0"),
                                ("extensions", "TEXT"), ("analysed", "TEXT")):
        if column not in have:
            con.execute(f"ALTER TABLE concept ADD COLUMN {column} {declaration}")


def _store_memory_code_systems(con: sqlite3.Connection) -> None:
    """FHIR CodeSystems loaded before they were stored as rows (provider 'memory', concepts
    inside the resource) are stored as rows now, like a fresh `import fhir` of them."""
    with _migration(con):
        rows = con.execute(
            "SELECT resource FROM code_system WHERE provider = 'memory'").fetchall()
        writer = Writer(con)
        for (resource,) in rows:
            writer.store_fhir_code_system(orjson.loads(resource))
        _new_generation(con)


def _index_existing(con: sqlite3.Connection, schema: str, rebuild: bool) -> None:
    """Build the search index over concepts stored before it existed, or before its present
    layout (`rebuild`: version 1 had no stems and no concept_core, version 2 had the concept
    ids as rowids); once per store and layout."""
    with _migration(con):
        if rebuild:
            for table in ("concept_search", "concept_core"):
                con.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SEARCH_TABLES.finditer(schema):
                con.execute(statement.group(0))
        for table in ("concept_search", "concept_core"):
            con.execute(f"INSERT INTO {table} ({table}) VALUES ('delete-all')")
        rows = con.execute(
            "SELECT id, cs_id, code, display, designations FROM concept").fetchall()
        add_to_index(con, [index_rows(*row) for row in rows])
        optimize_indexes(con)
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search_index', ?)",
                    (SEARCH_INDEX_VERSION,))


def out_of_date(con: sqlite3.Connection) -> str | None:
    """What a store made by another version of this code would need redone before it is
    served as it is (a read-only snapshot): None when nothing."""
    if _meta(con, "search_index") != SEARCH_INDEX_VERSION:
        return "its search index has another layout"
    if _meta(con, "term_analysis") != analysis_digest():
        return "its terms were analysed for search by other rules"
    return None


def _meta(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _analyse_existing(con: sqlite3.Connection) -> None:
    """Analyse every stored concept's terms for the ranking (ranking.encode_terms) when they
    were analysed by other rules, or not at all (stores made before the column); then a new
    generation, since searches may rank differently."""
    with _migration(con):
        rows = con.execute("SELECT id, display, designations FROM concept").fetchall()
        for start in range(0, len(rows), ANALYSED_BATCH):
            con.executemany("UPDATE concept SET analysed = ? WHERE id = ?", [
                (encode_terms(concept_terms(display, (d[3] for d in orjson.loads(designations)))),
                 concept_id)
                for concept_id, display, designations in rows[start:start + ANALYSED_BATCH]])
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('term_analysis', ?)",
                    (analysis_digest(),))
        if rows:
            _new_generation(con)


@contextmanager
def _migration(con: sqlite3.Connection) -> Iterator[None]:
    """One migration's write transaction: all of it commits, or none of it does."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _new_generation(con: sqlite3.Connection) -> None:
    con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
