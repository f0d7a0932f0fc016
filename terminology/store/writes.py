"""The Writer: every statement an importer may run, inside one `Store.transaction()`.

Concepts are inserted, indexed for search and unindexed only here (the search index keeps no
copy of the text, so a concept deleted without being unindexed would haunt the index).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Iterable
from typing import Any

import orjson

from terminology.concepts import concept_tree
from terminology.errors import IdTaken, ImportFailed
from terminology.model import Canonical, Concept
from terminology.store.records import (
    CONCEPT_COLUMNS,
    MapElement,
    concept_from_row,
    encode_designations,
    encode_properties,
    now,
    version_key,
)
from terminology.store.search import (
    IndexRows,
    add_to_index,
    index_rows,
    optimize_indexes,
    remove_from_index,
)
from terminology.textsearch.ranking import concept_terms, encode_terms


class Writer:
    """The statements an importer may run, inside one `Store.transaction()`."""

    SEARCH_BATCH = 2000

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self._to_index: list[IndexRows] = []
        self.reindexed = False  # the search indexes changed: Store.transaction merges them

    def _index_pending(self) -> None:
        """Add the concepts inserted so far to the search index (one batch is much faster)."""
        if self._to_index:
            add_to_index(self.con, self._to_index)
            self._to_index = []
            self.reindexed = True

    def merge_search_indexes(self) -> None:
        """Merge each search index into one b-tree: every batch written adds a segment, and a
        search looks a word up in every segment (the HL7 Terminology package's 897 code
        systems left 150 lookups for a three-word filter, 14 once merged; 0.2 s here)."""
        self._index_pending()
        if self.reindexed:
            optimize_indexes(self.con)

    def _unindex(self, where: str, params: tuple[Any, ...]) -> None:
        """Take the concepts `where` selects out of the search index, before deleting them."""
        self._index_pending()
        rows = self.con.execute(
            f"SELECT id, cs_id, code, display, designations FROM concept WHERE {where}", params
        ).fetchall()
        remove_from_index(self.con, (index_rows(*row) for row in rows))
        self.reindexed = True

    def _claim_id(self, kind: str, url: str, version: str | None, wanted: str | None) -> str:
        """The id under which `url|version` is stored. Ids are unique per resource type: an
        id held by a resource with another url is refused, naming both, so that the whole
        import rolls back (an import never removes a resource with another url). An id held by
        another version of the same url is that resource's update: the caller replaces it.
        Without a `wanted` id: the one it has, else a free one made from the url's last
        segment and the version."""
        table = _TABLE_OF[kind]
        incoming = Canonical(url, version or None)

        def holder(resource_id: str) -> Canonical | None:
            row = self.con.execute(
                f"SELECT url, version FROM {table} WHERE resource_id = ?", (resource_id,)
            ).fetchone()
            return Canonical(row[0], row[1] or None) if row else None

        if wanted is not None:
            held = holder(wanted)
            if held is not None and held.url != url:
                raise IdTaken(
                    f"{kind} id '{wanted}' is already taken by {held}, so {incoming} cannot be "
                    f"stored under it (ids are unique per {kind}). Nothing was imported: give "
                    f"the incoming {kind} an id of its own.")
            return wanted
        own = self.con.execute(
            f"SELECT resource_id FROM {table} WHERE url = ? AND version = ?", (url, version or "")
        ).fetchone()
        if own is not None:
            return str(own[0])
        base = _resource_id(url, version or "")
        candidate, n = base, 1
        while holder(candidate) is not None:
            n += 1
            candidate = f"{base[:60]}-{n}"
        return candidate

    def resource_id_of(self, kind: str, url: str, version: str | None) -> str | None:
        """The id `url|version` is stored under (None: not stored)."""
        row = self.con.execute(
            f"SELECT resource_id FROM {_TABLE_OF[kind]} WHERE url = ? AND version = ?",
            (url, version or ""),
        ).fetchone()
        return str(row[0]) if row else None

    def holds(self, kind: str, resource_id: str) -> bool:
        row = self.con.execute(
            f"SELECT 1 FROM {_TABLE_OF[kind]} WHERE resource_id = ?", (resource_id,)
        ).fetchone()
        return row is not None

    def delete(self, kind: str, resource_id: str) -> bool:
        """Delete the CodeSystem, ValueSet or ConceptMap stored under `resource_id` (a code
        system with its concepts, unindexed first); False when there is none."""
        table = _TABLE_OF[kind]
        if kind == "CodeSystem":
            self._unindex("cs_id IN (SELECT id FROM code_system WHERE resource_id = ?)",
                          (resource_id,))
        cur = self.con.execute(f"DELETE FROM {table} WHERE resource_id = ?", (resource_id,))
        return cur.rowcount > 0

    def record_first_start_step(self, step: str) -> None:
        """Record that the first-start sample step `step` has committed."""
        self.con.execute(
            "INSERT OR REPLACE INTO first_start_step (step, completed_at) VALUES (?, ?)",
            (step, now()),
        )

    def versions(self, url: str) -> list[str]:
        rows = self.con.execute("SELECT version FROM code_system WHERE url = ?", (url,))
        return [row[0] for row in rows]

    def code_system_id(self, url: str, version: str | None) -> int | None:
        row = self.con.execute(
            "SELECT id FROM code_system WHERE url = ? AND version = ?", (url, version or "")
        ).fetchone()
        return row[0] if row else None

    def replace_code_system(
        self,
        *,
        url: str,
        version: str | None,
        resource_id: str | None,
        resource: dict[str, Any],
        concepts: Iterable[Concept],
        provider: str = "fhir",
        effective_date: str | None = None,
        indexed_properties: Collection[str] | None = None,
        case_sensitive: bool | None = None,
    ) -> int:
        """Store one code-system version, replacing any earlier import of the same version.

        `indexed_properties` names the properties whose values go into concept_property (all
        of them by default); long note-like string properties are better left out of it.
        `resource_id` None: a free id is made from the url (see `_claim_id`).
        `case_sensitive` None: the resource's caseSensitive, true when it has none."""
        resource_id = self._claim_id("CodeSystem", url, version, resource_id)
        same = "url = ? AND (version = ? OR resource_id = ?)"  # never another url
        self._unindex(f"cs_id IN (SELECT id FROM code_system WHERE {same})",
                      (url, version or "", resource_id))
        self.con.execute(f"DELETE FROM code_system WHERE {same}", (url, version or "", resource_id))
        cur = self.con.execute(
            "INSERT INTO code_system (url, version, resource_id, provider, name, title, status, "
            "effective_date, content, case_sensitive, resource, imported_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                url,
                version or "",
                resource_id,
                provider,
                resource.get("name"),
                resource.get("title"),
                resource.get("status", "active"),
                effective_date,
                resource.get("content", "complete"),
                int(resource.get("caseSensitive", True) if case_sensitive is None
                    else case_sensitive),
                orjson.dumps(resource),
                now(),
            ),
        )
        cs_id = int(cur.lastrowid or 0)
        for concept in concepts:
            self._insert_concept(cs_id, concept, indexed=indexed_properties)
        self._index_pending()
        self._update_count(cs_id)
        return cs_id

    def _insert_concept(self, cs_id: int, c: Concept, derived: bool = False,
                        indexed: Collection[str] | None = None) -> None:
        designations = encode_designations(c.designations)
        try:
            cur = self.con.execute(
                "INSERT INTO concept (cs_id, code, display, definition, inactive, effective, "
                "withdrawn, derived, designations, properties, abstract, extensions, analysed) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    cs_id,
                    c.code,
                    c.display,
                    c.definition,
                    int(c.inactive),
                    c.effective,
                    c.withdrawn,
                    int(derived),
                    designations,
                    encode_properties(c.properties),
                    int(c.abstract),
                    orjson.dumps(c.extensions) if c.extensions else None,
                    encode_terms(concept_terms(c.display, (d.value for d in c.designations))),
                ),
            )
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                raise
            raise DuplicateCode(c.code) from exc
        concept_id = int(cur.lastrowid or 0)
        rows = [(concept_id, p.code, _index_value(p.value)) for p in c.properties
                if indexed is None or p.code in indexed]
        if rows:
            self.con.executemany(
                "INSERT INTO concept_property (concept_id, code, value) VALUES (?, ?, ?)", rows
            )
        self._to_index.append(index_rows(concept_id, cs_id, c.code, c.display, designations))
        if len(self._to_index) >= self.SEARCH_BATCH:
            self._index_pending()

    def store_fhir_code_system(self, resource: dict[str, Any]) -> int:
        """Store a FHIR CodeSystem resource (not a supplement) as SQL rows like every other
        code system: its concepts (read by `concept_tree`, the rules MemoryProvider follows),
        their hierarchy, the search index; the `concept` array as it came, for reads. A
        missing caseSensitive means case-insensitive here, as FHIR servers read it."""
        tree = concept_tree(resource)
        cs_id = self.replace_code_system(
            url=resource["url"], version=resource.get("version"),
            resource_id=resource.get("id"),
            resource={k: v for k, v in resource.items() if k != "concept"},
            concepts=tree.concepts.values(), provider="fhir",
            case_sensitive=bool(resource.get("caseSensitive", False)))
        self.add_links(cs_id, tree.links)
        if resource.get("concept"):
            self.con.execute(
                "INSERT INTO code_system_concepts (cs_id, concepts) VALUES (?, ?)",
                (cs_id, orjson.dumps(resource["concept"])))
        return cs_id

    def add_links(self, cs_id: int, links: Iterable[tuple[str, str]]) -> None:
        """Parent/child links (parent code, child code) between concepts of one version."""
        self.con.executemany(
            "INSERT OR IGNORE INTO concept_link (cs_id, parent, child) VALUES (?, ?, ?)",
            ((cs_id, parent, child) for parent, child in links),
        )

    def _update_count(self, cs_id: int) -> None:
        self.con.execute(
            "UPDATE code_system SET concept_count = "
            "(SELECT count(*) FROM concept WHERE cs_id = ?) WHERE id = ?",
            (cs_id, cs_id),
        )

    def derive_release_history(self, url: str, start_of: dict[str, str]) -> None:
        """Annual-release semantics for code systems shipped as flat files (CPT).

        Walking the versions of `url` in order: a code of the previous version that is missing
        from this one is added here as withdrawn (since the version's start date), and a code new
        in this version gets the version's start date as its effective date. `start_of` maps each
        version to its start date. Safe to rerun after any import, in any order of years.
        """
        versions = [
            (row["id"], row["version"])
            for row in self.con.execute(
                "SELECT id, version FROM code_system WHERE url = ?", (url,)
            )
        ]
        versions.sort(key=lambda v: version_key(v[1]))
        previous: int | None = None
        for cs_id, version in versions:
            self._unindex("cs_id = ? AND derived = 1", (cs_id,))
            self.con.execute("DELETE FROM concept WHERE cs_id = ? AND derived = 1", (cs_id,))
            start = start_of.get(version)
            if previous is not None and start:
                self.con.execute(
                    "UPDATE concept SET effective = CASE WHEN code IN "
                    "(SELECT code FROM concept WHERE cs_id = ? AND derived = 0) "
                    "THEN (SELECT p.effective FROM concept p WHERE p.cs_id = ? "
                    "      AND p.code = concept.code) ELSE ? END "
                    "WHERE cs_id = ? AND derived = 0",
                    (previous, previous, start, cs_id),
                )
                gone = self.con.execute(
                    f"SELECT {CONCEPT_COLUMNS} FROM concept WHERE cs_id = ? AND derived = 0 "
                    "AND withdrawn IS NULL AND code NOT IN "
                    "(SELECT code FROM concept WHERE cs_id = ?)",
                    (previous, cs_id),
                ).fetchall()
                for row in gone:
                    old = concept_from_row(tuple(row))
                    withdrawn = Concept(
                        code=old.code,
                        display=old.display,
                        definition=old.definition,
                        inactive=True,
                        effective=old.effective,
                        withdrawn=start,
                        designations=old.designations,
                        properties=old.properties,
                    )
                    self._insert_concept(cs_id, withdrawn, derived=True)
            self._index_pending()
            self._update_count(cs_id)
            previous = cs_id

    def replace_value_set(self, resource: dict[str, Any]) -> None:
        url, version = resource.get("url", ""), resource.get("version") or ""
        resource_id = self._claim_id("ValueSet", url, version, resource.get("id"))
        self.con.execute(
            "DELETE FROM value_set WHERE url = ? AND (version = ? OR resource_id = ?)",
            (url, version, resource_id),
        )
        self.con.execute(
            "INSERT INTO value_set (url, version, resource_id, name, title, status, resource, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (url, version, resource_id, resource.get("name"), resource.get("title"),
             resource.get("status", "active"), orjson.dumps({**resource, "id": resource_id}),
             now()),
        )

    def replace_concept_map(
        self,
        *,
        url: str,
        version: str | None,
        resource_id: str | None,
        resource: dict[str, Any],
        elements: Iterable[MapElement],
    ) -> int:
        resource_id = self._claim_id("ConceptMap", url, version, resource_id)
        self.con.execute(
            "DELETE FROM concept_map WHERE url = ? AND (version = ? OR resource_id = ?)",
            (url, version or "", resource_id),
        )
        cur = self.con.execute(
            "INSERT INTO concept_map (url, version, resource_id, name, title, status, resource, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                url,
                version or "",
                resource_id,
                resource.get("name"),
                resource.get("title"),
                resource.get("status", "active"),
                orjson.dumps(resource),
                now(),
            ),
        )
        map_id = int(cur.lastrowid or 0)
        self.con.executemany(
            "INSERT INTO map_element (map_id, source_system, source_code, target_system, "
            "target_code, equivalence, comment, extra, ordinal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (map_id, e.source_system, e.source_code, e.target_system, e.target_code,
                 e.equivalence, e.comment, orjson.dumps(e.extra) if e.extra else None, i)
                for i, e in enumerate(elements)
            ),
        )
        return map_id


    def replace_naming_system(self, resource: dict[str, Any]) -> None:
        """Store a NamingSystem and its unique ids. Its identity is its url (R5, or R4's
        extension for it) when it has one, else its id; an id held by a NamingSystem with
        another url is refused (see `_claim_id`)."""
        url, version = naming_system_url(resource), resource.get("version") or ""
        if url:
            resource_id = self._claim_id("NamingSystem", url, version, resource.get("id"))
        else:
            resource_id = resource.get("id") or _resource_id(
                "NamingSystem/" + (resource.get("name") or "naming-system"), "")
            held = self.con.execute("SELECT url FROM naming_system WHERE resource_id = ?",
                                    (resource_id,)).fetchone()
            if held is not None and held[0]:
                raise ImportFailed(
                    f"NamingSystem id '{resource_id}' is already taken by {held[0]}, so a "
                    "NamingSystem without a url cannot be stored under it. Nothing was "
                    "imported: give the incoming NamingSystem an id of its own.")
        self.con.execute(
            "DELETE FROM naming_system WHERE resource_id = ? OR (url != '' AND url = ? "
            "AND version = ?)", (resource_id, url, version))
        cur = self.con.execute(
            "INSERT INTO naming_system (url, version, resource_id, name, kind, status, "
            "resource, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (url, version, resource_id, resource.get("name"), resource.get("kind", ""),
             resource.get("status", "active"), orjson.dumps({**resource, "id": resource_id}),
             now()))
        ns_id = int(cur.lastrowid or 0)
        self.con.executemany(
            "INSERT INTO naming_system_id (ns_id, type, value, preferred) VALUES (?, ?, ?, ?)",
            ((ns_id, u.get("type") or "other", u["value"], int(bool(u.get("preferred"))))
             for u in resource.get("uniqueId", [])
             if isinstance(u, dict) and isinstance(u.get("value"), str)))

    def record_package(self, name: str, version: str, summary: list[str]) -> None:
        """Record that the FHIR package name#version was imported, with its summary."""
        self.con.execute(
            "INSERT OR REPLACE INTO fhir_package (name, version, summary, imported_at) "
            "VALUES (?, ?, ?, ?)", (name, version, "\n".join(summary), now()))


NAMING_SYSTEM_URL = "http://hl7.org/fhir/5.0/StructureDefinition/extension-NamingSystem.url"


def naming_system_url(resource: dict[str, Any]) -> str:
    """A NamingSystem's url: R5's element, else R4's cross-version extension for it."""
    if isinstance(resource.get("url"), str):
        return str(resource["url"])
    return next((str(e["valueUri"]) for e in resource.get("extension", [])
                 if e.get("url") == NAMING_SYSTEM_URL and isinstance(e.get("valueUri"), str)),
                "")


class DuplicateCode(ValueError):
    """A code-system version given the same code twice (a defect of the source file: the
    importers catch it as ValueError and name the file)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"duplicate code {code!r}")
        self.code = code


_TABLE_OF = {"CodeSystem": "code_system", "ValueSet": "value_set", "ConceptMap": "concept_map",
             "NamingSystem": "naming_system"}


def _resource_id(url: str, version: str) -> str:
    """An id for a resource loaded without one: its url's last segment and version."""
    tail = url.rstrip("/").rsplit("/", 1)[-1] or "resource"
    return re.sub(r"[^A-Za-z0-9.-]", "-", f"{tail}-{version}" if version else tail)[:64]


def _index_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value.get("code", ""))
    return str(value)
