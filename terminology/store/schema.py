"""The schema (schema.sql) and the migrations that bring an older store file up to it.

`create_schema` is idempotent: every start runs it, and each migration records in `meta` that
it has run.
"""

from __future__ import annotations

import sqlite3
from importlib import resources

import orjson

from terminology.store.search import search_row
from terminology.store.writes import Writer

SCHEMA_VERSION = "1"


def create_schema(con: sqlite3.Connection) -> None:
    """Create the tables that are missing, then run the migrations not yet run."""
    schema = resources.files("terminology.store").joinpath("schema.sql").read_text()
    con.executescript(schema)
    con.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?), ('generation', '0')",
        (SCHEMA_VERSION,),
    )
    _add_concept_columns(con)
    if con.execute("SELECT 1 FROM meta WHERE key = 'search_index'").fetchone() is None:
        _index_existing(con)
    if con.execute("SELECT 1 FROM code_system WHERE provider = 'memory' LIMIT 1").fetchone():
        _store_memory_code_systems(con)


def _add_concept_columns(con: sqlite3.Connection) -> None:
    """Stores made before concepts kept `abstract` and `extensions` get the columns."""
    have = {row[1] for row in con.execute("PRAGMA table_info(concept)")}
    for column, declaration in (("abstract", "INTEGER NOT NULL DEFAULT 0"),
                                ("extensions", "TEXT")):
        if column not in have:
            con.execute(f"ALTER TABLE concept ADD COLUMN {column} {declaration}")


def _store_memory_code_systems(con: sqlite3.Connection) -> None:
    """FHIR CodeSystems loaded before they were stored as rows (provider 'memory', concepts
    inside the resource) are stored as rows now, like a fresh `import fhir` of them."""
    con.execute("BEGIN IMMEDIATE")
    try:
        rows = con.execute(
            "SELECT resource FROM code_system WHERE provider = 'memory'").fetchall()
        writer = Writer(con)
        for (resource,) in rows:
            writer.store_fhir_code_system(orjson.loads(resource))
        con.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _index_existing(con: sqlite3.Connection) -> None:
    """Build the search index over concepts stored before it existed (once per store)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("INSERT INTO concept_search (concept_search) VALUES ('delete-all')")
        rows = con.execute("SELECT id, code, display, designations FROM concept").fetchall()
        con.executemany(
            "INSERT INTO concept_search (rowid, key, display, terms) VALUES (?, ?, ?, ?)",
            (search_row(*row) for row in rows),
        )
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search_index', '1')")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
