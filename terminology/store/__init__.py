"""The SQLite store: connections, transactions and every SQL statement of the server.

Readers get one read-only connection per thread (opened lazily, reused); only importers write,
each import in one transaction so that a failure leaves the previous data untouched. A
`generation` counter in `meta` rises with every committed import so that running servers notice
new data without a restart.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from terminology.errors import TooCostly
from terminology.model import Coding, Concept, Designation, Property

SCHEMA_VERSION = "1"
SEARCH_SECONDS = 2.0  # a text search running longer than this answers too-costly
TIME_CHECK_STEPS = 20000  # SQLite VM steps between two looks at the clock
_WORD = re.compile(r"[^\W_]+")
_NOT_KEY = re.compile(r"[^0-9a-z]")
# Left out of a search with other words: they narrow nothing and slow the search down.
STOP_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to"})


@dataclass(frozen=True, slots=True)
class CodeSystemInfo:
    """One stored code-system version: its searchable metadata and its resource without concepts."""

    id: int
    url: str
    version: str | None
    resource_id: str
    provider: str
    name: str | None
    title: str | None
    status: str
    effective_date: str | None
    content: str
    case_sensitive: bool
    count: int
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One concept found by text search: `exact` when the text is its code (E11.9, e119);
    otherwise `score` is its bm25 rank (lower is better)."""

    cs_id: int
    code: str
    exact: bool
    score: float


@dataclass(frozen=True, slots=True)
class ConceptMapInfo:
    id: int
    url: str
    version: str | None
    resource_id: str
    name: str | None
    title: str | None
    status: str
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MapElement:
    source_system: str
    source_code: str
    target_system: str | None
    target_code: str | None
    equivalence: str
    comment: str | None = None
    extra: dict[str, Any] | None = None


def default_path() -> Path:
    """`TX_DB`, else the user's data folder (XDG), else ~/.local/share."""
    if os.environ.get("TX_DB"):
        return Path(os.environ["TX_DB"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "txserver" / "tx.db"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_designations(designations: Iterable[Designation]) -> bytes:
    return orjson.dumps(
        [
            [d.language, d.use.system if d.use else None, d.use.code if d.use else None, d.value]
            for d in designations
        ]
    )


def decode_designations(text: str | bytes) -> tuple[Designation, ...]:
    return tuple(
        Designation(value, lang, Coding(system=us, code=uc) if uc else None)
        for lang, us, uc, value in orjson.loads(text)
    )


def encode_properties(properties: Iterable[Property]) -> bytes:
    return orjson.dumps([[p.code, p.type, p.value] for p in properties])


def decode_properties(text: str | bytes) -> tuple[Property, ...]:
    return tuple(Property(code, value, type_) for code, type_, value in orjson.loads(text))


_CONCEPT_COLUMNS = (
    "code, display, definition, inactive, effective, withdrawn, designations, properties"
)


def _concept(row: tuple[Any, ...]) -> Concept:
    code, display, definition, inactive, effective, withdrawn, designations, properties = row
    decoded = decode_properties(properties)
    return Concept(
        code=code,
        display=display,
        definition=definition,
        inactive=bool(inactive),
        abstract=any(p.code == "notSelectable" and p.value is True for p in decoded),
        effective=effective,
        withdrawn=withdrawn,
        designations=decode_designations(designations),
        properties=decoded,
    )


RERANK_DEPTH = 4  # rows read per result wanted, for re-ranking near-equal scores
RERANK_TOLERANCE = 0.02  # scores this close (relative to the best) count as equal


def _reranked(rows: list[Any]) -> list[Any]:
    """bm25 favours short descriptors, so a narrow code with a short name ("Diabetes
    insipidus") outranks the heading a person means ("Type 2 diabetes mellitus", E11). Among
    scores within 2% of each other, the broader code (the shorter one) comes first."""
    if not rows:
        return rows
    best = rows[0][2]
    step = abs(best) * RERANK_TOLERANCE or 1.0
    return sorted(rows, key=lambda r: (int((r[2] - best) / step), len(r[1]), r[2], r[1]))


def search_key(code: str) -> str:
    """A code folded for search: lower-case letters and digits only (`E11.9` -> `e119`)."""
    return _NOT_KEY.sub("", code.casefold())


def _search_row(concept_id: int, code: str, display: str | None,
                designations: str | bytes) -> tuple[int, str, str, str]:
    """The concept_search row of a stored concept: key, display, the other designations.
    Indexing and unindexing both build the row here, so that they always agree."""
    text = display or ""
    seen = {" ".join(text.casefold().split())}
    terms: list[str] = []
    for _, _, _, value in orjson.loads(designations):
        folded = " ".join(value.casefold().split())
        if folded not in seen:
            seen.add(folded)
            terms.append(value)
    return concept_id, search_key(code), text, "\n".join(terms)


def _match_expression(text: str) -> tuple[str | None, str | None]:
    """(exact-code expression, word expression) in FTS5 syntax for what a person typed.

    Every word must match, as a word or the start of one, in the code, display or designations;
    a single typed token is also tried as a code and as the start of codes (`E11.` finds
    E11.9)."""
    words = _WORD.findall(text.casefold())
    if not words:
        return None, None
    words = [w for w in words if w not in STOP_WORDS] or words
    # a word as typed counts twice (itself and as a prefix): "heart" before "heartburn"
    query = " AND ".join(f'("{w}" OR "{w}"*)' if len(w) > 1 else f'"{w}"' for w in words)
    key = search_key(text)
    if key and len(text.split()) == 1:
        starts = f'(key : "{key}"*) OR ' if len(key) > 1 else ""
        return f'key : "{key}"', f"{starts}({query})"
    return None, query


def _code_system(row: sqlite3.Row) -> CodeSystemInfo:
    return CodeSystemInfo(
        id=row["id"],
        url=row["url"],
        version=row["version"] or None,
        resource_id=row["resource_id"],
        provider=row["provider"],
        name=row["name"],
        title=row["title"],
        status=row["status"],
        effective_date=row["effective_date"],
        content=row["content"],
        case_sensitive=bool(row["case_sensitive"]),
        count=row["concept_count"],
        resource=orjson.loads(row["resource"]),
    )


def _map_element(row: sqlite3.Row) -> MapElement:
    values = tuple(row)
    return MapElement(*values[:6], extra=orjson.loads(values[6]) if values[6] else None)


def _concept_map(row: sqlite3.Row) -> ConceptMapInfo:
    return ConceptMapInfo(
        id=row["id"],
        url=row["url"],
        version=row["version"] or None,
        resource_id=row["resource_id"],
        name=row["name"],
        title=row["title"],
        status=row["status"],
        resource=orjson.loads(row["resource"]),
    )


class Store:
    """One SQLite database file. Cheap to share between threads: each thread reads on its own."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()

    # -- connections -------------------------------------------------------------------------

    def create(self) -> None:
        """Create the file and schema if missing (idempotent)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        schema = resources.files("terminology.store").joinpath("schema.sql").read_text()
        with self._writer() as con:
            con.executescript(schema)
            con.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?), ('generation', '0')",
                (SCHEMA_VERSION,),
            )
            if con.execute("SELECT 1 FROM meta WHERE key = 'search_index'").fetchone() is None:
                _index_existing(con)

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA busy_timeout = 30000")
            yield con
        finally:
            con.close()

    def _reader(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            con = sqlite3.connect(uri, uri=True, check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA query_only = ON")
            self._local.con = con
        return con

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """One write transaction: all of it commits, or none of it does."""
        self.create()
        with self._writer() as con:
            con.row_factory = sqlite3.Row
            con.execute("BEGIN IMMEDIATE")
            try:
                yield Writer(con)
                con.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            # an import writes tens of MB to the WAL: fold it into the database file now
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reads -------------------------------------------------------------------------------

    def generation(self) -> int:
        row = self._reader().execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def is_empty(self) -> bool:
        if not self.path.exists():
            return True
        row = self._reader().execute("SELECT count(*) FROM code_system").fetchone()
        return row[0] == 0

    def code_systems(self) -> list[CodeSystemInfo]:
        rows = self._reader().execute("SELECT * FROM code_system ORDER BY url, version")
        return [_code_system(r) for r in rows]

    def concept(self, cs_id: int, code: str) -> Concept | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {_CONCEPT_COLUMNS} FROM concept WHERE cs_id = ? AND code = ?",
                (cs_id, code),
            )
            .fetchone()
        )
        return _concept(tuple(row)) if row else None

    def concept_nocase(self, cs_id: int, code: str) -> Concept | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {_CONCEPT_COLUMNS} FROM concept "
                "WHERE cs_id = ? AND code = ? COLLATE NOCASE LIMIT 1",
                (cs_id, code),
            )
            .fetchone()
        )
        return _concept(tuple(row)) if row else None

    def iter_concepts(self, cs_id: int) -> Iterator[Concept]:
        rows = self._reader().execute(
            f"SELECT {_CONCEPT_COLUMNS} FROM concept WHERE cs_id = ? ORDER BY id", (cs_id,)
        )
        for row in rows:
            yield _concept(tuple(row))

    # -- hierarchy ---------------------------------------------------------------------------

    def has_links(self, cs_id: int) -> bool:
        """Whether the code-system version has any parent/child links at all."""
        row = self._reader().execute(
            "SELECT 1 FROM concept_link WHERE cs_id = ? LIMIT 1", (cs_id,)
        ).fetchone()
        return row is not None

    def parents(self, cs_id: int, code: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT parent FROM concept_link WHERE cs_id = ? AND child = ? ORDER BY parent",
            (cs_id, code),
        )
        return [r[0] for r in rows]

    def children(self, cs_id: int, code: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT child FROM concept_link WHERE cs_id = ? AND parent = ? ORDER BY child",
            (cs_id, code),
        )
        return [r[0] for r in rows]

    def descendants(self, cs_id: int, code: str) -> list[str]:
        """Every code below `code` (not itself), each once, in code order."""
        rows = self._reader().execute(
            "WITH RECURSIVE below (code) AS ("
            "  SELECT child FROM concept_link WHERE cs_id = ?1 AND parent = ?2"
            "  UNION SELECT l.child FROM concept_link l JOIN below b"
            "        ON l.cs_id = ?1 AND l.parent = b.code"
            ") SELECT code FROM below ORDER BY code",
            (cs_id, code),
        )
        return [r[0] for r in rows]

    # -- text search -------------------------------------------------------------------------

    def search(
        self,
        text: str,
        cs_ids: Iterable[int] | None = None,
        limit: int | None = 20,
        seconds: float = SEARCH_SECONDS,
    ) -> list[SearchHit]:
        """Concepts matching `text`, best first: a typed code first (`E11.9`, `e119`, `64636`),
        then word-prefix matches of every word, ranked by bm25 (display weighs most).

        `cs_ids` limits the search to those code-system versions. Runs under a time limit:
        a search that takes longer than `seconds` raises TooCostly.
        """
        exact_query, word_query = _match_expression(text)
        if word_query is None:
            return []
        ids = list(cs_ids) if cs_ids is not None else None
        if ids is not None and not ids:
            return []
        where = f" AND c.cs_id IN ({','.join('?' * len(ids))})" if ids is not None else ""
        bound: list[Any] = list(ids or [])
        typed = text.strip()
        con = self._reader()
        hits: list[SearchHit] = []
        seen: set[tuple[int, str]] = set()
        with _time_limit(con, seconds, text):
            if exact_query is not None:
                rows = con.execute(
                    "SELECT c.cs_id, c.code FROM concept_search s CROSS JOIN concept c "
                    f"ON c.id = s.rowid WHERE concept_search MATCH ?{where}",
                    [exact_query, *bound],
                ).fetchall()
                rows.sort(key=lambda r: (r[1] != typed, r[1].casefold() != typed.casefold(),
                                         r[1]))
                for cs_id, code in rows:
                    hits.append(SearchHit(cs_id, code, True, float("-inf")))
                    seen.add((cs_id, code))
            if limit is not None and len(hits) >= limit:
                return hits[:limit]
            page = "" if limit is None else " LIMIT ?"
            extra = [] if limit is None else [RERANK_DEPTH * limit + len(hits)]
            rows = con.execute(
                "SELECT c.cs_id, c.code, bm25(concept_search, 2.0, 10.0, 3.0) AS score "
                "FROM concept_search s CROSS JOIN concept c ON c.id = s.rowid "
                f"WHERE concept_search MATCH ?{where} "
                f"ORDER BY score, length(c.code), c.code{page}",
                [word_query, *bound, *extra],
            ).fetchall()
        for cs_id, code, score in _reranked(rows):
            if (cs_id, code) not in seen:
                hits.append(SearchHit(cs_id, code, False, score))
        return hits if limit is None else hits[:limit]

    def count_matches(self, text: str, cs_ids: Iterable[int],
                      seconds: float = SEARCH_SECONDS) -> int:
        """How many concepts `search` would find for `text`, without ranking them."""
        exact_query, word_query = _match_expression(text)
        ids = list(cs_ids)
        if word_query is None or not ids:
            return 0
        query = word_query if exact_query is None else f"({exact_query}) OR ({word_query})"
        con = self._reader()
        with _time_limit(con, seconds, text):
            row = con.execute(
                "SELECT count(*) FROM concept_search s CROSS JOIN concept c ON c.id = s.rowid "
                f"WHERE concept_search MATCH ? AND c.cs_id IN ({','.join('?' * len(ids))})",
                [query, *ids],
            ).fetchone()
        return int(row[0])

    def value_sets(self) -> list[dict[str, Any]]:
        rows = self._reader().execute("SELECT resource FROM value_set ORDER BY url, version")
        return [orjson.loads(r[0]) for r in rows]

    def concept_maps(self) -> list[ConceptMapInfo]:
        rows = self._reader().execute("SELECT * FROM concept_map ORDER BY url, version")
        return [_concept_map(r) for r in rows]

    def map_elements(self, map_id: int) -> list[MapElement]:
        rows = self._reader().execute(
            "SELECT source_system, source_code, target_system, target_code, equivalence, comment, "
            "extra FROM map_element WHERE map_id = ? ORDER BY ordinal",
            (map_id,),
        )
        return [_map_element(r) for r in rows]

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
        return [_map_element(r) for r in rows]

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


class Writer:
    """The statements an importer may run, inside one `Store.transaction()`."""

    SEARCH_BATCH = 2000

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self._to_index: list[tuple[int, str, str, str]] = []

    def _index_pending(self) -> None:
        """Add the concepts inserted so far to the search index (one batch is much faster)."""
        if self._to_index:
            self.con.executemany(
                "INSERT INTO concept_search (rowid, key, display, terms) VALUES (?, ?, ?, ?)",
                self._to_index,
            )
            self._to_index = []

    def _unindex(self, where: str, params: tuple[Any, ...]) -> None:
        """Take the concepts `where` selects out of the search index, before deleting them."""
        self._index_pending()
        rows = self.con.execute(
            f"SELECT id, code, display, designations FROM concept WHERE {where}", params
        ).fetchall()
        self.con.executemany(
            "INSERT INTO concept_search (concept_search, rowid, key, display, terms) "
            "VALUES ('delete', ?, ?, ?, ?)",
            (_search_row(*row) for row in rows),
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
        resource_id: str,
        resource: dict[str, Any],
        concepts: Iterable[Concept],
        provider: str = "fhir",
        effective_date: str | None = None,
        indexed_properties: Collection[str] | None = None,
    ) -> int:
        """Store one code-system version, replacing any earlier import of the same version.

        `indexed_properties` names the properties whose values go into concept_property (all
        of them by default); long note-like string properties are better left out of it."""
        self._unindex(
            "cs_id IN (SELECT id FROM code_system WHERE (url = ? AND version = ?) "
            "OR resource_id = ?)",
            (url, version or "", resource_id),
        )
        self.con.execute(
            "DELETE FROM code_system WHERE (url = ? AND version = ?) OR resource_id = ?",
            (url, version or "", resource_id),
        )
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
                1 if resource.get("caseSensitive", True) else 0,
                orjson.dumps(resource),
                _now(),
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
                "withdrawn, derived, designations, properties) VALUES (?,?,?,?,?,?,?,?,?,?)",
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
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"duplicate code {c.code!r}") from exc
        concept_id = int(cur.lastrowid or 0)
        rows = [(concept_id, p.code, _index_value(p.value)) for p in c.properties
                if indexed is None or p.code in indexed]
        if rows:
            self.con.executemany(
                "INSERT INTO concept_property (concept_id, code, value) VALUES (?, ?, ?)", rows
            )
        self._to_index.append(_search_row(concept_id, c.code, c.display, designations))
        if len(self._to_index) >= self.SEARCH_BATCH:
            self._index_pending()

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
        versions.sort(key=lambda v: _version_key(v[1]))
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
                    f"SELECT {_CONCEPT_COLUMNS} FROM concept WHERE cs_id = ? AND derived = 0 "
                    "AND withdrawn IS NULL AND code NOT IN "
                    "(SELECT code FROM concept WHERE cs_id = ?)",
                    (previous, cs_id),
                ).fetchall()
                for row in gone:
                    old = _concept(tuple(row))
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
        resource_id = resource.get("id") or _resource_id(url, version)
        self.con.execute(
            "DELETE FROM value_set WHERE (url = ? AND version = ?) OR resource_id = ?",
            (url, version, resource_id),
        )
        self.con.execute(
            "INSERT INTO value_set (url, version, resource_id, name, title, status, resource, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (url, version, resource_id, resource.get("name"), resource.get("title"),
             resource.get("status", "active"), orjson.dumps({**resource, "id": resource_id}),
             _now()),
        )

    def replace_concept_map(
        self,
        *,
        url: str,
        version: str | None,
        resource_id: str,
        resource: dict[str, Any],
        elements: Iterable[MapElement],
    ) -> int:
        self.con.execute(
            "DELETE FROM concept_map WHERE (url = ? AND version = ?) OR resource_id = ?",
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
                _now(),
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


def _index_existing(con: sqlite3.Connection) -> None:
    """Build the search index over concepts stored before it existed (once per store)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("INSERT INTO concept_search (concept_search) VALUES ('delete-all')")
        rows = con.execute("SELECT id, code, display, designations FROM concept").fetchall()
        con.executemany(
            "INSERT INTO concept_search (rowid, key, display, terms) VALUES (?, ?, ?, ?)",
            (_search_row(*row) for row in rows),
        )
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search_index', '1')")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def _time_limit(con: sqlite3.Connection, seconds: float, text: str) -> Iterator[None]:
    """Interrupt the statements run inside after `seconds`, answering too-costly."""
    deadline = time.monotonic() + seconds
    con.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, TIME_CHECK_STEPS)
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "interrupt" not in str(exc):
            raise
        raise TooCostly(f"The search for '{text}' took too long: use more or longer words",
                        expression="filter") from None
    finally:
        con.set_progress_handler(None, 0)


def _resource_id(url: str, version: str) -> str:
    """An id for a resource loaded without one: its url's last segment and version."""
    import re

    tail = url.rstrip("/").rsplit("/", 1)[-1] or "resource"
    return re.sub(r"[^A-Za-z0-9.-]", "-", f"{tail}-{version}" if version else tail)[:64]


def _index_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value.get("code", ""))
    return str(value)


def _version_key(version: str) -> tuple[Any, ...]:
    """Order versions numerically where they are numbers (2, 10, 2025; 1.2 < 1.10)."""
    parts = version.replace("-", ".").split(".")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


version_key = _version_key
