"""The SQLite store: every SQL statement of the server, in modules along its seams.

    connections.py  where the file is, one read-only connection per thread, the writer
    schema.py       schema.sql and the migrations of older store files
    records.py      the values handed out (CodeSystemInfo, ...) and how rows encode them
    reads.py        what readers ask: code systems, concepts, hierarchy, value sets, maps
    search.py       FTS5 text search, its ranking and its time limit
    writes.py       the Writer: what an importer may run inside one transaction

Readers get one read-only connection per thread (opened lazily, reused); only importers write,
each import in one transaction so that a failure leaves the previous data untouched. A
`generation` counter in `meta` rises with every committed import so that running servers notice
new data without a restart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from terminology.store.connections import default_path
from terminology.store.reads import Reads
from terminology.store.records import (
    CodeSystemInfo,
    ConceptMapInfo,
    MapElement,
    NamingSystemId,
    SearchHit,
    StoreVersion,
    ValueSetInfo,
    decode_designations,
    decode_properties,
    encode_designations,
    encode_properties,
    version_key,
)
from terminology.store.schema import COMMITTED_NOW, SCHEMA_VERSION, create_schema
from terminology.store.search import SEARCH_SECONDS, Search, search_key
from terminology.store.writes import DuplicateCode, Writer

CHECKPOINT_WAIT_MS = 2000

__all__ = [
    "SCHEMA_VERSION", "SEARCH_SECONDS", "CodeSystemInfo", "ConceptMapInfo", "DuplicateCode",
    "MapElement", "NamingSystemId", "SearchHit", "Store", "StoreVersion", "ValueSetInfo", "Writer",
    "decode_designations", "decode_properties", "default_path",
    "encode_designations", "encode_properties", "search_key", "version_key",
]


class Store(Reads, Search):
    """One SQLite database file: its reads and searches (Reads, Search), its creation, and the
    one way to write to it (`transaction`)."""

    def create(self) -> None:
        """Create the file and schema if missing (idempotent)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._writer() as con:
            create_schema(con)

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """One write transaction: all of it commits, or none of it does."""
        self.create()
        with self._writer() as con:
            con.row_factory = sqlite3.Row
            con.execute("BEGIN IMMEDIATE")
            try:
                writer = Writer(con)
                yield writer
                writer.merge_search_indexes()
                con.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )
                con.execute(f"UPDATE meta SET value = {COMMITTED_NOW} WHERE key = 'committed_at'")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            # an import writes tens of MB to the WAL: fold it into the database file now. A
            # reader still pinned to an older snapshot makes it wait; after a short wait it
            # gives up harmlessly (SQLite checkpoints again later).
            con.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
