"""Text search over the FTS5 index `concept_search`: how typed text becomes a MATCH expression,
how hits are ranked, how the index row of a concept is built, and the time limit on a search.
"""

from __future__ import annotations

import re
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

SEARCH_SECONDS = 2.0  # a text search running longer than this answers too-costly
TIME_CHECK_STEPS = 20000  # SQLite VM steps between two looks at the clock
_WORD = re.compile(r"[^\W_]+")
_NOT_KEY = re.compile(r"[^0-9a-z]")
# Left out of a search with other words: they narrow nothing and slow the search down.
STOP_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to"})
RERANK_DEPTH = 4  # rows read per result wanted, for re-ranking near-equal scores
RERANK_TOLERANCE = 0.02  # scores this close (relative to the best) count as equal


def _reranked(rows: list[Any]) -> list[Any]:
    """bm25 favours short descriptors, so a narrow code with a short name ("Diabetes
    insipidus") outranks the heading a person means ("Type 2 diabetes mellitus", E11). Among
    scores within 2% of each other, the broader code (the shorter one) comes first; among
    equals, the code system's own order (the order it was imported in: `r[3]` is the row id)."""
    if not rows:
        return rows
    best = rows[0][2]
    step = abs(best) * RERANK_TOLERANCE or 1.0
    return sorted(rows, key=lambda r: (int((r[2] - best) / step), len(r[1]), r[2], r[3]))


def search_key(code: str) -> str:
    """A code folded for search: lower-case letters and digits only (`E11.9` -> `e119`)."""
    return _NOT_KEY.sub("", code.casefold())


def search_row(concept_id: int, code: str, display: str | None,
               designations: str | bytes) -> tuple[int, str, str, str]:
    """The concept_search row of a stored concept: key, display, the other designations.
    Indexing and unindexing both build the row here, so that they always agree."""
    text = display or ""
    seen = {" ".join(text.casefold().split())}
    terms: list[str] = []
    for designation in orjson.loads(designations):
        value = designation[3]  # [language, use system, use code, value, ...]: records.py
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


class Search(Connections):
    """The Store's text search (a part of Store; see terminology/store/__init__.py)."""

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
                "SELECT c.cs_id, c.code, bm25(concept_search, 2.0, 10.0, 3.0) AS score, c.id "
                "FROM concept_search s CROSS JOIN concept c ON c.id = s.rowid "
                f"WHERE concept_search MATCH ?{where} "
                f"ORDER BY score, length(c.code), c.id{page}",
                [word_query, *bound, *extra],
            ).fetchall()
        for cs_id, code, score, _ in _reranked(rows):
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
