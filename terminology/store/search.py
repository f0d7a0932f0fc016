"""Text search over the FTS5 index `concept_search`: the index row of a concept, the SQL that
finds and counts matches, the typo correction that runs when the words as typed find nothing,
and the time limit on a search. What a query is and how hits are ranked is
terminology/textsearch (no SQL there).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, cast

import orjson

from terminology import budget
from terminology.errors import TooCostly
from terminology.store.connections import Connections
from terminology.store.records import SearchHit
from terminology.textsearch.query import CORRECTED, Query, key_token, parse, search_key
from terminology.textsearch.ranking import (Ranker, concept_terms, core_words, decode_terms,
                                            said_alternatives)
from terminology.textsearch.spelling import Vocabulary
from terminology.textsearch.synonyms import Synonyms
from terminology.textsearch.words import stems_of

__all__ = ["SEARCH_SECONDS", "IndexRows", "Search", "add_to_index", "index_rows",
           "optimize_indexes", "remove_from_index", "search_key"]

SEARCH_SECONDS = 2.0  # a text search running longer than this answers too-costly
TIME_CHECK_STEPS = 20000  # SQLite VM steps between two looks at the clock
COUNTS_KEPT = 4096  # match counts (Search._systems) and exact codes (_exact) kept, per process
RANKINGS_KEPT = 256  # ranked candidate lists kept across requests (Search._ranked), per process
SCOPES_SHARED = 64  # distinct scopes (lists of code-system ids) whose kept answers share one key
FEW_SYSTEMS = 4  # a scope of at most this many code systems is read without counting first
RANKED = 100  # candidates of each kind put in order by the ranking, whatever the page asked
HEADING = '["notSelectable","boolean",true]'  # how a stored heading's property reads
# what the ranking reads of a candidate (after its index rowid)
_CANDIDATE = (f"c.cs_id, c.code, c.display, c.designations, c.analysed, c.inactive, "
              f"instr(c.properties, '{HEADING}') > 0")

_T = TypeVar("_T")
SearchRow = tuple[int, str, str, str, str]  # rowid, key, display, terms, stems
CoreRow = tuple[int, str]  # rowid, core
IndexRows = tuple[SearchRow, CoreRow | None]
_INSERT = "INSERT INTO concept_search (rowid, key, display, terms, stems) VALUES (?, ?, ?, ?, ?)"
_DELETE = ("INSERT INTO concept_search (concept_search, rowid, key, display, terms, stems) "
           "VALUES ('delete', ?, ?, ?, ?, ?)")
_INSERT_CORE = "INSERT INTO concept_core (rowid, core) VALUES (?, ?)"
_DELETE_CORE = "INSERT INTO concept_core (concept_core, rowid, core) VALUES ('delete', ?, ?)"


ID_BITS, LENGTH_BITS, SYSTEM_SHIFT = 32, 12, 44  # an index rowid: system | length | concept
CONCEPT_MASK = (1 << ID_BITS) - 1
MAX_LENGTH = (1 << LENGTH_BITS) - 1
MAX_SYSTEM = (1 << (63 - SYSTEM_SHIFT)) - 1


def index_rowid(cs_id: int, length: int, concept_id: int) -> int:
    """The rowid of a concept in a search index: its code-system version, the length of the
    text it is found by, its id. Rowid order is then, within one code system, shortest first:
    the order candidates are taken in, read straight off the index with a LIMIT, where sorting
    by display length would read every match's row first."""
    if not (0 <= concept_id <= CONCEPT_MASK and 0 <= cs_id <= MAX_SYSTEM):
        raise ValueError(f"concept {concept_id} of code system {cs_id} is past the index's ids")
    return cs_id << SYSTEM_SHIFT | min(length, MAX_LENGTH) << ID_BITS | concept_id


def system_rowids(cs_id: int) -> tuple[int, int]:
    """The first and last index rowid a code-system version's concepts can have."""
    return cs_id << SYSTEM_SHIFT, ((cs_id + 1) << SYSTEM_SHIFT) - 1


def index_rows(concept_id: int, cs_id: int, code: str, display: str | None,
               designations: str | bytes) -> IndexRows:
    """What a stored concept puts into the search indexes. concept_search: key, display, the
    other designations, the stems of their words; ordered by the display's length.
    concept_core (when it has a short term): the essential words of its short terms
    (ranking.core_words: "diabetes" for "diabetes NOS"), the first place to look for the
    concept a person means; ordered by the length of the shortest. Indexing and unindexing
    both build the rows here, so that they always agree."""
    text = display or ""
    seen = {" ".join(text.casefold().split())}
    terms: list[str] = []
    for designation in orjson.loads(designations):
        value = designation[3]  # [language, use system, use code, value, ...]: records.py
        folded = " ".join(value.casefold().split())
        if folded not in seen:
            seen.add(folded)
            terms.append(value)
    joined = "\n".join(terms)
    cores = list(dict.fromkeys(" ".join(words) for term in (text, *terms)
                               if (words := core_words(term))))
    row = (index_rowid(cs_id, len(text), concept_id), key_token(search_key(code)), text, joined,
           " ".join(stems_of(f"{text}\n{joined}")))
    if not cores:
        return row, None
    return row, (index_rowid(cs_id, min(map(len, cores)), concept_id), "\n".join(cores))


def add_to_index(con: sqlite3.Connection, rows: list[IndexRows]) -> None:
    con.executemany(_INSERT, (row for row, _ in rows))
    con.executemany(_INSERT_CORE, (core for _, core in rows if core is not None))


def optimize_indexes(con: sqlite3.Connection) -> None:
    """Merge the segments of both indexes (FTS5 'optimize'), inside the caller's transaction."""
    con.execute("INSERT INTO concept_search (concept_search) VALUES ('optimize')")
    con.execute("INSERT INTO concept_core (concept_core) VALUES ('optimize')")


def remove_from_index(con: sqlite3.Connection, rows: Iterable[IndexRows]) -> None:
    """Unindex concepts (contentless tables: the values must be the ones indexed)."""
    rows = list(rows)
    con.executemany(_DELETE, (row for row, _ in rows))
    con.executemany(_DELETE_CORE, (core for _, core in rows if core is not None))


@contextmanager
def _time_limit(con: sqlite3.Connection, seconds: float, text: str) -> Iterator[None]:
    """Interrupt the statements run inside after `seconds`, answering too-costly."""
    left = budget.remaining()  # never past the request's own budget
    deadline = time.monotonic() + (seconds if left is None else min(seconds, left))
    con.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, TIME_CHECK_STEPS)
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_INTERRUPT:  # the progress handler's doing
            raise
        raise TooCostly(f"The search for '{text}' took too long: use more or longer words",
                        expression="filter") from None
    finally:
        con.set_progress_handler(None, 0)


@lru_cache(maxsize=COUNTS_KEPT)
def _kept_count(search: Search, generation: int, expression: str,
                ids: tuple[int, ...] | None) -> dict[int, int]:
    """Search._systems's count of one generation, read in the calling thread's snapshot (which
    reads that generation: the key's). An interrupted count raises, and is not kept."""
    return Search._count_systems(search._reader(), expression, ids)


@lru_cache(maxsize=COUNTS_KEPT)
def _kept_exact(search: Search, generation: int, code: str,
                ids: tuple[int, ...] | None) -> tuple[tuple[int, int, str], ...]:
    """Search._exact's concepts of one generation, read in the calling thread's snapshot:
    every page of a search asks for them (most often, none: the text is not a code)."""
    return Search._exact_codes(search._reader(), code, _Scope(None if ids is None else list(ids)))


@lru_cache(maxsize=RANKINGS_KEPT)
def _kept_ranking(search: Search, generation: int, query: Query,
                  ids: tuple[int, ...] | None) -> _Ranked:
    """Search._rank's answer in one generation, read in the calling thread's snapshot (which
    reads that generation). An interrupted ranking raises, and is not kept."""
    return search._rank(search._reader(), query, _Scope(None if ids is None else list(ids)))


@dataclass(frozen=True, slots=True)
class _Ranked:
    """What a search finds before any page is cut from it (Search._rank)."""

    hits: tuple[SearchHit, ...]  # the exact code, then the ranked candidates
    complete: bool  # every match is among the hits
    matching: str | None  # the FTS5 expression of the other matches (None: there are none)
    systems: tuple[int, ...]  # the code-system versions to read the other matches from
    counts: dict[int, int] | None  # when complete: the matches of each code-system version


@lru_cache(maxsize=SCOPES_SHARED)
def _shared(ids: tuple[int, ...]) -> tuple[int, ...]:
    """One tuple for equal scopes: the counts, codes and rankings kept for thousands of
    searches over the same hundreds of code systems (all codes: 900 ids, 7 KB) share it, where
    each held a copy (3,000 searches of all codes held 55 MB)."""
    return ids


class _Scope:
    """The code-system versions a search is limited to (None: all of them), also as SQL;
    `key` is them as the kept answers are keyed by."""

    def __init__(self, cs_ids: list[int] | None) -> None:
        self.ids = cs_ids
        self.key = None if cs_ids is None else _shared(tuple(cs_ids))
        self.sql = (f" AND c.cs_id IN ({','.join('?' * len(cs_ids))})"
                    if cs_ids is not None else "")
        self.bound: list[Any] = list(cs_ids or [])


class Search(Connections):
    """The Store's text search (a part of Store; see terminology/store/__init__.py)."""

    synonyms: Synonyms | None = None  # the app's table (server.py: codesystems/synonyms)
    _vocabulary: tuple[int, Vocabulary] | None = None  # (generation, its words)

    def use_synonyms(self, synonyms: Synonyms | None) -> None:
        """Search with this table of abbreviations and lay terms from now on."""
        self.synonyms = synonyms

    def search(
        self,
        text: str,
        cs_ids: Iterable[int] | None = None,
        limit: int | None = 20,
        seconds: float = SEARCH_SECONDS,
    ) -> list[SearchHit]:
        """Concepts matching `text`, best first: a typed code first (`E11.9`, `e119`, `64636`),
        then the concepts that have every word (as a word, its start, another form of it, or
        a synonym), in the order terminology/textsearch/ranking.py gives. When the words as
        typed find nothing, a word no code system uses is corrected (`correction`).

        `cs_ids` limits the search to those code-system versions. Runs under a time limit:
        a search that takes longer than `seconds` raises TooCostly.
        """
        query = self._parsed(text)
        ids = list(cs_ids) if cs_ids is not None else None
        if not query.slots or (ids is not None and not ids):
            return []
        con = self._reader()
        with _time_limit(con, seconds, text):
            return self._hits(con, self._corrected(con, query), _Scope(ids), limit)

    def correction(self, text: str, cs_ids: Iterable[int],
                   seconds: float = SEARCH_SECONDS) -> str | None:
        """What the best match says instead of `text` when that is a correction of a typed
        word no code system uses (`diabetes` for `diabetis`); else None."""
        query = self._parsed(text)
        scope = _Scope(list(cs_ids))
        if not query.slots or not scope.bound:
            return None
        con = self._reader()
        with _time_limit(con, seconds, text):
            corrected = self._corrected(con, query)
            top = self._hits(con, corrected, scope, 1) if corrected != query else []
            if not top or top[0].exact:
                return None
            display, designations = con.execute(
                "SELECT display, designations FROM concept WHERE cs_id = ? AND code = ?",
                (top[0].cs_id, top[0].code)).fetchone()
        texts = [display or "", *(d[3] for d in orjson.loads(designations))]
        said = said_alternatives(corrected, texts)
        if not any(alt.kind == CORRECTED for alt in said.values()):
            return None
        return corrected.as_said(said)

    def count_matches(self, text: str, cs_ids: Iterable[int],
                      seconds: float = SEARCH_SECONDS) -> int:
        """How many concepts `search` would find for `text`, without ranking them."""
        return sum(self.count_by_system(text, cs_ids, seconds).values())

    def count_by_system(self, text: str, cs_ids: Iterable[int],
                        seconds: float = SEARCH_SECONDS) -> dict[int, int]:
        """`count_matches` for each code-system version that has a match (cs_id: count)."""
        query = self._parsed(text)
        scope = _Scope(list(cs_ids))
        if not query.slots or not scope.bound:
            return {}
        con = self._reader()
        with _time_limit(con, seconds, text):
            return self._count(con, self._corrected(con, query), scope)

    # -- the statements -----------------------------------------------------------------------

    def _count(self, con: sqlite3.Connection, query: Query, scope: _Scope) -> dict[int, int]:
        """Every match, by code-system version: the concepts with all the words (or the start
        of the code typed), and the code typed exactly where it has not the words."""
        matching, code_prefix = self._expressions(con, query)
        counts = dict(self._systems(con, matching, scope))
        if not code_prefix and matching is not None:
            for rowid, cs_id, _ in self._exact(con, query, scope):
                if con.execute("SELECT 1 FROM concept_search WHERE concept_search MATCH ? "
                               "AND rowid = ?", [matching, rowid]).fetchone() is None:
                    counts[cs_id] = counts.get(cs_id, 0) + 1
        return counts

    def _exact(self, con: sqlite3.Connection, query: Query,
               scope: _Scope) -> tuple[tuple[int, int, str], ...]:
        """(index rowid, cs_id, code) of the concepts whose code is the text typed."""
        code = query.code_expression()
        if code is None:
            return ()
        if self._snapshot_kept() is None:  # no snapshot: no generation to keep them for
            return self._exact_codes(con, code, scope)
        ids = scope.key
        return _kept_exact(self, self._generation(), code, ids)

    @staticmethod
    def _exact_codes(con: sqlite3.Connection, code: str,
                     scope: _Scope) -> tuple[tuple[int, int, str], ...]:
        return tuple((int(rowid), int(cs_id), str(found)) for rowid, cs_id, found in con.execute(
            "SELECT s.rowid, c.cs_id, c.code FROM concept_search s CROSS JOIN concept c "
            f"ON c.id = (s.rowid & {CONCEPT_MASK}) WHERE concept_search MATCH ?{scope.sql}",
            [code, *scope.bound]))

    def _kept(self, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        """`compute()`, once per key within one snapshot (one request): a request counts the
        matches and then ranks them, and both need the same statements' answers. Nothing is
        kept from one request to the next."""
        answers = self._snapshot_kept()
        if answers is None:
            return compute()
        if key not in answers:
            answers[key] = compute()
        return cast(_T, answers[key])

    def _keep(self, key: tuple[object, ...], answer: object) -> None:
        """Keep `answer` for `key` for the rest of this snapshot (see `_kept`)."""
        answers = self._snapshot_kept()
        if answers is not None:
            answers[key] = answer

    @staticmethod
    def _systems_key(expression: str, scope: _Scope) -> tuple[object, ...]:
        return ("search systems", expression, scope.ids is None, *(scope.ids or ()))

    def _systems(self, con: sqlite3.Connection, expression: str | None,
                 scope: _Scope) -> dict[int, int]:
        """The code-system versions in scope with a match, and how many: counted in the index
        alone (the system is in the rowid), never reading a concept row. A count is kept for
        the store generation (COUNTS_KEPT of them): the matches of a common word are counted
        once, not on every page of every search for it."""
        if expression is None:
            return {}
        if self._snapshot_kept() is None:  # no snapshot: no generation to keep a count for
            return self._count_systems(con, expression, scope.ids)
        ids = scope.key
        return self._kept(self._systems_key(expression, scope),
                          lambda: _kept_count(self, self._generation(), expression, ids))

    def _candidate_systems(self, con: sqlite3.Connection, expression: str,
                           scope: _Scope) -> list[int]:
        """The code-system versions to read candidates from: all those in scope when they are
        few (reading a system's empty range costs less than counting the matches first), else
        those with a match."""
        if scope.ids is not None and len(scope.ids) <= FEW_SYSTEMS:
            return sorted(set(scope.ids))
        return sorted(self._systems(con, expression, scope))

    @staticmethod
    def _count_systems(con: sqlite3.Connection, expression: str,
                       ids: Sequence[int] | None) -> dict[int, int]:
        if ids is not None and len(ids) == 1:
            (cs_id,) = ids
            found = con.execute(
                "SELECT count(*) FROM concept_search WHERE concept_search MATCH ? "
                "AND rowid BETWEEN ? AND ?", [expression, *system_rowids(cs_id)]).fetchone()[0]
            return {cs_id: int(found)} if found else {}
        rows = con.execute(
            f"SELECT rowid >> {SYSTEM_SHIFT}, count(*) FROM concept_search "
            "WHERE concept_search MATCH ? GROUP BY 1", [expression]).fetchall()
        wanted = None if ids is None else set(ids)
        return {int(cs): int(n) for cs, n in rows if wanted is None or cs in wanted}

    @staticmethod
    def _first(con: sqlite3.Connection, table: str, columns: str, expression: str,
               systems: Iterable[int], limit: int | None) -> list[tuple[Any, ...]]:
        """The first `limit` matches of `table` in rowid order (shortest first) across
        `systems`: (rowid, *columns of the concept) each. The index gives each system's matches
        in order and stops at the limit; several systems' lists are merged by length."""
        tail = "" if limit is None else f" LIMIT {int(limit)}"
        found: list[tuple[Any, ...]] = []
        systems = list(systems)
        for cs_id in systems:
            found += con.execute(
                f"SELECT s.rowid, {columns} FROM {table} s CROSS JOIN concept c "
                f"ON c.id = (s.rowid & {CONCEPT_MASK}) WHERE {table} MATCH ? "
                f"AND s.rowid BETWEEN ? AND ? ORDER BY s.rowid{tail}",
                [expression, *system_rowids(cs_id)]).fetchall()
        if len(systems) > 1:
            found.sort(key=lambda row: ((row[0] >> ID_BITS) & MAX_LENGTH, row[0]))
        return found if limit is None else found[:limit]

    def _hits(self, con: sqlite3.Connection, query: Query, scope: _Scope,
              limit: int | None) -> list[SearchHit]:
        """The exact code first; then the candidates put in order by the ranking (`_ranked`);
        then every other match, shortest display first. The candidates depend on the data
        only, never on `limit`, so that pages of one search agree."""
        ranked = self._ranked(con, query, scope)
        if ranked.counts is not None and ranked.matching is not None:
            self._keep(self._systems_key(ranked.matching, scope), ranked.counts)
        hits = list(ranked.hits)
        if ranked.complete or ranked.matching is None or (
                limit is not None and len(hits) >= limit):
            return hits if limit is None else hits[:limit]
        seen = {(hit.cs_id, hit.code) for hit in hits}
        more = None if limit is None else limit + len(seen)
        for _, cs_id, found in self._first(con, "concept_search", "c.cs_id, c.code",
                                           ranked.matching, ranked.systems, more):
            if (cs_id, found) not in seen:
                seen.add((cs_id, found))
                hits.append(SearchHit(cs_id, found, False, 0.0))
        return hits if limit is None else hits[:limit]

    def _ranked(self, con: sqlite3.Connection, query: Query, scope: _Scope) -> _Ranked:
        """`_rank`'s answer, kept for the store generation (RANKINGS_KEPT of them, like a search
        engine's result cache): a common word is ranked once, not on every page of every
        search for it."""
        if self._snapshot_kept() is None:  # no snapshot: no generation to keep it for
            return self._rank(con, query, scope)
        ids = scope.key
        return _kept_ranking(self, self._generation(), query, ids)

    def _rank(self, con: sqlite3.Connection, query: Query, scope: _Scope) -> _Ranked:
        """The exact code first; then the candidates put in order by the ranking: the concepts
        with a short term holding the words (concept_core, the shortest such term first) and,
        when those are fewer than RANKED, the matches with the shortest displays."""
        typed = query.text.strip()
        exact = sorted(self._exact(con, query, scope), key=lambda r: (
            r[2] != typed, r[2].casefold() != typed.casefold(), r[2]))
        hits = [SearchHit(cs_id, found, True, float("-inf")) for _, cs_id, found in exact]
        seen = {(hit.cs_id, hit.code) for hit in hits}
        matching = self._expressions(con, query)[0]
        if matching is None:
            return _Ranked(tuple(hits), True, None, (), None)
        systems = self._candidate_systems(con, matching, scope)
        candidates = self._first(con, "concept_core", _CANDIDATE,
                                 query.words_expression(self._words(con).forms), systems, RANKED)
        complete = len(candidates) < RANKED
        counts = None
        if complete:
            core = {row[0] & CONCEPT_MASK for row in candidates}
            shortest = self._first(con, "concept_search", _CANDIDATE, matching, systems, RANKED)
            candidates += [r for r in shortest if r[0] & CONCEPT_MASK not in core]
            complete = len(shortest) < RANKED
            if complete:  # every match is in hand: the count needs no statement of its own
                counts = dict(Counter(int(row[1]) for row in shortest))
        ranker = Ranker(query)
        candidates.sort(key=lambda r: ranker.key(
            decode_terms(concept_terms(r[3], (d[3] for d in orjson.loads(r[4]))), r[5]),
            bool(r[7]), bool(r[6]), r[2], r[0] & CONCEPT_MASK))
        for row in candidates:
            if (row[1], row[2]) not in seen:
                seen.add((row[1], row[2]))
                hits.append(SearchHit(row[1], row[2], False, 0.0))
        return _Ranked(tuple(hits), complete, matching, tuple(systems), counts)

    def _expressions(self, con: sqlite3.Connection, query: Query) -> tuple[str | None, bool]:
        """The FTS5 expression of the matches besides the code typed exactly, and whether it
        holds every code starting with the text (then the code typed too). A word the code
        systems use, typed alone, is a code only when typed whole (found by `_exact`: `walk`,
        not every code starting with it)."""
        vocabulary = self._words(con)
        key = query.code_key or ""
        code_prefix = len(key) > 1 and not (key.isalpha() and vocabulary.knows(key))
        return query.match_expression(vocabulary.forms, code_prefix), code_prefix

    def _parsed(self, text: str) -> Query:
        """The query for `text` (parsed once per request: it counts, ranks and corrects)."""
        return self._kept(("search parsed", text), lambda: parse(text, self.synonyms))

    def _corrected(self, con: sqlite3.Connection, query: Query) -> Query:
        """`query` with each word that no stored concept uses searched together with its
        nearest words (terminology/textsearch/spelling.py)."""
        return self._kept(("search corrected", query), lambda: self._correct(con, query))

    def _correct(self, con: sqlite3.Connection, query: Query) -> Query:
        typed = [(i, slot.alternatives[0].words[0]) for i, slot in enumerate(query.slots)
                 if slot.correctable]
        if not typed:
            return query
        vocabulary = self._words(con)
        fixes = {i: found for i, word in typed if (found := vocabulary.corrections(word))}
        return query.with_corrections(fixes) if fixes else query

    def _words(self, con: sqlite3.Connection) -> Vocabulary:
        """The index's words (of displays and designations), read once per store generation."""
        generation = self._generation()
        kept = self._vocabulary
        if kept is None or kept[0] != generation:
            rows = con.execute("SELECT term, sum(doc) FROM concept_search_vocab "
                               "WHERE col IN ('display', 'terms') GROUP BY term").fetchall()
            kept = self._vocabulary = (generation, Vocabulary(rows))
        return kept[1]
