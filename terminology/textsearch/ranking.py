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

import hashlib
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from terminology.textsearch.query import CORRECTED, SYNONYM, Alternative, Query
from terminology.textsearch.words import CONNECTIVES, NEGATIONS, stem
from terminology.textsearch.words import words as split_words

EXACT, STEMMED, PREFIX = 1.0, 0.9, 0.8
KIND_WEIGHT = {SYNONYM: 0.95, CORRECTED: 1.0}
DESIGNATION_WEIGHT = 0.97  # a display saying it as well as a designation comes first
COVERAGE_STEPS = 20
CORE_WORDS = 3  # a term of at most this many essential words has its core indexed
TERMS_KEPT = 4096  # terms kept analysed (analyse); a search reads the analyses stored at import
_TOKEN = re.compile(r"[^\W_]+|[()\[\],;]")
_OPEN, _CLOSE = "([", ")]"
NON_ESSENTIAL_RUNS = (("not", "elsewhere", "classified"), ("not", "otherwise", "specified"))
_RUN_STARTS = frozenset(run[0] for run in NON_ESSENTIAL_RUNS)
_NOT_DENYING = frozenset({"elsewhere", "otherwise", "specified"})  # "not specified" says no less
NON_ESSENTIAL_WEIGHT = 0.5  # a word said only in parentheses counts half


class TermWords(NamedTuple):
    """One term as the ranking reads it (a named tuple: made for every candidate's terms)."""

    words: tuple[str, ...]
    stems: tuple[str, ...]
    essential: tuple[bool, ...]
    denied: tuple[bool, ...]
    size: int  # essential words (at least 1)
    weights: tuple[float, ...]  # what saying each word is worth: 1, or half when not essential


@lru_cache(maxsize=TERMS_KEPT)
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
    for i, word in enumerate(words):
        if word in _RUN_STARTS:
            run = next((r for r in NON_ESSENTIAL_RUNS if tuple(words[i:i + len(r)]) == r), ())
            for j in range(i, i + len(run)):
                essential[j] = False
    # a clause after a comma that leaves an axis open: ", unspecified organism",
    # ", site not specified", ", not specified as acute or chronic"
    for clause in clauses[1:]:
        said = [words[i] for i in clause]
        if said and (said[0] == "unspecified" or _has_run(said, ("not", "specified"))):
            for i in clause:
                essential[i] = False
    denied = (False,) * len(words) if NEGATIONS.isdisjoint(words) else tuple(
        i > 0 and words[i - 1] in NEGATIONS and not (words[i - 1] == "not" and w in _NOT_DENYING)
        for i, w in enumerate(words))
    return TermWords(tuple(words), tuple(map(stem, words)), tuple(essential), denied,
                     max(1, sum(essential)),
                     tuple(1.0 if e else NON_ESSENTIAL_WEIGHT for e in essential))


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


# Terms whose analyses stand for the rules above: when one of them is analysed differently
# (a rule, a word list or the stemmer changed), `analysis_digest` changes and stores made
# before are analysed again (store/schema.py).
ANALYSIS_PROBES = (
    "Type 2 diabetes mellitus without complications", "Non-diabetic hypoglycemia",
    "Hypertension (arterial) (benign) (essential)", "Eczema NOS", "diabetes NOS",
    "Pneumonia, unspecified organism", "Sprain of ankle, site not specified",
    "Bronchitis, not specified as acute or chronic", "Anemia, not elsewhere classified",
    "Pain not otherwise specified", "Fracture [closed] of femur; initial encounter",
    "Walking and running due to injury from fall", "no pain", "not specified", "",
    "Appendectomy number 12", "Fractures of the radii", "abdominal aortic aneurysms",
)


@lru_cache(maxsize=1)
def analysis_digest() -> str:
    """What tells this code's analyses from another's: a digest of the probe terms'."""
    analysed = [analyse.__wrapped__(text) for text in ANALYSIS_PROBES]
    return hashlib.blake2b(repr(analysed).encode(), digest_size=8).hexdigest()


def concept_terms(display: str | None, designations: Iterable[str]) -> list[str]:
    """The terms a concept is ranked by: its display (or ""), then each other designation."""
    terms = [display or ""]
    for text in designations:
        if text not in terms:
            terms.append(text)
    return terms


def encode_terms(texts: Iterable[str]) -> str:
    """What the store keeps of the analyses of a concept's terms (`concept_terms`): for each,
    which words are essential and, when any is, which are denied ("1101/0010"), the terms
    separated by spaces. Words and stems are cheap to take again from the text; these marks
    are what costs (`decode_terms`)."""
    marks = []
    for text in texts:
        term = analyse(text)
        marks.append(_marks(term.essential) + ("/" + _marks(term.denied) if any(term.denied)
                                               else ""))
    return " ".join(marks)


def decode_terms(texts: Sequence[str], stored: str | None) -> list[TermWords]:
    """The analyses of `texts` (`analyse`'s), from the marks `encode_terms` stored for them;
    a text the marks do not fit (None: not stored) is analysed again."""
    marks = stored.split(" ") if stored is not None else []
    out = []
    for i, text in enumerate(texts):
        words = tuple(split_words(text))
        essential, _, denied = marks[i].partition("/") if i < len(marks) else ("", "", "")
        if len(essential) != len(words) or (denied and len(denied) != len(words)):
            out.append(analyse(text))
            continue
        out.append(TermWords(words, tuple(map(stem, words)), _flags(essential),
                             _flags(denied or "0" * len(words)),
                             max(1, essential.count("1")), _weights(essential)))
    return out


def _marks(flags: tuple[bool, ...]) -> str:
    return "".join("1" if flag else "0" for flag in flags)


@lru_cache(maxsize=4096)
def _flags(marks: str) -> tuple[bool, ...]:
    return tuple(mark == "1" for mark in marks)


@lru_cache(maxsize=4096)
def _weights(essential: str) -> tuple[float, ...]:
    return tuple(1.0 if mark == "1" else NON_ESSENTIAL_WEIGHT for mark in essential)


_Word = tuple[str, str, bool, bool]  # the word, its stem, literal, may match a word's start
_Option = tuple[float, tuple[_Word, ...], Alternative]  # (kind's weight, its words, itself)


class Ranker:
    """The ranking of one query: its slots worked out once (stems, weights), then each found
    concept's sort key from its terms. A search puts hundreds of candidates in order, so the
    inner loop over a term's words is kept to comparisons."""

    __slots__ = ("options", "denials", "slots")

    def __init__(self, query: Query) -> None:
        self.slots = len(query.slots)
        self.denials = not query.denies  # a query that says "without" means it
        self.options: tuple[tuple[_Option, ...], ...] = tuple(
            tuple((KIND_WEIGHT.get(alt.kind, 1.0),
                   tuple((w, stem(w), alt.literal, not alt.literal and len(w) > 1)
                         for w in alt.words), alt)
                  for alt in slot.alternatives)
            for slot in query.slots)

    def match(self, term: TermWords) -> tuple[int, float, dict[int, Alternative]]:
        """(slots said, coverage, the alternative said for each slot): each slot by the
        alternative that says the most of the term (`systemic lupus erythematosus` rather than
        `lupus` in "Systemic lupus erythematosus")."""
        chosen: dict[int, Alternative] = {}
        said, coverage = self._score(term, chosen)
        return said, coverage, chosen

    def _score(self, term: TermWords,
               chosen: dict[int, Alternative] | None) -> tuple[int, float]:
        """(slots said, coverage) of `match`, noting in `chosen` (when given) the alternative
        said for each slot. The inner loop of every search: plain loops, no generators."""
        words, stems, weights = term.words, term.stems, term.weights
        denied = term.denied if self.denials else None
        said = 0
        positions: dict[int, float] = {}
        for n, options in enumerate(self.options):
            best_value, best_weight, best = 0.0, 0.0, None
            for weight, option_words, alt in options:
                found = _positions(option_words, words, stems, denied)
                if found is None:
                    continue
                value = 0.0
                for i, v in found.items():
                    value += v * weights[i]
                value *= weight
                if value > best_value:
                    best_value, best_weight, best = value, weight, found
                    if chosen is not None:
                        chosen[n] = alt
            if best is not None:
                said += 1
                for i, v in best.items():
                    v *= best_weight
                    if v > positions.get(i, 0.0):
                        positions[i] = v
        coverage = 0.0
        for i, v in positions.items():
            coverage += v * weights[i]
        return said, min(1.0, coverage / term.size)

    def key(self, terms: Sequence[TermWords], heading: bool, inactive: bool, code: str,
            position: int = 0) -> tuple[object, ...]:
        """The sort key of a found concept (smaller first) from its analysed terms (the display
        first: `concept_terms`); among equals, the shorter code (the broader one), then the
        code system's own order (`position`, the order it was stored in)."""
        said, coverage = self._score(terms[0], None) if terms else (0, 0.0)
        for term in terms[1:]:
            other, covered = self._score(term, None)
            covered *= DESIGNATION_WEIGHT
            if (other, covered) > (said, coverage):
                said, coverage = other, covered
        return (said < self.slots, heading, -round(coverage * COVERAGE_STEPS), inactive,
                len(code), position)


def _positions(option_words: tuple[_Word, ...], words: tuple[str, ...], stems: tuple[str, ...],
               denied: tuple[bool, ...] | None) -> dict[int, float] | None:
    """Where the term says every word of an alternative, and how well (the best way each
    position says one: as itself, by its stem, as the start of the word); None when one word
    is not said. A denied word (`denied`) is not said."""
    found: dict[int, float] = {}
    for word, root, literal, prefixable in option_words:
        hit = False
        for i, w in enumerate(words):
            if w == word:
                value = EXACT
            elif literal:
                continue
            elif stems[i] == root:
                value = STEMMED
            elif prefixable and w.startswith(word):
                value = PREFIX
            else:
                continue
            if denied is not None and denied[i]:
                continue
            hit = True
            if value > found.get(i, 0.0):
                found[i] = value
        if not hit:
            return None
    return found


def term_score(query: Query, term: TermWords) -> tuple[int, float]:
    """(slots the term says, coverage of its essential words)."""
    said, coverage, _ = Ranker(query).match(term)
    return said, coverage


def said_alternatives(query: Query, texts: list[str]) -> dict[int, Alternative]:
    """For each slot, the alternative that the concept's best term says (for the top hit of a
    corrected query: the correction it stands for)."""
    ranker = Ranker(query)
    best: tuple[int, float, dict[int, Alternative]] = (0, 0.0, {})
    for text in texts:
        found = ranker.match(analyse(text))
        if found[:2] > best[:2]:
            best = found
    return best[2]


def concept_key(query: Query, display: str | None, designations: list[str], heading: bool,
                inactive: bool, code: str, position: int = 0) -> tuple[object, ...]:
    """The sort key of a found concept (Ranker.key), for one concept."""
    terms = [analyse(text) for text in concept_terms(display, designations)]
    return Ranker(query).key(terms, heading, inactive, code, position)
