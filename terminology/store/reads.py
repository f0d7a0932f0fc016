"""The Store's reads: code systems, concepts, hierarchy links, value sets and concept maps,
each on the calling thread's read-only connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import orjson

from terminology.model import Concept
from terminology.store.connections import Connections
from terminology.store.records import (
    CONCEPT_COLUMNS,
    SUMMARY_KEYS,
    CodeSystemInfo,
    ConceptMapInfo,
    MapElement,
    NamingSystemId,
    StoreVersion,
    ValueSetInfo,
    code_system_from_row,
    concept_from_row,
    concept_map_from_row,
    map_element_from_row,
)


class Reads(Connections):
    """What readers ask the store (a part of Store; see terminology/store/__init__.py)."""

    def generation(self) -> int:
        return self._generation()

    def version(self) -> StoreVersion:
        """The generation read now, with the store's id and that generation's commit time."""
        rows = dict(self._reader().execute(
            "SELECT key, value FROM meta WHERE key IN ('generation', 'store_id', 'committed_at')"
        ).fetchall())
        return StoreVersion(int(rows.get("generation", 0)), rows.get("store_id", ""),
                            rows.get("committed_at", "1970-01-01T00:00:00.000Z"))

    def in_snapshot(self) -> bool:
        """Whether this thread reads inside a snapshot now (its read transaction is open)."""
        return self._reader().in_transaction

    def snapshot(self) -> AbstractContextManager[int]:
        """Pin what this thread reads to one committed state of the store, and give its
        generation: inside, every read sees that state even if an import commits meanwhile
        (a read transaction over the WAL). Nested snapshots share the outer one."""
        return _Snapshot(self)

    def is_empty(self) -> bool:
        if not self.path.exists():
            return True
        row = self._reader().execute("SELECT count(*) FROM code_system").fetchone()
        return bool(row[0] == 0)

    def first_start_steps(self) -> set[str]:
        """The first-start sample steps already committed (see schema.sql)."""
        if not self.path.exists():
            return set()
        return {r[0] for r in self._reader().execute("SELECT step FROM first_start_step")}

    def code_systems(self) -> list[CodeSystemInfo]:
        rows = self._reader().execute("SELECT * FROM code_system ORDER BY url, version")
        return [code_system_from_row(r) for r in rows]

    def code_system_resource(self, cs_id: int) -> dict[str, Any] | None:
        """A stored code-system version's resource (without its concepts)."""
        row = self._reader().execute("SELECT resource FROM code_system WHERE id = ?",
                                     (cs_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def concept(self, cs_id: int, code: str) -> Concept | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {CONCEPT_COLUMNS} FROM concept WHERE cs_id = ? AND code = ?",
                (cs_id, code),
            )
            .fetchone()
        )
        return concept_from_row(tuple(row)) if row else None

    def concept_nocase(self, cs_id: int, code: str) -> Concept | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {CONCEPT_COLUMNS} FROM concept "
                "WHERE cs_id = ? AND code = ? COLLATE NOCASE LIMIT 1",
                (cs_id, code),
            )
            .fetchone()
        )
        return concept_from_row(tuple(row)) if row else None

    def concepts_as_loaded(self, cs_id: int) -> list[dict[str, Any]] | None:
        """A loaded FHIR CodeSystem's `concept` array as it came (nested); None for code
        systems imported from other sources."""
        row = self._reader().execute(
            "SELECT concepts FROM code_system_concepts WHERE cs_id = ?", (cs_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def iter_concepts(self, cs_id: int, offset: int = 0, limit: int = -1) -> Iterator[Concept]:
        """The concepts in the code system's order, from position `offset`, at most `limit`
        of them (-1: all)."""
        rows = self._reader().execute(
            f"SELECT {CONCEPT_COLUMNS} FROM concept WHERE cs_id = ? ORDER BY id "
            "LIMIT ? OFFSET ?", (cs_id, limit, offset)
        )
        for row in rows:
            yield concept_from_row(tuple(row))

    # -- hierarchy ---------------------------------------------------------------------------

    def has_links(self, cs_id: int) -> bool:
        """Whether the code-system version has any parent/child links at all."""
        row = self._reader().execute(
            "SELECT 1 FROM concept_link WHERE cs_id = ? LIMIT 1", (cs_id,)
        ).fetchone()
        return row is not None

    # Codes come in the code system's own order: the order its concepts were imported in (the
    # publisher's), codes without a concept row last.

    def parents(self, cs_id: int, code: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT l.parent FROM concept_link l LEFT JOIN concept c "
            "ON c.cs_id = l.cs_id AND c.code = l.parent WHERE l.cs_id = ? AND l.child = ? "
            "ORDER BY c.id IS NULL, c.id, l.parent",
            (cs_id, code),
        )
        return [r[0] for r in rows]

    def children(self, cs_id: int, code: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT l.child FROM concept_link l LEFT JOIN concept c "
            "ON c.cs_id = l.cs_id AND c.code = l.child WHERE l.cs_id = ? AND l.parent = ? "
            "ORDER BY c.id IS NULL, c.id, l.child",
            (cs_id, code),
        )
        return [r[0] for r in rows]

    def descendants(self, cs_id: int, code: str) -> list[str]:
        """Every code below `code` (not itself), each once, in the code system's order."""
        rows = self._reader().execute(
            "WITH RECURSIVE below (code) AS ("
            "  SELECT child FROM concept_link WHERE cs_id = ?1 AND parent = ?2"
            "  UNION SELECT l.child FROM concept_link l JOIN below b"
            "        ON l.cs_id = ?1 AND l.parent = b.code"
            ") SELECT b.code FROM below b LEFT JOIN concept c ON c.cs_id = ?1 AND c.code = b.code"
            " ORDER BY c.id IS NULL, c.id, b.code",
            (cs_id, code),
        )
        return [r[0] for r in rows]

    # -- naming systems and packages ---------------------------------------------------------

    def naming_system_ids(self) -> list[NamingSystemId]:
        """Every unique id of every stored NamingSystem, each naming system's in order."""
        rows = self._reader().execute(
            "SELECT n.id, n.kind, i.type, i.value, i.preferred FROM naming_system_id i "
            "JOIN naming_system n ON n.id = i.ns_id ORDER BY n.id, i.rowid")
        return [NamingSystemId(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def packages(self) -> list[tuple[str, str]]:
        """(name, version) of each FHIR package imported by name."""
        if not self.path.exists():
            return []
        rows = self._reader().execute("SELECT name, version FROM fhir_package ORDER BY name")
        return [(r[0], r[1]) for r in rows]

    # -- value sets and concept maps ---------------------------------------------------------

    def value_sets(self) -> list[dict[str, Any]]:
        rows = self._reader().execute("SELECT resource FROM value_set ORDER BY url, version")
        return [orjson.loads(r[0]) for r in rows]

    def value_set_infos(self) -> list[ValueSetInfo]:
        """Every stored value set's summary, without parsing the resources (2,499 value sets
        of the HL7 Terminology package take 24 MB parsed; their summaries 1 MB)."""
        rows = self._reader().execute(
            "SELECT id, " + ", ".join(f"json_extract(resource, '$.{k}')" for k in SUMMARY_KEYS)
            + " FROM value_set ORDER BY url, version")
        return [ValueSetInfo(r[0], {k: v for k, v in zip(SUMMARY_KEYS, tuple(r)[1:])
                                    if v is not None}) for r in rows]

    def value_set_resource(self, row: int) -> dict[str, Any] | None:
        found = self._reader().execute("SELECT resource FROM value_set WHERE id = ?",
                                       (row,)).fetchone()
        return orjson.loads(found[0]) if found else None

    def concept_maps(self) -> list[ConceptMapInfo]:
        rows = self._reader().execute("SELECT * FROM concept_map ORDER BY url, version")
        return [concept_map_from_row(r) for r in rows]

    def map_elements(self, map_id: int) -> list[MapElement]:
        rows = self._reader().execute(
            "SELECT source_system, source_code, target_system, target_code, equivalence, comment, "
            "extra FROM map_element WHERE map_id = ? ORDER BY ordinal",
            (map_id,),
        )
        return [map_element_from_row(r) for r in rows]

    def map_targets(self, map_url: str, source_system: str, source_code: str) -> list[MapElement]:
        """Elements of the newest version of map `map_url` whose source is the given code."""
        rows = self._reader().execute(
            "SELECT e.source_system, e.source_code, e.target_system, e.target_code, "
            "e.equivalence, e.comment, e.extra FROM map_element e "
            "WHERE e.map_id = (SELECT id FROM concept_map WHERE url = ? "
            "                  ORDER BY version DESC LIMIT 1) "
            "AND e.source_system = ? AND e.source_code = ? ORDER BY e.ordinal",
            (map_url, source_system, source_code),
        )
        return [map_element_from_row(r) for r in rows]


class _Snapshot:
    """Reads.snapshot(): a class, not a generator, since every request enters one (a
    generator's context manager costs it about 2 µs more)."""

    __slots__ = ("_reads", "_outermost")

    def __init__(self, reads: Reads) -> None:
        self._reads = reads
        self._outermost = False

    def __enter__(self) -> int:
        reads = self._reads
        if reads.in_snapshot():
            return reads.generation()
        self._outermost = True
        try:
            return reads._begin_snapshot()
        except BaseException:
            reads._end_snapshot()
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._outermost:
            self._outermost = False
            self._reads._end_snapshot()
