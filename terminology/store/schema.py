"""The schema (schema.sql) and the migrations that bring an older store file up to it.

`create_schema` is idempotent: every start runs it, and each migration records in `meta` that
it has run.
"""

from __future__ import annotations

import sqlite3
from importlib import resources

from terminology.store.search import search_row

SCHEMA_VERSION = "1"


def create_schema(con: sqlite3.Connection) -> None:
    """Create the tables that are missing, then run the migrations not yet run."""
    schema = resources.files("terminology.store").joinpath("schema.sql").read_text()
    con.executescript(schema)
    con.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?), ('generation', '0')",
        (SCHEMA_VERSION,),
    )
    if con.execute("SELECT 1 FROM meta WHERE key = 'search_index'").fetchone() is None:
        _index_existing(con)


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
