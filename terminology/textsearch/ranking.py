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
(in steps of 5%), then active before inactive, the broader (shorter) code first.
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
CORE_WORDS = 3  # a term of at most this many essential words has its core indexed
_TOKEN = re.compile(r"[^\W_]+|[()\[\],;]")
_OPEN, _CLOSE = "([", ")]"
NON_ESSENTIAL_RUNS = (("not", "elsewhere", "classified"), ("not", "otherwise", "specified"))
_NOT_DENYING = frozenset({"elsewhere", "otherwise", "specified"})  # "not specified" says no less
NON_ESSENTIAL_WEIGHT = 0.5  # a word said only in parentheses counts half


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
    clauses: list[list[int]] = [[]]  # word positions of each part between commas
    depth = 0
    for token in _TOKEN.findall(text.casefold()):
        if token in _OPEN:
            depth += 1
        elif token in _CLOSE:
            depth = max(0, depth - 1)
        elif token in ",;":
            clauses.append([])
        else:
            clauses[-1].append(len(words))
            words.append(token)
            essential.append(depth == 0 and token not in CONNECTIVES)
    for i in range(len(words)):
        run = next((r for r in NON_ESSENTIAL_RUNS if tuple(words[i:i + len(r)]) == r), None)
        for j in range(i, i + len(run) if run else i):
            essential[j] = False
    # a clause after a comma that leaves an axis open: ", unspecified organism",
    # ", site not specified", ", not specified as acute or chronic"
    for clause in clauses[1:]:
        said = [words[i] for i in clause]
        if said and (said[0] == "unspecified" or _has_run(said, ("not", "specified"))):
            for i in clause:
                essential[i] = False
    denied = tuple(i > 0 and words[i - 1] in NEGATIONS and not (words[i - 1] == "not" and w in _NOT_DENYING)
                   for i, w in enumerate(words))
    return TermWords(tuple(words), tuple(stem(w) for w in words), tuple(essential), denied,
                     max(1, sum(essential)))


def core_words(text: str) -> list[str]:
    """The essential words of a short term (at most CORE_WORDS of them) and their stems, for
    the index's `core` column: `diabetes NOS` -> diabetes, diabet. [] for a longer term."""
    term = analyse(text)
    kept = [w for w, e in zip(term.words, term.essential) if e]
    if not kept or len(kept) > CORE_WORDS:
        return []
    return kept + [s for w, s in zip(term.words, term.stems) if s != w and s not in kept]


def _has_run(words: list[str], run: tuple[str, ...]) -> bool:
    return any(tuple(words[i:i + len(run)]) == run for i in range(len(words)))


def _word_positions(word: str, literal: bool, term: TermWords,
                    denials: bool) -> dict[int, float]:
    """Where `word` is said in `term`, and how well (`denials`: a denied word is not said)."""
    found: dict[int, float] = {}
    root = stem(word)
    for i, w in enumerate(term.words):
        if denials and term.denied[i]:
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


def _alternative_match(alt: Alternative, term: TermWords,
                       denials: bool) -> tuple[float, dict[int, float]]:
    """(weight, positions) of an alternative in a term; weight 0 when a word is missing."""
    positions: dict[int, float] = {}
    for word in alt.words:
        found = _word_positions(word, alt.literal, term, denials)
        if not found:
            return 0.0, {}
        for i, w in found.items():
            positions[i] = max(positions.get(i, 0.0), w)
    return KIND_WEIGHT.get(alt.kind, 1.0), positions


def term_score(query: Query, term: TermWords) -> tuple[int, float]:
    """(slots the term says, coverage of its essential words)."""
    said, coverage, _ = _term_match(query, term)
    return said, coverage


def said_alternatives(query: Query, texts: list[str]) -> dict[int, Alternative]:
    """For each slot, the alternative that the concept's best term says (for the top hit of a
    corrected query: the correction it stands for)."""
    best: tuple[int, float, dict[int, Alternative]] = (0, 0.0, {})
    for text in texts:
        found = _term_match(query, analyse(text))
        if found[:2] > best[:2]:
            best = found
    return best[2]


def _term_match(query: Query, term: TermWords) -> tuple[int, float, dict[int, Alternative]]:
    """(slots said, coverage, the alternative said for each slot): each slot by the
    alternative that says the most of the term (`systemic lupus erythematosus` rather than
    `lupus` in "Systemic lupus erythematosus")."""
    said = 0
    chosen: dict[int, Alternative] = {}
    positions: dict[int, float] = {}
    denials = not query.denies
    for n, slot in enumerate(query.slots):
        best_value, best = 0.0, {}
        for alt in slot.alternatives:
            weight, found = _alternative_match(alt, term, denials)
            value = weight * _said(term, found)
            if value > best_value:
                best_value, chosen[n] = value, alt
                best = {i: w * weight for i, w in found.items()}
        if best_value:
            said += 1
            for i, w in best.items():
                positions[i] = max(positions.get(i, 0.0), w)
    return said, min(1.0, _said(term, positions) / term.size), chosen


def _said(term: TermWords, positions: dict[int, float]) -> float:
    """How much of the term the matched positions say (a non-essential word counts half)."""
    return sum(w if term.essential[i] else w * NON_ESSENTIAL_WEIGHT for i, w in positions.items())


def concept_key(query: Query, display: str | None, designations: list[str], heading: bool,
                inactive: bool, code: str, position: int = 0) -> tuple[object, ...]:
    """The sort key of a found concept (smaller first); among equals, the shorter code (the
    broader one), then the code system's own order (`position`, the order it was stored in)."""
    best = (0, 0.0)
    for i, text in enumerate([display or "", *designations]):
        said, coverage = term_score(query, analyse(text))
        if i:
            coverage *= DESIGNATION_WEIGHT
        best = max(best, (said, coverage))
    said, coverage = best
    return (said < len(query.slots), heading, -round(coverage * COVERAGE_STEPS), inactive,
            len(code), position)
