"""Text search over the FTS5 index `concept_search`: the index row of a concept, the SQL that
finds and counts matches, the typo correction that runs when the words as typed find nothing,
and the time limit on a search. What a query is and how hits are ranked is
terminology/textsearch (no SQL there).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from terminology import budget
from terminology.errors import TooCostly
from terminology.store.connections import Connections
from terminology.store.records import SearchHit
from terminology.textsearch.query import CORRECTED, Query, parse, search_key
from terminology.textsearch.ranking import concept_key, core_words, said_alternatives
from terminology.textsearch.spelling import Vocabulary
from terminology.textsearch.synonyms import Synonyms
from terminology.textsearch.words import stems_of

__all__ = ["SEARCH_SECONDS", "IndexRows", "Search", "add_to_index", "index_rows",
           "optimize_indexes", "remove_from_index", "search_key"]

SEARCH_SECONDS = 2.0  # a text search running longer than this answers too-costly
TIME_CHECK_STEPS = 20000  # SQLite VM steps between two looks at the clock
RANKED = 200  # candidates of each kind put in order by the ranking, whatever the page asked
HEADING = '["notSelectable","boolean",true]'  # how a stored heading's property reads
_CANDIDATE = ("c.cs_id, c.code, c.display, c.designations, c.inactive, "
              "instr(c.properties, ?) > 0, c.id")
_MATCHING = ("FROM concept_search s CROSS JOIN concept c ON c.id = s.rowid "
             "WHERE concept_search MATCH ?")
_SHORTEST = "ORDER BY length(c.display), length(c.code), c.id"

SearchRow = tuple[int, str, str, str, str]  # rowid, key, display, terms, stems
CoreRow = tuple[int, str]  # rowid, core
IndexRows = tuple[SearchRow, CoreRow | None]
_INSERT = "INSERT INTO concept_search (rowid, key, display, terms, stems) VALUES (?, ?, ?, ?, ?)"
_DELETE = ("INSERT INTO concept_search (concept_search, rowid, key, display, terms, stems) "
           "VALUES ('delete', ?, ?, ?, ?, ?)")
_INSERT_CORE = "INSERT INTO concept_core (rowid, core) VALUES (?, ?)"
_DELETE_CORE = "INSERT INTO concept_core (concept_core, rowid, core) VALUES ('delete', ?, ?)"


def index_rows(concept_id: int, code: str, display: str | None,
               designations: str | bytes) -> IndexRows:
    """What a stored concept puts into the search indexes. concept_search: key, display, the
    other designations, the stems of their words. concept_core (when it has a short term): the
    essential words of its short terms (ranking.core_words: "diabetes" for "diabetes NOS"), the
    first place to look for the concept a person means. Indexing and unindexing both build
    the rows here, so that they always agree."""
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
    core = "\n".join(dict.fromkeys(" ".join(words) for term in (text, *terms)
                                   if (words := core_words(term))))
    row = (concept_id, search_key(code), text, joined, " ".join(stems_of(f"{text}\n{joined}")))
    return row, ((concept_id, core) if core else None)


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


class _Scope:
    """The code-system versions a search is limited to, as SQL."""

    def __init__(self, cs_ids: list[int] | None) -> None:
        self.sql = (f" AND c.cs_id IN ({','.join('?' * len(cs_ids))})"
                    if cs_ids is not None else "")
        self.bound: list[Any] = list(cs_ids or [])


class Search(Connections):
    """The Store's text search (a part of Store; see terminology/store/__init__.py)."""

    synonyms: Synonyms | None = None  # the app's table (server.py: codesystems/synonyms)
    _vocabulary: tuple[str, Vocabulary] | None = None  # (generation, its words)

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
        query = parse(text, self.synonyms)
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
        query = parse(text, self.synonyms)
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
        query = parse(text, self.synonyms)
        scope = _Scope(list(cs_ids))
        if not query.slots or not scope.bound:
            return 0
        con = self._reader()
        with _time_limit(con, seconds, text):
            return self._count(con, self._corrected(con, query), scope)

    # -- the statements -----------------------------------------------------------------------

    def _count(self, con: sqlite3.Connection, query: Query, scope: _Scope,
               first_only: bool = False) -> int:
        words, code = self._expressions(con, query)
        expression = words if code is None else f"({code}) OR ({words})"
        what, tail = ("1", " LIMIT 1") if first_only else ("count(*)", "")
        rows = con.execute(
            f"SELECT {what} FROM concept_search s CROSS JOIN concept c ON c.id = s.rowid "
            f"WHERE concept_search MATCH ?{scope.sql}{tail}",
            [expression, *scope.bound],
        ).fetchall()
        return len(rows) if first_only else int(rows[0][0])

    def _hits(self, con: sqlite3.Connection, query: Query, scope: _Scope,
              limit: int | None) -> list[SearchHit]:
        """The exact code first; then the candidates put in order by the ranking: the concepts
        with a short term holding the words (concept_core, best bm25 first) and, when those are
        fewer than RANKED, the matches with the shortest displays; then every other match,
        shortest display first. The candidates depend on the data only, never on `limit`, so
        that pages of one search agree."""
        hits: list[SearchHit] = []
        code = query.code_expression()
        if code is not None:
            rows = con.execute(
                "SELECT c.cs_id, c.code FROM concept_search s CROSS JOIN concept c "
                f"ON c.id = s.rowid WHERE concept_search MATCH ?{scope.sql}",
                [code, *scope.bound],
            ).fetchall()
            typed = query.text.strip()
            rows.sort(key=lambda r: (r[1] != typed, r[1].casefold() != typed.casefold(), r[1]))
            hits = [SearchHit(cs_id, found, True, float("-inf")) for cs_id, found in rows]
        seen = {(hit.cs_id, hit.code) for hit in hits}
        if limit is not None and len(hits) >= limit:
            return hits[:limit]
        forms = self._words(con).forms
        candidates = con.execute(
            f"SELECT {_CANDIDATE} FROM concept_core k CROSS JOIN concept c ON c.id = k.rowid "
            f"WHERE concept_core MATCH ?{scope.sql} "
            f"ORDER BY bm25(concept_core), length(c.code), c.id LIMIT {RANKED}",
            [HEADING, query.words_expression(forms), *scope.bound],
        ).fetchall()
        matching = [self._expressions(con, query)[0], *scope.bound]
        complete = len(candidates) < RANKED
        if complete:
            core = {(r[0], r[1]) for r in candidates}
            shortest = con.execute(f"SELECT {_CANDIDATE} {_MATCHING}{scope.sql} {_SHORTEST} "
                                   f"LIMIT {RANKED}", [HEADING, *matching]).fetchall()
            candidates += [r for r in shortest if (r[0], r[1]) not in core]
            complete = len(shortest) < RANKED
        candidates.sort(key=lambda r: concept_key(
            query, r[2], [d[3] for d in orjson.loads(r[3])], bool(r[5]), bool(r[4]), r[1], r[6]))
        for row in candidates:
            if (row[0], row[1]) not in seen:
                seen.add((row[0], row[1]))
                hits.append(SearchHit(row[0], row[1], False, 0.0))
        if not complete and (limit is None or len(hits) < limit):
            more = -1 if limit is None else limit + len(seen)
            for cs_id, found in con.execute(
                    f"SELECT c.cs_id, c.code {_MATCHING}{scope.sql} {_SHORTEST} LIMIT {more}",
                    matching):
                if (cs_id, found) not in seen:
                    seen.add((cs_id, found))
                    hits.append(SearchHit(cs_id, found, False, 0.0))
        return hits if limit is None else hits[:limit]

    def _expressions(self, con: sqlite3.Connection, query: Query) -> tuple[str | None, str | None]:
        """The FTS5 expressions of every match and of the text typed as a code. A word the
        code systems use, typed alone, is a code only when typed whole (`key : "injury"`, not
        every code starting with it)."""
        vocabulary = self._words(con)
        key = query.code_key
        code_prefix = not (key and key.isalpha() and vocabulary.knows(key))
        return (query.match_expression(vocabulary.forms, code_prefix), query.code_expression())

    def _corrected(self, con: sqlite3.Connection, query: Query) -> Query:
        """`query` with each word that no stored concept uses searched together with its
        nearest words (terminology/textsearch/spelling.py)."""
        typed = [(i, slot.alternatives[0].words[0]) for i, slot in enumerate(query.slots)
                 if slot.correctable]
        if not typed:
            return query
        vocabulary = self._words(con)
        fixes = {i: found for i, word in typed if (found := vocabulary.corrections(word))}
        return query.with_corrections(fixes) if fixes else query

    def _words(self, con: sqlite3.Connection) -> Vocabulary:
        """The index's words (of displays and designations), read once per store generation."""
        generation = str(con.execute(
            "SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        kept = self._vocabulary
        if kept is None or kept[0] != generation:
            rows = con.execute("SELECT term, sum(doc) FROM concept_search_vocab "
                               "WHERE col IN ('display', 'terms') GROUP BY term").fetchall()
            kept = self._vocabulary = (generation, Vocabulary(rows))
        return kept[1]
