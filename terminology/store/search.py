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
from terminology.textsearch.query import Query, parse, search_key, word_expression
from terminology.textsearch.ranking import concept_key
from terminology.textsearch.spelling import Vocabulary
from terminology.textsearch.synonyms import Synonyms
from terminology.textsearch.words import stems_of

__all__ = ["INDEX_DELETE", "INDEX_INSERT", "SEARCH_SECONDS", "Search", "SearchRow",
           "search_key", "search_row"]

SEARCH_SECONDS = 2.0  # a text search running longer than this answers too-costly
TIME_CHECK_STEPS = 20000  # SQLite VM steps between two looks at the clock
RANKED = 200  # best bm25 matches put in order by the ranking, whatever the page asked for
BM25 = "bm25(concept_search, 2.0, 10.0, 3.0, 2.0)"  # key, display, terms, stems
HEADING = '["notSelectable","boolean",true]'  # how a stored heading's property reads

SearchRow = tuple[int, str, str, str, str]
INDEX_INSERT = ("INSERT INTO concept_search (rowid, key, display, terms, stems) "
                "VALUES (?, ?, ?, ?, ?)")
INDEX_DELETE = ("INSERT INTO concept_search (concept_search, rowid, key, display, terms, stems) "
                "VALUES ('delete', ?, ?, ?, ?, ?)")


def search_row(concept_id: int, code: str, display: str | None,
               designations: str | bytes) -> SearchRow:
    """The concept_search row of a stored concept: key, display, the other designations, the
    stems of their words. Indexing and unindexing both build the row here, so that they always
    agree."""
    text = display or ""
    seen = {" ".join(text.casefold().split())}
    terms: list[str] = []
    for _, _, _, value in orjson.loads(designations):
        folded = " ".join(value.casefold().split())
        if folded not in seen:
            seen.add(folded)
            terms.append(value)
    joined = "\n".join(terms)
    return concept_id, search_key(code), text, joined, " ".join(stems_of(f"{text}\n{joined}"))


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
        scope = _Scope(ids)
        con = self._reader()
        with _time_limit(con, seconds, text):
            hits = self._hits(con, query, scope, limit)
            if not hits:
                corrected = self._corrected(con, query)
                if corrected is not None:
                    hits = self._hits(con, corrected, scope, limit)
        return hits

    def correction(self, text: str, cs_ids: Iterable[int],
                   seconds: float = SEARCH_SECONDS) -> str | None:
        """The text searched instead of `text` (`diabetes` for `diabetis`) when its words as
        typed match nothing in those versions and a typo was corrected; else None."""
        query = parse(text, self.synonyms)
        scope = _Scope(list(cs_ids))
        expression = query.match_expression()
        if expression is None or not scope.bound:
            return None
        con = self._reader()
        with _time_limit(con, seconds, text):
            if self._count(con, query, scope, first_only=True):
                return None
            corrected = self._corrected(con, query)
            if corrected is None or not self._count(con, corrected, scope, first_only=True):
                return None
        return corrected.corrected

    def count_matches(self, text: str, cs_ids: Iterable[int],
                      seconds: float = SEARCH_SECONDS) -> int:
        """How many concepts `search` would find for `text`, without ranking them."""
        query = parse(text, self.synonyms)
        scope = _Scope(list(cs_ids))
        if not query.slots or not scope.bound:
            return 0
        con = self._reader()
        with _time_limit(con, seconds, text):
            count = self._count(con, query, scope)
            if not count:
                corrected = self._corrected(con, query)
                if corrected is not None:
                    count = self._count(con, corrected, scope)
        return count

    # -- the statements -----------------------------------------------------------------------

    def _count(self, con: sqlite3.Connection, query: Query, scope: _Scope,
               first_only: bool = False) -> int:
        words, code = query.match_expression(), query.code_expression()
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
        hits: list[SearchHit] = []
        seen: set[tuple[int, str]] = set()
        code = query.code_expression()
        if code is not None:
            rows = con.execute(
                "SELECT c.cs_id, c.code FROM concept_search s CROSS JOIN concept c "
                f"ON c.id = s.rowid WHERE concept_search MATCH ?{scope.sql}",
                [code, *scope.bound],
            ).fetchall()
            typed = query.text.strip()
            rows.sort(key=lambda r: (r[1] != typed, r[1].casefold() != typed.casefold(), r[1]))
            for cs_id, found in rows:
                hits.append(SearchHit(cs_id, found, True, float("-inf")))
                seen.add((cs_id, found))
        if limit is not None and len(hits) >= limit:
            return hits[:limit]
        matching = (f"FROM concept_search s CROSS JOIN concept c ON c.id = s.rowid "
                    f"WHERE concept_search MATCH ?{scope.sql} "
                    f"ORDER BY score, length(c.code), c.code")
        bound = [query.match_expression(), *scope.bound]
        rows = con.execute(
            f"SELECT c.cs_id, c.code, c.display, c.designations, c.inactive, "
            f"instr(c.properties, ?) > 0, {BM25} AS score {matching} LIMIT {RANKED}",
            [HEADING, *bound],
        ).fetchall()
        ranked = sorted(rows, key=lambda r: concept_key(
            query, r[2], [d[3] for d in orjson.loads(r[3])], bool(r[5]), bool(r[4]), r[1],
            r[6]))
        for row in ranked:
            if (row[0], row[1]) not in seen:
                seen.add((row[0], row[1]))
                hits.append(SearchHit(row[0], row[1], False, row[6]))
        if len(rows) == RANKED and (limit is None or len(hits) < limit):
            more = -1 if limit is None else limit - len(hits) + len(seen)
            for cs_id, found, score in con.execute(
                    f"SELECT c.cs_id, c.code, {BM25} AS score {matching} "
                    f"LIMIT {more} OFFSET {RANKED}", bound):
                if (cs_id, found) not in seen:
                    seen.add((cs_id, found))
                    hits.append(SearchHit(cs_id, found, False, score))
        return hits if limit is None else hits[:limit]

    def _corrected(self, con: sqlite3.Connection, query: Query) -> Query | None:
        """`query` with each word that no stored concept uses replaced by its nearest words."""
        fixes: dict[int, list[str]] = {}
        for i, slot in enumerate(query.slots):
            if not slot.correctable:
                continue
            word = slot.alternatives[0].words[0]
            known = con.execute("SELECT 1 FROM concept_search WHERE concept_search MATCH ? "
                                "LIMIT 1", [word_expression(word, False)]).fetchone()
            if known is None:
                nearest = self._words(con).nearest(word)
                if nearest:
                    fixes[i] = nearest
        return query.with_corrections(fixes) if fixes else None

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
