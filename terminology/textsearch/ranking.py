"""The order of the concepts a search finds (README, "How search ranks").

Each concept is judged by the one of its terms (display, designations) that best says what was
typed. A term says a slot when one alternative's words are all in it: as the word itself (1.0),
by its stem (0.9: `diabetic` for `diabetes`), as the start of a word (0.8: `diab`); a word right
after `non`, `without`, `not` or `no` is denied, not said. A meaning from the synonym table
counts a little less than the words as typed (0.95). How much of the term the query covers is
measured over its essential words: not the words in parentheses or brackets (non-essential
modifiers: "hypertension (arterial) (benign)"), not NOS, unspecified or not elsewhere classified,
not the axis a trailing ", unspecified X" leaves open ("Pneumonia, unspecified organism"), and
not the small connecting words. So the code a person means when they type a bare condition, the
one whose term is just that condition ("Eczema NOS", "diabetes NOS"), comes first.

Order: terms that say every slot first; headings (chapters, blocks) after codes; then coverage
(in steps of 5%), then active before inactive, the broader (shorter) code first, and bm25.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from terminology.textsearch.query import CORRECTED, SYNONYM, Alternative, Query
from terminology.textsearch.words import CONNECTIVES, NEGATIONS, stem

EXACT, STEMMED, PREFIX = 1.0, 0.9, 0.8
KIND_WEIGHT = {SYNONYM: 0.95, CORRECTED: 1.0}
DESIGNATION_WEIGHT = 0.97  # a display saying it as well as a designation comes first
COVERAGE_STEPS = 20
_TOKEN = re.compile(r"[^\W_]+|[()\[\],;]")
_OPEN, _CLOSE = "([", ")]"
NON_ESSENTIAL_RUNS = (("not", "elsewhere", "classified"), ("not", "otherwise", "specified"))


@dataclass(frozen=True, slots=True)
class TermWords:
    """One term as the ranking reads it."""

    words: tuple[str, ...]
    stems: tuple[str, ...]
    essential: tuple[bool, ...]
    denied: tuple[bool, ...]
    size: int  # essential words (at least 1)


@lru_cache(maxsize=65536)
def analyse(text: str) -> TermWords:
    """Words, stems, which words are essential and which are denied, of one term."""
    words: list[str] = []
    essential: list[bool] = []
    after_comma: list[bool] = []
    depth = 0
    comma = False
    for token in _TOKEN.findall(text.casefold()):
        if token in _OPEN:
            depth += 1
        elif token in _CLOSE:
            depth = max(0, depth - 1)
        elif token in ",;":
            comma = True
            if words:
                after_comma[-1] = True  # marks the last word before a comma
        else:
            words.append(token)
            essential.append(depth == 0 and token not in CONNECTIVES)
            after_comma.append(False)
            if comma and token == "unspecified":
                essential[-1] = False
            comma = False
    n = len(words)
    for i in range(n):
        run = next((r for r in NON_ESSENTIAL_RUNS if tuple(words[i:i + len(r)]) == r), None)
        if run:
            for j in range(i, i + len(run)):
                essential[j] = False
    # ", unspecified organism" at the end (or before a comma): the axis left open
    for i in range(1, n - 1):
        if words[i] == "unspecified" and after_comma[i - 1] and (i + 2 == n or after_comma[i + 1]):
            essential[i + 1] = False
    denied = tuple(i > 0 and words[i - 1] in NEGATIONS
                   and not (words[i - 1] == "not" and w in ("elsewhere", "otherwise"))
                   for i, w in enumerate(words))
    return TermWords(tuple(words), tuple(stem(w) for w in words), tuple(essential), denied,
                     max(1, sum(essential)))


def _word_positions(word: str, literal: bool, term: TermWords) -> dict[int, float]:
    """Where `word` is said in `term`, and how well."""
    found: dict[int, float] = {}
    root = stem(word)
    for i, w in enumerate(term.words):
        if term.denied[i]:
            continue
        if w == word:
            found[i] = EXACT
        elif literal:
            continue
        elif term.stems[i] == root:
            found[i] = STEMMED
        elif len(word) > 1 and w.startswith(word):
            found[i] = PREFIX
    return found


def _alternative_match(alt: Alternative, term: TermWords) -> tuple[float, dict[int, float]]:
    """(weight, positions) of an alternative in a term; weight 0 when a word is missing."""
    positions: dict[int, float] = {}
    for word in alt.words:
        found = _word_positions(word, alt.literal, term)
        if not found:
            return 0.0, {}
        for i, w in found.items():
            positions[i] = max(positions.get(i, 0.0), w)
    return KIND_WEIGHT.get(alt.kind, 1.0), positions


def term_score(query: Query, term: TermWords) -> tuple[int, float]:
    """(slots the term says, coverage of its essential words)."""
    said = 0
    positions: dict[int, float] = {}
    factor = 1.0
    for slot in query.slots:
        best_weight, best = 0.0, {}
        for alt in slot.alternatives:
            weight, found = _alternative_match(alt, term)
            if weight > best_weight:
                best_weight, best = weight, found
        if best_weight:
            said += 1
            factor = min(factor, best_weight)
            for i, w in best.items():
                positions[i] = max(positions.get(i, 0.0), w)
    coverage = min(1.0, sum(positions.values()) / term.size) * factor
    return said, coverage


def concept_key(query: Query, display: str | None, designations: list[str], heading: bool,
                inactive: bool, code: str, score: float) -> tuple[object, ...]:
    """The sort key of a found concept (smaller first)."""
    best = (0, 0.0)
    for i, text in enumerate([display or "", *designations]):
        said, coverage = term_score(query, analyse(text))
        if i:
            coverage *= DESIGNATION_WEIGHT
        if (said, coverage) > best:
            best = (said, coverage)
    said, coverage = best
    return (said < len(query.slots), heading, -round(coverage * COVERAGE_STEPS), inactive,
            len(code), score, code)
